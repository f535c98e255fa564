"""Issue 17, hostile crawl input: a hostile record costs only itself.

- JSON nested past the bound (``"[" * 50000``) never reaches Python's recursive decoder: a
  page's JSON-LD block is ignored (its other images count), a manifest is 422
  ``manifest_invalid``; markup the HTML parser refuses is 422 ``page_unreadable`` for a page
  job and a ``skipped`` record in a WARC, whose other records go on.
- A page URL is an http(s) URL: scans, pre-checks, page jobs and manifests refuse the rest;
  a crawled Referer that is not one means no page; the console links only http(s) URLs,
  whatever the database holds.
- WARC records for non-http(s) target URIs (``file:``, ``javascript:``) are listed under
  ``skipped``, not lost.

Through real HTTP (the app on a temp database with the fake analyser; pages served from
127.0.0.1) and, for ``twinwatch scan-warc``, the CLI on the real model pack.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from indexer.engine import FaceEngine
from service import cli as service_cli
from service.core.tables.alerts import Alert
from service.crawl.html import ImageHint, page_images
from service.jobs.worker import JobWorker
from service.licensing.publishers import web_url
from service.rules.json_depth import MAX_JSON_DEPTH, JsonTooDeepError, loads_bounded
from tests.conftest import MODEL_CACHE
from tests.support.agency import bearer, signed_in
from tests.support.console import ConsoleWorld, console_world
from tests.support.crawl import WarcBuilder
from tests.support.fakes import face_photo
from tests.support.service import local_server

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`

DEEP = "[" * 50_000 + "]" * 50_000
SHOP_PAGE = "https://shop.example.com/look/12"
CDN_A = "https://cdn.shop.example.com/img/a.jpg"
IMG_B = "https://img.gallery.example.net/b.jpg"
LONE = "https://lone.example.org/c.jpg"
BROKEN_PAGE = "https://broken.example.com/p"
NOT_WEB = ["file:///etc/passwd.jpg", "javascript:alert(1)"]
HOSTILE_PAGE_URLS = [
    ("javascript:alert(document.cookie)", "url_scheme_not_allowed"),
    ("JavaScript://shop.example/%0Aalert(1)", "url_scheme_not_allowed"),
    ("data:text/html,<script>alert(1)</script>", "url_scheme_not_allowed"),
    ("file:///etc/passwd", "url_scheme_not_allowed"),
    ("ftp://shop.example/p/1", "url_scheme_not_allowed"),
    ("shop.example/p/1", "url_invalid"),  # no scheme: not a link anyone can follow
]


def image(seed: int = 3) -> bytes:
    return face_photo([(7, 90)], size=130, seed=seed)


def hostile_archive(path: Path) -> Path:
    """A crawl with a page whose JSON-LD is nested 50,000 deep (its <img> still links), a
    page the HTML parser refuses, image records for file: and javascript: URIs, images whose
    Referers are javascript: and data: URLs, and the crawler's own DNS lookup."""
    warc = WarcBuilder()
    dns = warc.writer.create_warc_record(
        "dns:shop.example.com",
        "response",
        payload=io.BytesIO(b"20261101100000\nshop.example.com. 300 IN A 192.0.2.1\n"),
        warc_content_type="text/dns",
    )
    warc.writer.write_record(dns)
    warc.html(
        SHOP_PAGE,
        f'<html><script type="application/ld+json">{DEEP}</script>'
        f'<body><img src="{CDN_A}"></body></html>',
        date="2026-11-01T10:00:00Z",
    )
    warc.image(CDN_A, image(3), date="2026-11-01T10:00:02Z")
    warc.html(BROKEN_PAGE, f'<html><![x <img src="{LONE}">', date="2026-11-01T10:00:03Z")
    for uri in NOT_WEB:
        warc.image(uri, image(4), date="2026-11-01T10:00:04Z")
    warc.image(
        IMG_B,
        image(5),
        date="2026-11-02T08:30:00Z",
        referer="javascript://gallery.example.net/%0Aalert(1)",
    )
    warc.image(LONE, image(6), date="2026-11-03T12:00:00Z", referer="data:text/html,hi")
    return warc.write(path)


EXPECTED_IMAGES = [(CDN_A, SHOP_PAGE), (IMG_B, None), (LONE, None)]
EXPECTED_SKIPPED = [
    (BROKEN_PAGE, "page_unreadable"),
    (NOT_WEB[0], "uri_scheme_unsupported"),
    (NOT_WEB[1], "uri_scheme_unsupported"),
]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path, fetch_allow_private_networks=True) as built:
        yield built


def drain(world: ConsoleWorld) -> None:
    worker = JobWorker(world.ctx, name="hostile-crawl-test")

    async def run() -> None:
        while await worker.run_once():
            pass

    asyncio.run(run())


def job(world: ConsoleWorld, job_id: int) -> dict[str, Any]:
    answer = world.client.get(f"/v1/jobs/{job_id}", headers=bearer(world, "monitor"))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def assert_error(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == code, error
    return error


# --- the rules -----------------------------------------------------------------------------
def test_json_nested_past_the_bound_is_refused_before_it_is_decoded() -> None:
    at_bound = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert loads_bounded(at_bound) is not None
    for too_deep in ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), DEEP, "{" * 10**6):
        with pytest.raises(JsonTooDeepError):
            loads_bounded(too_deep)
    # brackets inside strings are text, not nesting
    assert loads_bounded(json.dumps({"a": "[" * 1000, "b": ['\\"[' * 100]})) == {
        "a": "[" * 1000,
        "b": ['\\"[' * 100],
    }


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("https://shop.example/p/1", "https://shop.example/p/1"),
        (" HTTP://Shop.Example/p ", "HTTP://Shop.Example/p"),
        ("javascript:alert(1)", None),
        ("javascript://shop.example/%0Aalert(1)", None),
        ("data:text/html,x", None),
        ("file://host/etc/passwd", None),
        ("//shop.example/p", None),
        ("shop.example/p", None),
        ("https://", None),
        ("https://[::1", None),
        (None, None),
    ],
)
def test_a_page_url_is_an_http_url_naming_a_host(text: str | None, kept: str | None) -> None:
    assert web_url(text) == kept


def test_a_too_deep_json_ld_block_is_ignored_and_the_pages_other_images_count() -> None:
    html = f"""<html><head>
      <script type="application/ld+json">{DEEP}</script>
      <script type="application/ld+json">{{"a": {DEEP}, "image": "/deep-sibling.jpg"}}</script>
      <script type="application/ld+json">{{"image": "/ld.jpg"}}</script></head>
      <body><img src="/a.jpg"></body></html>"""
    found = page_images(html, page_url="https://shop.example.com/p/1", limit=10)
    assert [(i.url, i.found_in) for i in found] == [
        ("https://shop.example.com/a.jpg", ImageHint.IMG),
        ("https://shop.example.com/ld.jpg", ImageHint.JSON_LD),
    ]


def test_deeply_nested_pictures_are_read_in_one_linear_pass() -> None:
    html = "<picture>" * 8000 + '<source srcset="/p.webp 800w"><img src="/p.jpg">'
    started = time.perf_counter()
    found = page_images(html, page_url="https://shop.example.com/", limit=10)
    elapsed = time.perf_counter() - started
    assert [i.url for i in found] == ["https://shop.example.com/p.webp"]
    assert elapsed < 10, f"{elapsed:.1f} s"  # quadratic, it took over 25 s


# --- page jobs -----------------------------------------------------------------------------
def test_page_job_ignores_a_too_deep_json_ld_block_and_scans_the_pages_other_images(
    world: ConsoleWorld,
) -> None:
    with local_server() as server:
        server.responses["/look"] = (
            200,
            "text/html; charset=utf-8",
            f"""<html><head><script type="application/ld+json">{DEEP}</script>
            <meta property="og:image" content="/og.png"></head>
            <body><img src="/a.png"></body></html>""".encode(),
        )
        server.responses["/og.png"] = (200, "image/png", image(3))
        server.responses["/a.png"] = (200, "image/png", image(4))
        created = world.client.post(
            "/v1/page-jobs",
            data={"page_url": server.url("/look"), "channel": "social"},
            headers=bearer(world, "monitor"),
        )
    assert created.status_code == 202, created.text
    body = created.json()
    assert [i["name"] for i in body["items"]] == [server.url("/og.png"), server.url("/a.png")]
    drain(world)
    assert job(world, body["id"])["status"] == "done"


def test_page_job_on_markup_the_parser_refuses_is_422_page_unreadable(
    world: ConsoleWorld,
) -> None:
    with local_server() as server:
        server.responses["/broken"] = (200, "text/html", b'<html><![x <img src="/a.png">')
        answer = world.client.post(
            "/v1/page-jobs",
            data={"page_url": server.url("/broken")},
            headers=bearer(world, "monitor"),
        )
    assert_error(answer, 422, "page_unreadable")


# --- WARC archives -------------------------------------------------------------------------
def test_warc_job_lists_hostile_records_under_skipped_and_queues_the_rest(
    world: ConsoleWorld, tmp_path: Path
) -> None:
    archive = hostile_archive(tmp_path / "hostile.warc.gz")
    created = world.client.post(
        "/v1/warc-jobs",
        files={"file": ("hostile.warc.gz", archive.read_bytes())},
        data={"channel": "ecommerce"},
        headers=bearer(world, "monitor"),
    )
    assert created.status_code == 202, created.text
    body = created.json()
    assert [
        (i["name"], (i["context"] or {}).get("page_url")) for i in body["items"]
    ] == EXPECTED_IMAGES
    assert [(s["uri"], s["reason"]) for s in body["skipped"]] == EXPECTED_SKIPPED
    drain(world)
    done = job(world, body["id"])
    assert done["status"] == "done"
    assert [i["status"] for i in done["items"]] == ["done"] * 3


@pytest.mark.model
def test_scan_warc_lists_hostile_records_under_skipped_and_scans_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_engine: FaceEngine
) -> None:
    monkeypatch.setenv("TWINWATCH_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TWINWATCH_MODEL_CACHE_DIR", str(MODEL_CACHE))
    archive = hostile_archive(tmp_path / "hostile.warc.gz")
    result = CliRunner().invoke(service_cli.app, ["scan-warc", str(archive), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert [(i["uri"], i["page_url"]) for i in report["images"]] == EXPECTED_IMAGES
    assert all("error" not in i for i in report["images"])
    assert [(s["uri"], s["reason"]) for s in report["skipped"]] == EXPECTED_SKIPPED


# --- manifests -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "manifest",
    [DEEP, '{"a.png": {"page_url": ' + DEEP + "}}"],
    ids=["bare", "inside-an-entry"],
)
def test_a_manifest_nested_too_deep_is_422_manifest_invalid(
    world: ConsoleWorld, manifest: str
) -> None:
    for parts in (
        {"files": [("files", ("a.png", image())), ("manifest", ("m.json", manifest.encode()))]},
        {"files": [("files", ("a.png", image()))], "data": {"manifest": manifest}},
    ):
        answer = world.client.post("/v1/scan-jobs", headers=bearer(world, "monitor"), **parts)
        error = assert_error(answer, 422, "manifest_invalid")
        assert error["details"]["max_depth"] == MAX_JSON_DEPTH


# --- page URLs from outside ----------------------------------------------------------------
@pytest.mark.parametrize(("page_url", "code"), HOSTILE_PAGE_URLS)
def test_page_urls_other_than_http_are_refused_everywhere_they_are_stated(
    world: ConsoleWorld, page_url: str, code: str
) -> None:
    monitor, brand = bearer(world, "monitor"), bearer(world, "brand")
    answers = {
        "scan": world.client.post(
            "/v1/scans",
            headers=monitor,
            files={"file": ("seen.png", image())},
            data={"page_url": page_url, "publisher": "shop.example"},
        ),
        "precheck": world.client.post(
            "/v1/prechecks",
            headers=brand,
            files={"file": ("asset.png", image())},
            data={
                "page_url": page_url,
                "publisher": "shop.example",
                "channel": "social",
                "territory": "FR",
            },
        ),
        "page job": world.client.post(
            "/v1/page-jobs", headers=monitor, data={"page_url": page_url}
        ),
        "scan job": world.client.post(
            "/v1/scan-jobs",
            headers=monitor,
            files={"files": ("a.png", image())},
            data={"page_url": page_url},
        ),
        "manifest": world.client.post(
            "/v1/scan-jobs",
            headers=monitor,
            files={"files": ("a.png", image())},
            data={"manifest": json.dumps({"a.png": {"page_url": page_url}})},
        ),
    }
    for where, answer in answers.items():
        assert (answer.status_code, answer.json()["error"]["code"]) == (422, code), answer.text
        assert answer.json()["error"]["details"]["field"] == "page_url", where
    assert world.alert_ids() == []  # nothing was recorded


# --- the console ---------------------------------------------------------------------------
def test_a_javascript_page_url_in_the_database_is_shown_as_text_not_as_a_link(
    world: ConsoleWorld,
) -> None:
    world.scan(7, page="/look/12")
    [alert_id] = world.alert_ids()
    booker = signed_in(world, "agency")
    pages = ("/console/alerts", f"/console/alerts/{alert_id}/review")
    for path in pages:  # an http(s) page URL is a link
        html = booker.get(path).text
        assert 'href="https://shop.example/look/12"' in html, path
    hostile = "javascript:alert(document.cookie)"
    with world.ctx.db.session() as session:  # stored before page URLs were checked
        session.execute(update(Alert).where(Alert.id == alert_id).values(page_url=hostile))
    for path in pages:
        answer = booker.get(path)
        assert answer.status_code == 200, path
        assert f"<dd>{hostile}</dd>" in answer.text, path
        assert 'href="javascript:' not in answer.text.lower(), path
