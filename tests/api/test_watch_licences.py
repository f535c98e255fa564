"""Issue 19, uses that outlive their licence: the agency watches the pages where a licence's
sightings were seen once it ended; a use still online raises an alert saying "licence N ended
on <date>; still published at <url>". A real site on 127.0.0.1, the fake analyser."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from indexer.db import utcnow
from service.context import AppContext
from service.core.tables.licensing import UsageEvent
from service.crawl.runner import WatchRunner
from service.jobs.worker import JobWorker
from tests.console.test_brand_monitor_admin import person
from tests.support.console import ConsoleWorld, console_world
from tests.support.fakes import face_photo
from tests.support.sites import Site, local_site

pytestmark = pytest.mark.postgres
ADA = 7  # the fake analyser's identity of Ada Lovelace (tests/support/console.py)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path) as built:
        yield built


def auth(world: ConsoleWorld, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.keys[who]}"}


def crawl_ctx(world: ConsoleWorld, site: Site) -> AppContext:
    update = {"fetch_private_hosts": [site.host], "crawl_min_delay_s": 0.0}
    return dataclasses.replace(world.ctx, settings=world.ctx.settings.model_copy(update=update))


async def _everything(ctx: AppContext) -> None:
    runner = WatchRunner(ctx, name="licence-test")
    while await runner.run_once():
        pass
    worker = JobWorker(ctx, name="licence-scans")
    while await worker.run_once():
        pass
    await runner.run_once()


def _licensed_sighting(world: ConsoleWorld, page: str, photo: bytes) -> int:
    made = world.client.post(
        f"/v1/talents/{world.talents['Ada Lovelace']}/licences",
        headers=auth(world, "agency"),
        json={
            "licensee": "Maison Verte",
            "publishers": ["127.0.0.1"],
            "media": ["photo"],
            "valid_from": (utcnow() - timedelta(days=400)).isoformat(),
        },
    )
    assert made.status_code == 201, made.text
    licence_id: int = made.json()["id"]
    seen = world.client.post(
        "/v1/scans",
        headers=auth(world, "monitor"),
        files={"file": ("seen.png", photo)},
        data={"page_url": page, "observed_at": (utcnow() - timedelta(days=10)).isoformat()},
    )
    assert seen.status_code == 201, seen.text
    with world.ctx.db.session() as session:  # a licensed use, on the ledger
        assert session.scalar(select(func.count()).select_from(UsageEvent)) == 1
    return licence_id


def _alerts(world: ConsoleWorld) -> list[dict[str, Any]]:
    answer = world.client.get("/v1/alerts", headers=auth(world, "agency"))
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_a_use_still_published_after_the_licence_ended_raises_a_still_published_alert(
    world: ConsoleWorld,
) -> None:
    photo = face_photo([(ADA, 90)], size=130, seed=5)
    with local_site() as site:
        page = site.url("/look/1")
        site.html("/look/1", '<img src="/ada.png">')
        site.pages["/ada.png"] = ("image/png", photo)
        licence_id = _licensed_sighting(world, page, photo)
        early = world.client.post(f"/v1/licences/{licence_id}/watch", headers=auth(world, "agency"))
        assert early.status_code == 422 and early.json()["error"]["code"] == "licence_not_ended"
        revoked = world.client.post(
            f"/v1/licences/{licence_id}/revoke",
            headers=auth(world, "agency"),
            json={"reason": "campaign over"},
        )
        assert revoked.status_code == 200, revoked.text
        other = world.client.post(
            f"/v1/licences/{licence_id}/watch", headers=auth(world, "other_agency")
        )
        assert other.status_code == 404
        watched = world.client.post(
            f"/v1/licences/{licence_id}/watch", headers=auth(world, "agency")
        )
        again = world.client.post(f"/v1/licences/{licence_id}/watch", headers=auth(world, "agency"))
        assert watched.status_code == 201, watched.text
        assert [w["url"] for w in watched.json()] == [page] == [w["url"] for w in again.json()]
        asyncio.run(_everything(crawl_ctx(world, site)))
    ended = revoked.json()["revoked_at"][:10]
    notes = [r for alert in _alerts(world) for r in alert.get("reasons", [])]
    assert f"licence {licence_id} ended on {ended}; still published at {page}" in notes, notes
    mine = world.client.get("/v1/watches", headers=auth(world, "agency")).json()
    assert mine["total"] == 1 and mine["items"][0]["licence_id"] == licence_id
    assert world.client.get("/v1/watches", headers=auth(world, "monitor")).json()["total"] == 0


def test_with_the_setting_on_every_ended_licence_is_watched_without_asking(
    world: ConsoleWorld,
) -> None:
    photo = face_photo([(ADA, 90)], size=130, seed=6)
    with local_site() as site:
        page = site.url("/look/2")
        site.html("/look/2", '<img src="/gone.png">')  # the image was taken down: no alert
        licence_id = _licensed_sighting(world, page, photo)
        world.client.post(
            f"/v1/licences/{licence_id}/revoke", headers=auth(world, "agency"), json={"reason": "x"}
        )
        ctx = crawl_ctx(world, site)
        auto = dataclasses.replace(
            ctx, settings=ctx.settings.model_copy(update={"watch_ended_licences": True})
        )
        asyncio.run(_everything(auto))
        asyncio.run(_everything(auto))  # a second turn makes no second watch
    mine = world.client.get("/v1/watches", headers=auth(world, "agency")).json()
    assert [(w["url"], w["licence_id"]) for w in mine["items"]] == [(page, licence_id)]
    assert mine["items"][0]["last_run"]["status"] == "done"
    assert not any(
        "still published" in reason for a in _alerts(world) for reason in a.get("reasons", [])
    )


def test_one_click_from_the_ended_licence_in_the_console(world: ConsoleWorld) -> None:
    photo = face_photo([(ADA, 90)], size=130, seed=7)
    licence_id = _licensed_sighting(world, "https://127.0.0.1/look/3", photo)
    booker = person(world, "agency")
    assert 'id="watch-licence"' not in booker.get(f"/console/licences/{licence_id}").text
    world.client.post(
        f"/v1/licences/{licence_id}/revoke", headers=auth(world, "agency"), json={"reason": "x"}
    )
    shown = booker.get(f"/console/licences/{licence_id}").text
    assert 'id="watch-licence"' in shown
    csrf = re.search(r'name="csrf" value="([^"]+)"', shown)
    assert csrf is not None
    done = booker.post(f"/console/licences/{licence_id}/watch", data={"csrf": csrf.group(1)})
    assert done.status_code == 200 and "https://127.0.0.1/look/3" in done.text
