"""A small service world on the fake analyser for batch-job tests, and a worker process
that can be killed (or kill itself) mid-job."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from indexer.blobs import BlobStore
from indexer.registry import PhotoInput
from service.access.keys import TenantKind, authenticate, create_key, create_tenant
from service.context import AppContext
from service.core.principal import Principal, Role
from service.core.settings import ServiceSettings
from service.jobs import queue
from service.jobs.queue import BatchInput, create_job, staging_folder
from service.jobs.worker import JobWorker
from service.rules.vocabulary import ScanKind
from service.scanning.types import UseContext
from service.startup import start
from tests.support.fakes import FakeAnalyser, face_photo
from tests.support.service import service_settings

TALENT_IDENTITY = 7
LEASE_S = 0.5


@dataclass
class JobWorld:
    ctx: AppContext
    monitor: Principal
    talent_id: int


def job_settings(tmp_path: Path) -> ServiceSettings:
    return service_settings(tmp_path, job_lease_s=LEASE_S)


def open_job_world(tmp_path: Path) -> JobWorld:
    """A service context on the fake analyser with one enrolled talent and a monitor."""
    ctx = start(job_settings(tmp_path), analyser=FakeAnalyser())
    agency = ctx.registry.ensure_agency(name="Agency")
    talent, _ = ctx.registry.ensure_talent(agency_id=agency.id, name="Ada")
    outcomes = ctx.registry.enrol_photos(
        talent_id=talent.id,
        photos=[PhotoInput("ada.png", face_photo([(TALENT_IDENTITY, 100)], seed=1))],
    )
    assert outcomes[0].accepted, outcomes
    with ctx.db.session() as session:
        create_tenant(session, kind=TenantKind.MONITOR, name="Watchdog")
        key = create_key(session, role=Role.MONITOR, monitor="Watchdog").key
        monitor = authenticate(session, presented=key)
    return JobWorld(ctx, monitor, talent.id)


def submit_job(world: JobWorld, images: list[bytes]) -> int:
    folder = staging_folder()
    uploads = []
    for n, data in enumerate(images):
        key = f"{folder}{n}.bin"
        world.ctx.blobs.put(key, data)
        uploads.append((f"{n}.png", key))
    context = UseContext(
        page_url="https://shop.example.net/p/1",
        publisher="shop.example.net",
        observed_at=datetime(2026, 5, 1, tzinfo=UTC),
        channel="web",
        territory="FR",
    )
    return create_job(
        db=world.ctx.db,
        principal=world.monitor,
        kind=ScanKind.SCAN,
        batch=BatchInput(uploads=uploads, urls=[], folder=folder),
        context=context,
        max_items=1000,
        blobs=world.ctx.blobs,
    )


def drain_until_done(world: JobWorld, job_id: int, *, name: str, timeout_s: float = 120) -> None:
    """Run a worker until the job is done (waiting out leases of dead workers)."""
    from service.core.tables.jobs import Job

    worker = JobWorker(world.ctx, name=name)
    deadline = time.monotonic() + timeout_s

    async def run() -> None:
        while time.monotonic() < deadline:
            with world.ctx.db.session() as session:
                job = session.get(Job, job_id)
                assert job is not None
                if job.status == queue.JobStatus.DONE:
                    return
            if not await worker.run_once():
                await asyncio.sleep(0.05)
        raise AssertionError(f"job {job_id} not done within {timeout_s} s")

    asyncio.run(run())


# --- the worker process -----------------------------------------------------------------------
class SlowFakeAnalyser(FakeAnalyser):
    """Takes a little time per image, so a kill from outside lands mid-job."""

    def analyse(self, image: Any, **kwargs: Any) -> Any:
        time.sleep(0.02)
        return super().analyse(image, **kwargs)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _kill_at(where: str, after_items: int) -> None:
    """SIGKILL this process inside the recording transaction of the n-th item (before the
    commit) or just after that transaction committed."""
    seen = {"items": 0}
    original_link = queue.ClaimedItem.link

    def link(self: queue.ClaimedItem, worker_id: str) -> Any:
        base = original_link(self, worker_id)

        def complete(session: Session, scan_id: int, outcome: Any) -> None:
            base.complete(session, scan_id, outcome)
            seen["items"] += 1
            if where == "in_transaction" and seen["items"] == after_items:
                session.flush()
                _die()

        return type(base)(job_id=base.job_id, item_id=base.item_id, complete=complete)

    queue.ClaimedItem.link = link  # type: ignore[method-assign]
    if where == "after_commit":
        original_remove = queue.remove_upload

        def remove_upload(blobs: BlobStore, item: queue.ClaimedItem) -> None:
            if seen["items"] == after_items:
                _die()
            original_remove(blobs, item)

        import service.jobs.worker as worker_module

        setattr(worker_module, "remove_upload", remove_upload)  # noqa: B010


def main(argv: list[str]) -> None:
    """``python -m tests.support.jobs DATA_DIR NAME [in_transaction|after_commit N]``"""
    data_dir, name = Path(argv[0]), argv[1]
    if len(argv) == 4:
        _kill_at(argv[2], int(argv[3]))
    ctx = start(job_settings(data_dir), analyser=SlowFakeAnalyser())
    worker = JobWorker(ctx, name=name)

    async def run() -> None:
        while True:
            if not await worker.run_once():
                await asyncio.sleep(0.05)

    asyncio.run(run())


if __name__ == "__main__":
    main(sys.argv[1:])
