"""A monitor creates, pauses, resumes and runs a watch in the console (issue 19), with the
same scoping as the API: another tenant's watch is not found, a bad address is refused on
the form, and a form sent twice creates one watch."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.core.tables.watches import Watch, WatchRun
from tests.console.test_brand_monitor_admin import person
from tests.support.console import ConsoleWorld, console_world

ONCE = re.compile(r'action="/console/watches".*?name="once" value="([^"]+)"', re.S)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path) as built:
        yield built


def _form(client: TestClient) -> dict[str, str]:
    html = client.get("/console/watches").text
    csrf, once = CSRF.search(html), ONCE.search(html)
    assert csrf is not None and once is not None
    return {"csrf": csrf.group(1), "once": once.group(1)}


def _count(world: ConsoleWorld, table: type) -> int:
    with world.ctx.db.session() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_a_monitor_creates_pauses_and_runs_a_watch_once_per_form(world: ConsoleWorld) -> None:
    volunteer = person(world, "monitor")
    form = {
        **_form(volunteer),
        "url": "https://shop.example.com/sitemap.xml",
        "kind": "sitemap",
        "every_hours": "12",
        "channel": "ecommerce",
        "territory": "FR",
    }
    made = volunteer.post("/console/watches", data=form, follow_redirects=False)
    again = volunteer.post("/console/watches", data=form, follow_redirects=False)
    assert made.status_code == again.status_code == 303
    assert made.headers["location"] == again.headers["location"]
    assert _count(world, Watch) == 1
    page = volunteer.get(made.headers["location"])
    assert "https://shop.example.com/sitemap.xml" in page.text and "12 h" in page.text
    csrf = CSRF.search(page.text)
    assert csrf is not None
    paused = volunteer.post(
        made.headers["location"] + "/pause", data={"csrf": csrf.group(1), "paused": "1"}
    )
    assert "paused" in paused.text and "Resume" in paused.text
    volunteer.post(made.headers["location"] + "/run", data={"csrf": csrf.group(1)})
    volunteer.post(made.headers["location"] + "/run", data={"csrf": csrf.group(1)})
    assert _count(world, WatchRun) == 1  # a run already queued is not queued twice
    listing = volunteer.get("/console/watches").text
    assert "sitemap: https://shop.example.com/sitemap.xml" in listing


def test_a_bad_address_is_refused_on_the_form_and_others_see_nothing(
    world: ConsoleWorld,
) -> None:
    volunteer = person(world, "monitor")
    refused = volunteer.post(
        "/console/watches", data={**_form(volunteer), "url": "javascript:alert(1)"}
    )
    assert refused.status_code in (400, 422) and 'id="watch-problem"' in refused.text
    assert _count(world, Watch) == 0
    made = volunteer.post(
        "/console/watches",
        data={**_form(volunteer), "url": "https://a.example/", "kind": "page"},
        follow_redirects=False,
    )
    booker = person(world, "agency")
    assert booker.get(made.headers["location"]).status_code == 404
    assert "No watches yet." in booker.get("/console/watches").text
    assert person(world, "brand").get("/console/watches").status_code == 403
