"""Issue 19, watches: a monitor's watches crawled politely by the workers, on real HTTP.

Every site is a real server on 127.0.0.1 (tests/support/sites.py) that logs each request;
the test lets fetches reach private addresses for that server's host:port only
(``fetch_private_hosts``), with short politeness delays. Runs go the way they go in
production: the watch loop queues and crawls, the job workers scan, the watch loop closes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from indexer.db import bump_revisions
from indexer.engine import FaceEngine
from service.context import AppContext
from service.core.tables.jobs import JobItem
from service.core.tables.scanning import Scan
from service.core.tables.watches import WatchRun
from service.crawl.runner import WatchRunner
from service.crawl.watches import claim_next_run, next_slot, schedule_due
from service.jobs.worker import JobWorker
from tests.support.service import ServiceWorld, service_world
from tests.support.sites import Site, local_site

pytestmark = pytest.mark.postgres
DELAY_S = 0.1


@pytest.fixture
def world(tmp_path: Path, real_engine: FaceEngine) -> Iterator[ServiceWorld]:
    with service_world(tmp_path, real_engine) as built:
        yield built


def jpeg(colour: str, size: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def crawl_ctx(world: ServiceWorld, site: Site, **settings: Any) -> AppContext:
    """The world's context, allowed to reach ``site`` (only) with short delays."""
    values = {
        "fetch_private_hosts": [site.host],
        "crawl_min_delay_s": DELAY_S,
        "crawl_max_delay_s": 2.0,
        "worker_poll_s": 0.01,
        **settings,
    }
    return dataclasses.replace(world.ctx, settings=world.ctx.settings.model_copy(update=values))


def create(world: ServiceWorld, url: str, kind: str, **fields: Any) -> int:
    answer = world.client.post(
        "/v1/watches", json={"url": url, "kind": kind, **fields}, headers=world.auth("monitor")
    )
    assert answer.status_code == 201, answer.text
    watch_id: int = answer.json()["id"]
    return watch_id


async def _everything(ctx: AppContext) -> None:
    runner = WatchRunner(ctx, name="watch-test")
    while await runner.run_once():
        pass
    worker = JobWorker(ctx, name="scan-test")
    while await worker.run_once():
        pass
    await runner.run_once()  # closes the runs whose scans are done


def run(
    world: ServiceWorld, ctx: AppContext, watch_id: int, *, now: bool = False
) -> dict[str, Any]:
    """Run the watch (its first slot, or now) to the end; its latest run."""
    if now:
        asked = world.client.post(f"/v1/watches/{watch_id}/run", headers=world.auth("monitor"))
        assert asked.status_code == 202, asked.text
    asyncio.run(_everything(ctx))
    runs = world.client.get(f"/v1/watches/{watch_id}/runs", headers=world.auth("monitor"))
    latest: dict[str, Any] = runs.json()["items"][0]
    return latest


def scans_of(world: ServiceWorld, url: str) -> int:
    with world.ctx.db.session() as session:
        return session.scalar(select(func.count()).where(Scan.source_url == url)) or 0


def reasons(run_: dict[str, Any]) -> set[str]:
    return {p["reason"] for p in run_["problems"]}


# --- politeness -----------------------------------------------------------------------------
@pytest.mark.model
def test_robots_disallow_crawl_delay_and_one_connection_per_host_hold(
    world: ServiceWorld,
) -> None:
    with local_site() as site:
        site.pages["/robots.txt"] = (
            "text/plain",
            b"User-agent: *\nDisallow: /private/\nCrawl-delay: 0.2\n",
        )
        site.html("/", '<a href="/a">a</a> <a href="/private/x">x</a> <a href="/b#top">b</a>')
        site.html("/a", '<img src="/a.jpg"><a href="/b">b</a>')
        site.html("/b", '<img src="/b.jpg"><img src="/a.jpg">')
        site.html("/private/x", '<img src="/secret.jpg">')
        site.image("/a.jpg", jpeg("red"))
        site.image("/b.jpg", jpeg("blue"))
        site.slow_s = 0.02
        watch = create(world, site.url("/"), "site")
        done = run(world, crawl_ctx(world, site), watch)
    assert "/private/x" not in site.paths() and "/secret.jpg" not in site.paths()
    assert sorted(site.paths()) == sorted(["/robots.txt", "/", "/a", "/a.jpg", "/b", "/b.jpg"])
    assert site.most_in_flight == 1
    gaps = [b.started - a.ended for a, b in zip(site.hits, site.hits[1:], strict=False)]
    assert min(gaps) >= 0.19, gaps  # the robots.txt Crawl-delay, over the 0.1 s minimum
    assert all(hit.headers["User-Agent"].startswith("twinwatch/") for hit in site.hits)
    assert done["status"] == "done" and "robots_disallowed" in reasons(done)
    assert done["stats"]["images_scanned"] == 2
    assert scans_of(world, site.url("/a.jpg")) == 1


@pytest.mark.model
def test_a_429_with_retry_after_is_waited_out(world: ServiceWorld) -> None:
    with local_site() as site:
        site.html("/look", '<img src="/look.jpg">')
        site.image("/look.jpg", jpeg("green"))
        site.throttle["/look"] = [1]
        watch = create(world, site.url("/look"), "page")
        done = run(world, crawl_ctx(world, site), watch)
    looks = [hit for hit in site.hits if hit.path == "/look"]
    assert [hit.status for hit in looks] == [429, 200]
    assert looks[1].started - looks[0].ended >= 0.99
    assert done["status"] == "done" and done["stats"]["images_scanned"] == 1


@pytest.mark.model
def test_a_retry_after_over_the_bound_stops_the_host_and_is_reported(world: ServiceWorld) -> None:
    with local_site() as site:
        site.html("/look", '<img src="/look.jpg">')
        site.throttle["/look"] = [3600]
        watch = create(world, site.url("/look"), "page")
        done = run(world, crawl_ctx(world, site), watch)
    assert site.paths().count("/look") == 1
    assert done["status"] == "done" and reasons(done) == {"throttled_too_long"}


# --- sitemaps, feeds, no work twice ----------------------------------------------------------
def _urlset(*urls: str) -> bytes:
    entries = "".join(f"<url><loc>{u}</loc></url>" for u in urls)
    return (
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"{entries}</urlset>"
    ).encode()


@pytest.mark.model
def test_sitemap_index_with_a_gzipped_child_and_a_page_added_later_scanned_once(
    world: ServiceWorld,
) -> None:
    with local_site() as site:
        site.pages["/sitemap.xml"] = (
            "application/xml",
            (
                '<?xml version="1.0"?><sitemapindex '
                'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<sitemap><loc>{site.url('/pages.xml.gz')}</loc></sitemap></sitemapindex>"
            ).encode(),
        )
        site.pages["/pages.xml.gz"] = ("application/gzip", gzip.compress(_urlset(site.url("/p1"))))
        site.html("/p1", '<img src="/one.jpg">')
        site.html("/p2", '<img src="/two.jpg"><img src="/one.jpg">')
        site.image("/one.jpg", jpeg("red"))
        site.image("/two.jpg", jpeg("blue"))
        ctx = crawl_ctx(world, site)
        watch = create(world, site.url("/sitemap.xml"), "sitemap")
        first = run(world, ctx, watch)
        site.pages["/pages.xml.gz"] = (
            "application/gzip",
            gzip.compress(_urlset(site.url("/p1"), site.url("/p2"))),
        )
        second = run(world, ctx, watch, now=True)
    assert first["stats"]["images_scanned"] == 1
    assert second["stats"]["images_scanned"] == 1  # /two.jpg only
    assert scans_of(world, site.url("/one.jpg")) == 1
    assert scans_of(world, site.url("/two.jpg")) == 1


@pytest.mark.model
def test_feed_entries_are_followed(world: ServiceWorld) -> None:
    with local_site() as site:
        site.pages["/feed"] = (
            "application/atom+xml",
            (
                '<?xml version="1.0" encoding="utf-8"?>'
                '<feed xmlns="http://www.w3.org/2005/Atom"><title>Looks</title>'
                f'<entry><title>One</title><link href="{site.url("/post/1")}"/>'
                "<id>1</id><updated>2026-12-01T00:00:00Z</updated></entry></feed>"
            ).encode(),
        )
        site.html("/post/1", '<meta property="og:image" content="/cover.jpg">')
        site.image("/cover.jpg", jpeg("white"))
        watch = create(world, site.url("/feed"), "feed")
        done = run(world, crawl_ctx(world, site), watch)
    assert done["stats"]["images_scanned"] == 1
    assert scans_of(world, site.url("/cover.jpg")) == 1


@pytest.mark.model
def test_an_unchanged_second_run_sends_only_conditional_requests_and_scans_nothing(
    world: ServiceWorld,
) -> None:
    with local_site() as site:
        site.html("/", '<img src="/a.jpg"><a href="/b">b</a>')
        site.html("/b", '<img src="/b.jpg">')
        site.image("/a.jpg", jpeg("red"))
        site.image("/b.jpg", jpeg("blue"))
        ctx = crawl_ctx(world, site)
        watch = create(world, site.url("/"), "site")
        first = run(world, ctx, watch)
        before = len(site.hits)
        second = run(world, ctx, watch, now=True)
    again = [hit for hit in site.hits[before:] if hit.path != "/robots.txt"]
    assert [hit.status for hit in again] == [304, 304, 304, 304]
    assert all("If-None-Match" in hit.headers for hit in again)
    assert first["stats"]["images_scanned"] == 2
    assert second["job_id"] is None and second["stats"].get("images_queued", 0) == 0
    assert second["stats"]["not_modified"] == 4
    assert scans_of(world, site.url("/a.jpg")) == 1


@pytest.mark.model
def test_a_changed_gallery_rescans_unchanged_images_once(world: ServiceWorld) -> None:
    with local_site() as site:
        site.html("/", '<img src="/a.jpg">')
        site.image("/a.jpg", jpeg("red"))
        ctx = crawl_ctx(world, site)
        watch = create(world, site.url("/"), "page")
        run(world, ctx, watch)
        with world.ctx.db.session() as session:  # what enrolling a talent does to the gallery
            bump_revisions(session, {world.ctx.index.pack.name})
        rescanned = run(world, ctx, watch, now=True)
        unchanged = run(world, ctx, watch, now=True)
    assert rescanned["stats"]["images_scanned"] == 1
    assert unchanged["job_id"] is None
    assert scans_of(world, site.url("/a.jpg")) == 2


# --- runs: schedules, workers that die ------------------------------------------------------
def test_missed_slots_collapse_into_one_run_and_a_slot_is_queued_once(
    world: ServiceWorld,
) -> None:
    slot = datetime(2026, 12, 1, 6, tzinfo=UTC)
    now = slot + timedelta(hours=20)
    assert next_slot(slot, timedelta(hours=6), now) == slot + timedelta(hours=24)
    create(world, "https://shop.example.com/", "page", every_hours=6)
    later = datetime.now(UTC) + timedelta(days=3)
    assert schedule_due(world.ctx.db, now=later) == 1
    assert schedule_due(world.ctx.db, now=later) == 0  # another worker: nothing left
    with world.ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(WatchRun)) == 1


@pytest.mark.model
def test_a_worker_killed_mid_run_leaves_no_duplicate_scan_and_the_run_completes(
    world: ServiceWorld,
) -> None:
    with local_site() as site:
        site.html("/", '<img src="/a.jpg"><img src="/b.jpg"><img src="/c.jpg">')
        for name, colour in (("a", "red"), ("b", "blue"), ("c", "green")):
            site.image(f"/{name}.jpg", jpeg(colour))
        ctx = crawl_ctx(world, site, watch_lease_s=0.5)
        watch = create(world, site.url("/"), "page")
        schedule_due(ctx.db)
        dead = WatchRunner(ctx, name="dies")
        claimed = claim_next_run(
            ctx.db, worker_id="dies", lease_s=0.5, pack=ctx.index.pack.name, settings=ctx.settings
        )
        assert claimed is not None

        async def killed() -> None:  # killed after its first image
            task = asyncio.ensure_future(dead.crawl(claimed))
            while "/a.jpg" not in site.paths():
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(killed())
        asyncio.run(asyncio.sleep(0.6))  # its lease runs out
        done = run(world, ctx, watch)
    assert done["status"] == "done" and done["attempts"] == 2
    assert done["stats"]["images_scanned"] == 3
    for name in "abc":
        assert scans_of(world, site.url(f"/{name}.jpg")) == 1
    with world.ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(JobItem)) == 3


# --- hostile sites cost only themselves --------------------------------------------------
@pytest.mark.model
def test_a_link_maze_and_a_huge_sitemap_stop_at_the_caps_and_say_so(world: ServiceWorld) -> None:
    with local_site() as site:
        for n in range(40):  # every page links deeper: a maze with no end in sight
            site.html(f"/m/{n}", f'<a href="/m/{n + 1}">next</a><a href="/m/{n}?again">same</a>')
        urls = [site.url(f"/s/{n}") for n in range(10_000)]
        site.pages["/big.xml"] = ("application/xml", _urlset(*urls))
        ctx = crawl_ctx(world, site, crawl_min_delay_s=0.0, watch_max_sitemap_urls=500)
        maze = create(world, site.url("/m/0"), "site", max_pages=5, max_depth=20)
        big = create(world, site.url("/big.xml"), "sitemap", max_pages=3)
        asyncio.run(_everything(ctx))
        maze_run = world.client.get(f"/v1/watches/{maze}/runs", headers=world.auth("monitor"))
        big_run = world.client.get(f"/v1/watches/{big}/runs", headers=world.auth("monitor"))
    maze_done, big_done = maze_run.json()["items"][0], big_run.json()["items"][0]
    assert maze_done["stats"]["pages_visited"] == 5 and "max_pages_reached" in reasons(maze_done)
    assert big_done["stats"]["pages_visited"] == 3
    assert {"max_pages_reached", "max_sitemap_urls_reached"} <= reasons(big_done)
    assert sum(1 for p in site.paths() if p.startswith("/s/")) == 3


@pytest.mark.model
def test_redirect_loops_huge_pages_and_slow_drips_are_reported_and_the_run_goes_on(
    world: ServiceWorld,
) -> None:
    with local_site() as site:
        site.html("/", '<a href="/loop">l</a><a href="/huge">h</a><a href="/ok">ok</a>')
        site.pages["/huge"] = ("text/html", b"<p>" + b"x" * 300_000)
        site.html("/ok", '<img src="/ok.jpg">')
        site.image("/ok.jpg", jpeg("red"))
        site.redirects.update({"/loop": "/loop2", "/loop2": "/loop"})
        site.html("/drip", "<p>" + "x" * 200)
        site.drip.add("/drip")
        site.pages["/"] = ("text/html", site.pages["/"][1] + b'<a href="/drip">d</a>')
        ctx = crawl_ctx(
            world, site, crawl_min_delay_s=0.0, page_max_html_bytes=100_000, fetch_timeout_s=1.0
        )
        watch = create(world, site.url("/"), "site")
        done = run(world, ctx, watch)
    problems = {p["url"]: p["message"] for p in done["problems"]}
    assert problems[site.url("/huge")].startswith("url_response_too_large")
    assert problems[site.url("/loop")].startswith("url_too_many_redirects")
    assert problems[site.url("/drip")].startswith("url_fetch_timeout")
    assert done["stats"]["images_scanned"] == 1


# --- the API ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        {"url": "javascript:alert(1)", "kind": "page"},
        {"url": "https://a.example/", "kind": "crawl"},
        {"url": "https://a.example/", "every_hours": 0},
        {"url": "https://a.example/" + "x" * 3000},
        {"url": "https://a.example/", "max_pages": 10**6},
        {"url": "https://a.example/", "territory": "Atlantis"},
        {"url": "https://a.example/", "surprise": True},
        {"url": "https://a.example/\x00x"},
        {"url": "https://a.example/", "publisher": "a\x00b"},
    ],
)
@pytest.mark.model
def test_bad_watches_are_refused_in_the_error_envelope(
    world: ServiceWorld, body: dict[str, Any]
) -> None:
    answer = world.client.post("/v1/watches", json=body, headers=world.auth("monitor"))
    assert 400 <= answer.status_code < 500, answer.text
    assert set(answer.json()["error"]) >= {"code", "message"}


@pytest.mark.model
def test_a_monitor_sees_only_its_own_watches_and_other_roles_none(world: ServiceWorld) -> None:
    watch = create(world, "https://shop.example.com/", "page", channel="social", territory="SE")
    other = world.auth("other_monitor")
    assert world.client.get(f"/v1/watches/{watch}", headers=other).status_code == 404
    assert world.client.post(f"/v1/watches/{watch}/run", headers=other).status_code == 404
    assert world.client.delete(f"/v1/watches/{watch}", headers=other).status_code == 404
    assert world.client.get("/v1/watches", headers=other).json()["total"] == 0
    assert world.client.get("/v1/watches", headers=world.auth("brand")).status_code == 403
    paused = world.client.patch(
        f"/v1/watches/{watch}", json={"paused": True}, headers=world.auth("monitor")
    )
    assert paused.status_code == 200 and paused.json()["paused"] is True
    assert schedule_due(world.ctx.db, now=datetime.now(UTC) + timedelta(days=9)) == 0
    gone = world.client.delete(f"/v1/watches/{watch}", headers=world.auth("monitor"))
    assert gone.status_code == 204
    after = world.client.get(f"/v1/watches/{watch}", headers=world.auth("monitor"))
    assert after.status_code == 404
