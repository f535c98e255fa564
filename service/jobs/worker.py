"""Background loops: batch job items, webhook deliveries, evidence retention.

The embedded default runs them inside the API process; `twinwatch worker` runs them in a
process of their own (more of those can be added: every claim is safe to race).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from indexer.db import utcnow
from indexer.errors import TwinwatchError
from service.access.sessions import purge_expired
from service.alerts.emails import (
    alert_face,
    claim_due_emails,
    queue_daily_digests,
    record_email_attempt,
    smtp_send,
)
from service.alerts.webhooks import (
    AttemptResult,
    DueDelivery,
    claim_due,
    record_attempt,
    send,
)
from service.context import AppContext
from service.core.errors import InternalError, OverloadedError
from service.jobs.callbacks import claim_due_callbacks, record_callback_attempt
from service.jobs.housekeeping import purge_idempotency_records
from service.jobs.queue import (
    MAX_ITEM_ATTEMPTS,
    ClaimedItem,
    claim_next_item,
    fail_item,
    finish_job_if_complete,
    release_item,
    remove_upload,
)
from service.scanning.scan import run_scan
from service.scanning.types import ImageSource

log = logging.getLogger(__name__)
EVIDENCE_SWEEP_S = 3600.0
# Touched by every pass of the job loop: `twinwatch worker --check` (the container's
# healthcheck) reads its age. Per container, so it lives in the container's own /tmp.
HEARTBEAT = Path(tempfile.gettempdir()) / "twinwatch-worker.alive"
HEARTBEAT_MAX_AGE_S = 120.0


def beat() -> None:
    HEARTBEAT.touch()


def heartbeat_age() -> float | None:
    """Seconds since the job loop last went round; None if it never has."""
    try:
        return max(0.0, time.time() - HEARTBEAT.stat().st_mtime)
    except FileNotFoundError:
        return None


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class JobWorker:
    def __init__(self, ctx: AppContext, *, name: str | None = None) -> None:
        self.ctx = ctx
        self.name = name or worker_name()

    async def run_once(self) -> bool:
        """Process one queued item; False when there was nothing to do."""
        settings = self.ctx.settings
        item = await run_in_threadpool(
            claim_next_item,
            self.ctx.db,
            worker_id=self.name,
            lease_s=settings.job_lease_s,
            max_attempts=MAX_ITEM_ATTEMPTS,
        )
        if item is None:
            return False
        await self._process(item)
        return True

    async def _process(self, item: ClaimedItem) -> None:
        self.ctx.metrics.job_item_wait.observe(item.waited_s)
        try:
            # A staged item may also have its URL (a crawled record): scanned from the bytes,
            # recorded with the URL.
            source = (
                ImageSource(
                    data=await run_in_threadpool(self.ctx.blobs.get, item.upload_path),
                    url=item.source_url,
                )
                if item.upload_path
                else ImageSource(url=item.source_url)
            )
            await run_scan(
                pipeline=self.ctx.pipeline(),
                principal=item.principal,
                kind=item.kind,
                source=source,
                context=item.context,
                job=item.link(self.name),
            )
        except OverloadedError:
            await run_in_threadpool(release_item, self.ctx.db, item=item, worker_id=self.name)
            await asyncio.sleep(self.ctx.settings.retry_after_s)
            return
        except TwinwatchError as exc:
            await self._fail(item, exc.to_dict())
            return
        except Exception as exc:
            log.exception("job item %d failed unexpectedly", item.item_id)
            await self._fail(item, InternalError(type(exc).__name__).to_dict())
            return
        await run_in_threadpool(remove_upload, self.ctx.blobs, item)
        await run_in_threadpool(finish_job_if_complete, self.ctx.db, item.job_id)
        self.ctx.metrics.job_items_processed.labels(worker=self.name, outcome="done").inc()

    async def _fail(self, item: ClaimedItem, error: dict[str, object]) -> None:
        await run_in_threadpool(fail_item, self.ctx.db, item=item, error=error, worker_id=self.name)
        await run_in_threadpool(remove_upload, self.ctx.blobs, item)
        await run_in_threadpool(finish_job_if_complete, self.ctx.db, item.job_id)
        self.ctx.metrics.job_items_processed.labels(worker=self.name, outcome="failed").inc()


class DeliveryDispatcher(ABC):
    """Delivers one HTTP outbox (webhook deliveries, job callbacks) to several receivers at
    once: up to ``delivery_concurrency`` attempts in flight, never two to one receiver (the
    claim skips a receiver with an attempt in flight), each cut at ``delivery_deadline_s``
    and claimed for ``delivery_lease_s``, so a slow receiver holds one slot for at most the
    deadline and never delays another receiver's deliveries (issue 17)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._in_flight: set[asyncio.Task[None]] = set()

    @abstractmethod
    def claim(self, *, limit: int, lease_s: float) -> list[DueDelivery]:
        """Claim up to ``limit`` due rows for ``lease_s`` (blocking: run in a thread)."""

    @abstractmethod
    def record(self, delivery: DueDelivery, result: AttemptResult) -> None:
        """Record one attempt and what follows from it (blocking: run in a thread)."""

    async def run_once(self) -> int:
        """Start what is due and wait until those attempts end; how many were started."""
        started = await self.start_due()
        await asyncio.gather(*self._in_flight)
        return started

    async def step(self) -> bool:
        """One turn of the background loop: start what is due, then wait for an attempt to
        end (at most a poll interval, so new rows start while slow ones are in flight)."""
        await self.start_due()
        if not self._in_flight:
            return False
        await asyncio.wait(
            set(self._in_flight),
            timeout=self.ctx.settings.worker_poll_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
        return True

    async def start_due(self) -> int:
        """Claim as many due rows as there are free slots and start an attempt for each."""
        settings = self.ctx.settings
        free = settings.delivery_concurrency - len(self._in_flight)
        if free <= 0:
            return 0
        due = await run_in_threadpool(self.claim, limit=free, lease_s=settings.delivery_lease_s)
        for delivery in due:
            task = asyncio.create_task(self._attempt(delivery))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(due)

    async def aclose(self) -> None:
        """Stop the attempts in flight (their rows are taken again when their claim ends)."""
        for task in self._in_flight:
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _attempt(self, delivery: DueDelivery) -> None:
        try:
            result = await send(delivery, settings=self.ctx.settings)
            await run_in_threadpool(self.record, delivery, result)
        except Exception:
            log.exception("delivery %d failed unexpectedly", delivery.id)


class WebhookDispatcher(DeliveryDispatcher):
    """Agency webhooks (service.alerts.webhooks)."""

    def claim(self, *, limit: int, lease_s: float) -> list[DueDelivery]:
        return claim_due(self.ctx.db, limit=limit, lease_s=lease_s)

    def record(self, delivery: DueDelivery, result: AttemptResult) -> None:
        record_attempt(
            self.ctx.db,
            delivery=delivery,
            result=result,
            settings=self.ctx.settings,
            metrics=self.ctx.metrics,
        )


class CallbackDispatcher(DeliveryDispatcher):
    """Job-completion callbacks (service.jobs.callbacks), signed and retried like webhooks."""

    def claim(self, *, limit: int, lease_s: float) -> list[DueDelivery]:
        return claim_due_callbacks(self.ctx.db, limit=limit, lease_s=lease_s)

    def record(self, delivery: DueDelivery, result: AttemptResult) -> None:
        record_callback_attempt(
            self.ctx.db, delivery=delivery, result=result, settings=self.ctx.settings
        )


class EmailDispatcher:
    """Sends the e-mail outbox over SMTP (when ``smtp_host`` is set) and, once per UTC day,
    queues the previous day's digests."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.digested: date | None = None

    async def run_once(self) -> int:
        settings = self.ctx.settings
        if settings.smtp_host is None:
            return 0
        yesterday = (utcnow() - timedelta(days=1)).date()
        if self.digested != yesterday:
            await run_in_threadpool(queue_daily_digests, self.ctx.db, day=yesterday)
            self.digested = yesterday
        # One message per turn: its claim has to outlast one attempt (cut at the delivery
        # deadline), not a batch sent in turn; one relay takes them in turn anyway.
        due = await run_in_threadpool(
            claim_due_emails, self.ctx.db, limit=1, lease_s=settings.delivery_lease_s
        )
        for message in due:
            face = await run_in_threadpool(
                alert_face,
                self.ctx.db,
                self.ctx.evidence,
                message,
                max_pixels=settings.max_image_pixels,
            )
            result = await run_in_threadpool(smtp_send, message, settings=settings, face=face)
            await run_in_threadpool(
                record_email_attempt, self.ctx.db, message=message, result=result, settings=settings
            )
        return len(due)


class BackgroundWorkers:
    """Starts and stops the loops as asyncio tasks. ``more`` are further loops' steps by
    name, passed by the composition root (the watch runs: service.crawl.runner)."""

    def __init__(
        self, ctx: AppContext, *, more: dict[str, Callable[[], Awaitable[object]]] | None = None
    ) -> None:
        self.ctx = ctx
        self.more = dict(more or {})
        # One job loop per inference worker, so a batch keeps every core busy (each loop
        # still goes through the inference gate, with its back-pressure).
        self.jobs = [JobWorker(ctx) for _ in range(ctx.settings.inference_workers)]
        self.webhooks = WebhookDispatcher(ctx)
        self.callbacks = CallbackDispatcher(ctx)
        self.emails = EmailDispatcher(ctx)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._tasks = [
            *(asyncio.create_task(self._loop("jobs", jobs.run_once)) for jobs in self.jobs),
            asyncio.create_task(self._loop("webhooks", self.webhooks.step)),
            asyncio.create_task(self._loop("callbacks", self.callbacks.step)),
            asyncio.create_task(self._loop("emails", self.emails.run_once)),
            asyncio.create_task(self._sweep_evidence()),
            *(asyncio.create_task(self._loop(name, step)) for name, step in self.more.items()),
        ]

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.webhooks.aclose()
        await self.callbacks.aclose()

    async def run_forever(self) -> None:
        self.start()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _loop(self, name: str, step: Callable[[], Awaitable[object]]) -> None:
        poll = self.ctx.settings.worker_poll_s
        while not self._stopping.is_set():
            try:
                busy = await step()
                if name == "jobs":
                    beat()
            except Exception:
                log.exception("%s loop step failed", name)
                busy = False
            if not busy:
                await asyncio.sleep(poll)

    async def _sweep_evidence(self) -> None:
        """Hourly: evidence past retention, and Idempotency-Key records older than a day."""
        while not self._stopping.is_set():
            try:
                await run_in_threadpool(self.ctx.evidence.purge_expired, self.ctx.db)
                await run_in_threadpool(purge_idempotency_records, self.ctx.db)
                await run_in_threadpool(
                    purge_expired,
                    self.ctx.db,
                    login_window=timedelta(minutes=self.ctx.settings.login_window_minutes),
                )
            except Exception:
                log.exception("housekeeping sweep failed")
            await asyncio.sleep(EVIDENCE_SWEEP_S)
