"""A monitor submits a web page and a WARC archive in the console (issue 18, finding 4), not
only through the API: each job page shows what was submitted and where it was seen, counts
done and failed items, and its bar says when every item failed; a line that is no URL is
refused on the form, before anything is queued. Against a real HTTP server on 127.0.0.1
(the test enables private-network fetching for it)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.core.tables.jobs import Job
from tests.console.test_brand_monitor_admin import drain, person
from tests.support.console import ConsoleWorld, console_world
from tests.support.crawl import WarcBuilder
from tests.support.fakes import face_photo
from tests.support.service import local_server

ADA = 7  # the fake analyser's identity of Ada Lovelace (tests/support/console.py)
ONCE = re.compile(
    r'action="/console/submissions(/page|/warc)?".*?name="once" value="([^"]+)"', re.S
)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path, fetch_allow_private_networks=True) as built:
        yield built


def _tokens(client: TestClient, form: str) -> dict[str, str]:
    """The csrf and one-time tokens of one of the three forms ("", "/page", "/warc")."""
    html = client.get("/console/submissions").text
    csrf = CSRF.search(html)
    once = {path: token for path, token in ONCE.findall(html)}
    assert csrf is not None and form in once
    return {"csrf": csrf.group(1), "once": once[form]}


def _jobs(world: ConsoleWorld) -> int:
    with world.ctx.db.session() as session:
        return session.query(Job).count()


def test_a_monitor_scans_a_web_page_from_the_console(world: ConsoleWorld) -> None:
    volunteer = person(world, "monitor")
    with local_server() as server:
        page = server.url("/look/7")
        server.responses["/look/7"] = (
            200,
            "text/html; charset=utf-8",
            b'<html><body><img src="/ada.png"><img src="/gone.png"></body></html>',
        )
        server.responses["/ada.png"] = (
            200,
            "image/png",
            face_photo([(ADA, 90)], size=130, seed=61),
        )
        response = volunteer.post(
            "/console/submissions/page",
            data={**_tokens(volunteer, "/page"), "page_url": page, "channel": "social"},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        job_page = response.headers["location"]
        drain(world)
    html = volunteer.get(job_page).text
    assert f"<dd>{page}</dd>" in html and "<dd>social media</dd>" in html
    progress = volunteer.get(f"{job_page}/progress.json").json()
    assert progress["total"] == 1 and progress["done"] == 1 and progress["outcome"] == "ok"
    assert progress["items"][0]["name"] == server.url("/ada.png")
    assert progress["items"][0]["alert"] == "raised"
    assert 'data-outcome="ok"' in html
    # the counts people read, and every code in words (service/jobs/labels.py)
    assert progress["raised"] == 1 and progress["updated"] == 0
    assert progress["status_label"] == "finished"
    assert progress["items"][0]["status_label"] == "scanned"
    assert progress["items"][0]["alert_label"] == "raised an alert"
    assert '<span id="count-done">1</span> scanned' in html
    assert '<span id="count-raised">1</span> raised' in html
    assert '<span id="job-status">finished</span>' in html
    assert "<td>scanned</td>" in html and "<td>raised an alert</td>" in html


def test_a_monitor_scans_a_warc_archive_from_the_console(
    world: ConsoleWorld, tmp_path: Path
) -> None:
    builder = WarcBuilder()
    builder.html("https://shop.example/look/1", "<img src='/a.png'>", date="2026-11-01T10:00:00Z")
    builder.image(
        "https://cdn.shop.example/a.png",
        face_photo([(ADA, 90)], size=130, seed=62),
        date="2026-11-01T10:00:02Z",
        referer="https://shop.example/look/1",
        content_type="image/png",
    )
    builder.garbage()
    archive = builder.write(tmp_path / "crawl.warc.gz").read_bytes()
    volunteer = person(world, "monitor")
    response = volunteer.post(
        "/console/submissions/warc",
        data={**_tokens(volunteer, "/warc"), "territory": "FR"},
        files={"archive": ("crawl.warc.gz", archive, "application/warc")},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    job_page = response.headers["location"]
    drain(world)
    html = volunteer.get(job_page).text
    assert "https://cdn.shop.example/a.png" in html and "<dd>France (FR)</dd>" in html
    assert "Archive records skipped (1)" in html
    assert "malformed_record" not in html  # the reason in words, never its code
    progress = volunteer.get(f"{job_page}/progress.json").json()
    assert progress["done"] == 1 and progress["items"][0]["alert"] == "raised"


def test_a_batch_where_every_item_failed_says_so_in_words_and_colour(
    world: ConsoleWorld,
) -> None:
    volunteer = person(world, "monitor")
    response = volunteer.post(
        "/console/submissions",
        data={
            **_tokens(volunteer, ""),
            "urls": "http://127.0.0.1:9/a.jpg\nhttp://127.0.0.1:9/b.jpg",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    drain(world)
    progress = volunteer.get(f"{response.headers['location']}/progress.json").json()
    assert progress["failed"] == 2 and progress["outcome"] == "failed"
    html = volunteer.get(response.headers["location"]).text
    assert 'data-outcome="failed"' in html and "every item failed" in html
    assert 'id="job-all-failed" class="problem" hidden' not in html
    assert html.count("<td>could not be scanned: ") == 2, html


@pytest.mark.parametrize(
    ("form", "data", "code"),
    [
        ("", {"urls": "https://cdn.example/a.jpg\nnot a url"}, "url_scheme_not_allowed"),
        ("", {"urls": "https://"}, "url_invalid"),
        ("", {"urls": "ftp://cdn.example/a.jpg"}, "url_scheme_not_allowed"),
        ("/page", {"page_url": ""}, "invalid_request"),
        ("/page", {"page_url": "javascript:alert(1)"}, "url_"),  # invalid or scheme refused
        ("/warc", {}, "invalid_request"),
    ],
)
def test_what_no_fetch_could_use_is_refused_on_the_form_before_anything_is_queued(
    world: ConsoleWorld, form: str, data: dict[str, str], code: str
) -> None:
    volunteer = person(world, "monitor")
    response = volunteer.post(
        f"/console/submissions{form}", data={**_tokens(volunteer, form), **data}
    )
    assert response.status_code == 422, response.text
    problem = re.search(r'id="submission-problem">.*?\((\w+)\)</span>', response.text)
    assert problem is not None and problem.group(1).startswith(code), response.text
    assert _jobs(world) == 0


def test_the_api_refuses_a_batch_url_that_is_no_url_before_queueing(world: ConsoleWorld) -> None:
    response = world.client.post(
        "/v1/scan-jobs",
        data={"urls": ["https://cdn.example/a.jpg", "not a url"]},
        headers={"Authorization": f"Bearer {world.keys['monitor']}"},
    )
    assert (
        response.status_code == 422 and response.json()["error"]["code"] == "url_scheme_not_allowed"
    )
    assert _jobs(world) == 0
