"""Watches (issue 19): a crawl of a local site, then a second run of the unchanged site.

    python -m bench.watches [--pages 50] [--images-per-page 4]

A site on 127.0.0.1 (``pages`` HTML pages linked from the home page, each showing
``images_per_page`` distinct 256x256 JPEGs, ETags on everything) is watched as a ``site``
with no politeness delay (``crawl_min_delay_s=0``: this measures the crawler, not the
wait). Reported: the first run's crawl (pages/s, images/s, CPU seconds per page, from the
run's own ``wall_s`` and ``cpu_s``), the scans of what it queued (images/s through the job
workers), and the second run: every request but robots.txt conditional and answered 304,
nothing queued, nothing scanned.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import bench_settings, machine_facts, md_table, run_main, write_results
from service.core.principal import Principal, Role
from service.core.settings import ServiceSettings
from service.core.tables.access import Monitor
from service.crawl.runner import WatchRunner
from service.crawl.watch_schemas import WatchIn
from service.crawl.watches import claim_next_run, create_watch, run_now, schedule_due
from service.jobs.worker import JobWorker
from service.startup import start
from tests.support.sites import Site, local_site


def noise_jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def build_site(site: Site, *, pages: int, per_page: int) -> None:
    site.html("/", "".join(f'<a href="/p/{n}">{n}</a>' for n in range(pages)))
    for n in range(pages):
        images = "".join(f'<img src="/i/{n}-{k}.jpg">' for k in range(per_page))
        site.html(f"/p/{n}", f"<html><body><h1>Look {n}</h1>{images}</body></html>")
        for k in range(per_page):
            site.image(f"/i/{n}-{k}.jpg", noise_jpeg(n * 1000 + k))


async def crawl_one(runner: WatchRunner) -> dict[str, Any]:
    ctx = runner.ctx
    schedule_due(ctx.db)
    claimed = claim_next_run(
        ctx.db, worker_id=runner.name, lease_s=600, pack=ctx.index.pack.name, settings=ctx.settings
    )
    assert claimed is not None
    outcome = await runner.crawl(claimed)
    return dict(outcome.stats)


async def scan_all(worker: JobWorker) -> tuple[int, float]:
    started, scanned = time.perf_counter(), 0
    while await worker.run_once():
        scanned += 1
    return scanned, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--images-per-page", type=int, default=4)
    args = parser.parse_args()
    base = bench_settings()
    with tempfile.TemporaryDirectory() as tmp, local_site() as site:
        build_site(site, pages=args.pages, per_page=args.images_per_page)
        settings = ServiceSettings(
            data_dir=Path(tmp),
            model_cache_dir=base.model_cache_dir,
            fetch_private_hosts=[site.host],
            crawl_min_delay_s=0.0,
            watch_max_pages=args.pages + 1,
            watch_max_images=args.pages * args.images_per_page,
            run_worker_in_process=False,
        )
        ctx = start(settings)
        with ctx.db.session() as session:
            monitor = Monitor(name="bench")
            session.add(monitor)
            session.flush()
            monitor_id = monitor.id
        who = Principal(key_id=None, key_prefix="bench", role=Role.MONITOR, monitor_id=monitor_id)
        watch = create_watch(ctx.db, who, WatchIn(url=site.url("/"), kind="site"), settings)
        runner = WatchRunner(ctx, name="bench")
        first = asyncio.run(crawl_one(runner))
        scanned, scan_s = asyncio.run(scan_all(JobWorker(ctx, name="bench")))
        before = len(site.hits)
        run_now(ctx.db, who, watch.id)
        second = asyncio.run(crawl_one(runner))
        again = [h.status for h in site.hits[before:] if h.path != "/robots.txt"]
        ctx.close()
    report(args, first, second, scanned, scan_s, again)


def report(
    args: argparse.Namespace,
    first: dict[str, Any],
    second: dict[str, Any],
    scanned: int,
    scan_s: float,
    again: list[int],
) -> None:
    pages, images = first.get("pages_visited", 0), first.get("images_queued", 0)
    wall, cpu = first["wall_s"], first["cpu_s"]
    data = {
        "pages": args.pages,
        "images_per_page": args.images_per_page,
        "first_run": first,
        "pages_per_s": round(pages / wall, 1),
        "images_per_s": round(images / wall, 1),
        "cpu_ms_per_page": round(1000 * cpu / pages, 2),
        "scan_images_per_s": round(scanned / scan_s, 1) if scan_s else None,
        "second_run": second,
        "second_run_statuses": sorted(set(again)),
        "second_run_requests": len(again),
        "second_run_queued": second.get("images_queued", 0),
        "machine": machine_facts(),
    }
    rows = [
        ["first run: pages / images", f"{pages} / {images}"],
        ["crawl pages/s", data["pages_per_s"]],
        ["crawl images/s", data["images_per_s"]],
        ["CPU per page (ms, crawl incl. its images)", data["cpu_ms_per_page"]],
        ["scans (job workers) images/s", data["scan_images_per_s"]],
        ["second run: requests (no robots.txt)", len(again)],
        ["second run: statuses", ", ".join(str(s) for s in sorted(set(again)))],
        ["second run: images queued for scans", data["second_run_queued"]],
    ]
    write_results("watches", data, "# Watches: a local site\n\n" + md_table(["", ""], rows))


if __name__ == "__main__":
    run_main(main)
