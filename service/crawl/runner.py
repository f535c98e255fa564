"""The watch loop each worker runs beside its job loops: queue due slots, close runs whose
scans are done, claim one run and crawl it (no cron: the schedule is in the database)."""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial

from starlette.concurrency import run_in_threadpool

from service.context import AppContext
from service.crawl.crawler import HostGates, PoliteFetcher, Politeness
from service.crawl.rules import Problem
from service.crawl.runs import Crawl, CrawlOutcome
from service.crawl.watches import (
    ClaimedRun,
    claim_next_run,
    finish_scanned_runs,
    record_crawl,
    schedule_due,
)
from service.jobs.queue import staging_folder
from service.jobs.worker import worker_name

log = logging.getLogger(__name__)


class WatchRunner:
    """Runs watches; the host gates are shared by every run of this process."""

    def __init__(self, ctx: AppContext, *, name: str | None = None) -> None:
        self.ctx = ctx
        self.name = name or worker_name()
        self.gates = HostGates()

    async def run_once(self) -> bool:
        """One turn: False when there was no run to crawl."""
        db = self.ctx.db
        await run_in_threadpool(partial(schedule_due, db, settings=self.ctx.settings))
        await run_in_threadpool(finish_scanned_runs, db)
        claimed = await run_in_threadpool(
            claim_next_run,
            db,
            worker_id=self.name,
            lease_s=self.ctx.settings.watch_lease_s,
            pack=self.ctx.index.pack.name,
            settings=self.ctx.settings,
        )
        if claimed is None:
            return False
        await self.crawl(claimed)
        return True

    async def crawl(self, claimed: ClaimedRun) -> CrawlOutcome:
        """Crawl one claimed run and commit what it found."""
        settings = self.ctx.settings
        outcome = CrawlOutcome(folder=staging_folder(), blobs=self.ctx.blobs)
        fetcher = PoliteFetcher(Politeness.of(settings), self.gates)
        started, cpu = time.perf_counter(), time.process_time()
        try:
            async with asyncio.timeout(settings.watch_run_timeout_s):
                await Crawl(claimed.plan, fetcher, outcome).run()
        except TimeoutError:
            outcome.problem(
                Problem.TIME_CAP, None, f"stopped after {settings.watch_run_timeout_s:g} s"
            )
        outcome.stats.update(
            requests=fetcher.counts.requests,
            not_modified=fetcher.counts.not_modified,
            waited_s=round(fetcher.counts.waited_s, 3),
            wall_s=round(time.perf_counter() - started, 3),
            cpu_s=round(time.process_time() - cpu, 3),
        )
        await run_in_threadpool(
            record_crawl, self.ctx.db, claimed=claimed, outcome=outcome, worker_id=self.name
        )
        log.info("watch run %d crawled: %s", claimed.plan.run_id, outcome.stats)
        return outcome
