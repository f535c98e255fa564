"""Batch jobs record each item exactly once: across lease expiry, worker crashes (SIGKILL
from outside, inside the recording transaction, right after its commit) and items that
keep killing their worker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import ColumnElement, func, select

from indexer.settings import PROJECT_ROOT
from service.core.tables.alerts import Alert
from service.core.tables.jobs import Job, JobItem
from service.core.tables.scanning import Scan
from service.jobs.queue import (
    MAX_ITEM_ATTEMPTS,
    ClaimedItem,
    ItemStatus,
    JobStatus,
    claim_next_item,
    fail_item,
)
from service.jobs.worker import JobWorker
from service.scanning.scan import run_scan
from service.scanning.types import ImageSource
from tests.support.fakes import face_photo
from tests.support.jobs import (
    LEASE_S,
    TALENT_IDENTITY,
    JobWorld,
    drain_until_done,
    open_job_world,
    submit_job,
)

PROJECT = PROJECT_ROOT


@pytest.fixture
def world(tmp_path: Path) -> Iterator[JobWorld]:
    built = open_job_world(tmp_path)
    yield built
    built.ctx.close()


def talent_photo(seed: int = 3) -> bytes:
    return face_photo([(TALENT_IDENTITY, 100)], seed=seed)


def count(world: JobWorld, model: type[Scan] | type[JobItem], *where: ColumnElement[bool]) -> int:
    with world.ctx.db.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def the_alert(world: JobWorld) -> Alert:
    with world.ctx.db.session() as session:
        [alert] = session.scalars(select(Alert))
        return alert


def test_a_rerun_after_the_lease_expired_finds_the_item_done(world: JobWorld) -> None:
    job_id = submit_job(world, [talent_photo()])
    slow = claim_next_item(world.ctx.db, worker_id="slow", lease_s=LEASE_S)
    assert slow is not None
    time.sleep(LEASE_S + 0.1)
    rerun = claim_next_item(world.ctx.db, worker_id="rerun", lease_s=LEASE_S)
    assert rerun is not None and rerun.item_id == slow.item_id and rerun.attempt == 2

    async def scan(item_worker: str) -> int:
        item = slow if item_worker == "slow" else rerun
        assert item is not None and item.upload_path is not None
        return await run_scan(
            pipeline=world.ctx.pipeline(),
            principal=item.principal,
            kind=item.kind,
            source=ImageSource(data=world.ctx.blobs.get(item.upload_path)),
            context=item.context,
            job=item.link(item_worker),
        )

    first = asyncio.run(scan("rerun"))
    second = asyncio.run(scan("slow"))  # the worker whose lease expired wakes up and finishes
    assert first == second
    assert count(world, Scan) == 1 and the_alert(world).sightings == 1
    with world.ctx.db.session() as session:
        item = session.get(JobItem, slow.item_id)
        job = session.get(Job, job_id)
        assert item is not None and job is not None
        assert (item.status, item.scan_id) == (ItemStatus.DONE, first)
        assert job.status == JobStatus.DONE
    assert claim_next_item(world.ctx.db, worker_id="third", lease_s=0) is None


def test_a_failure_reported_late_does_not_undo_a_recorded_item(world: JobWorld) -> None:
    submit_job(world, [talent_photo()])
    slow = claim_next_item(world.ctx.db, worker_id="slow", lease_s=LEASE_S)
    assert slow is not None
    time.sleep(LEASE_S + 0.1)
    asyncio.run(JobWorker(world.ctx, name="rerun").run_once())
    fail_item(world.ctx.db, item=slow, error={"code": "late", "message": "late"}, worker_id="slow")
    assert count(world, JobItem, JobItem.status == ItemStatus.DONE) == 1


def test_an_item_that_keeps_killing_its_worker_fails_with_a_reason(world: JobWorld) -> None:
    job_id = submit_job(world, [talent_photo(), talent_photo(4)])
    first_item = None
    for attempt in range(1, MAX_ITEM_ATTEMPTS + 1):
        claimed = claim_next_item(world.ctx.db, worker_id=f"doomed-{attempt}", lease_s=0.05)
        assert claimed is not None and claimed.attempt == attempt
        first_item = first_item or claimed.item_id
        assert claimed.item_id == first_item
        time.sleep(0.1)  # the worker dies: its lease runs out
    # The next claim fails the exhausted item and hands out the other one instead.
    other = claim_next_item(world.ctx.db, worker_id="healthy", lease_s=0.05)
    assert other is not None and other.item_id != first_item
    with world.ctx.db.session() as session:
        item = session.get(JobItem, first_item)
        assert item is not None and item.status == ItemStatus.FAILED
        assert item.error is not None
        assert item.error["code"] == "job_item_attempts_exhausted"
        assert item.error["details"] == {"attempts": MAX_ITEM_ATTEMPTS}
    drain_until_done(world, job_id, name="healthy")
    assert count(world, Scan) == 1


def _worker(data_dir: Path, name: str, *kill: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.jobs", str(data_dir), name, *kill],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_for_done_items(
    world: JobWorld, at_least: int, process: subprocess.Popen[bytes], timeout_s: float = 120
) -> None:
    deadline = time.monotonic() + timeout_s
    while count(world, JobItem, JobItem.status == ItemStatus.DONE) < at_least:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "worker process made no progress"
        time.sleep(0.02)


def test_sigkilled_workers_leave_exactly_one_scan_per_item(world: JobWorld, tmp_path: Path) -> None:
    items = 71
    job_id = submit_job(world, [talent_photo()] * items)
    # 1. killed from outside at whatever point it has reached
    outside = _worker(tmp_path, "outside")
    _wait_for_done_items(world, 10, outside)
    outside.send_signal(signal.SIGKILL)
    assert outside.wait(timeout=30) == -signal.SIGKILL
    # 2. killed inside the recording transaction, before its commit
    # 3. killed right after the commit, before the worker's own bookkeeping
    for name, where in (("in-transaction", "in_transaction"), ("after-commit", "after_commit")):
        process = _worker(tmp_path, name, where, "5")
        assert process.wait(timeout=120) == -signal.SIGKILL, (
            process.stderr.read() if process.stderr else ""
        )
    assert count(world, JobItem, JobItem.status == ItemStatus.DONE) < items
    drain_until_done(world, job_id, name="survivor")

    assert count(world, JobItem, JobItem.status == ItemStatus.DONE) == items
    assert count(world, Scan) == items
    with world.ctx.db.session() as session:
        item_scans = session.execute(
            select(JobItem.scan_id, Scan.job_item_id, JobItem.id).join(
                Scan, Scan.id == JobItem.scan_id
            )
        ).all()
    assert len(item_scans) == items
    assert all(scan_item == item_id for _, scan_item, item_id in item_scans)
    assert the_alert(world).sightings == items


# --- any interleaving of claims, steals (expired leases), results and failures ----------------
OPS = st.lists(
    st.tuples(st.sampled_from(["claim", "steal", "record", "fail"]), st.integers(0, 2)),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_no_interleaving_records_an_item_twice(world: JobWorld, ops: list[tuple[str, int]]) -> None:
    job_id = submit_job(world, [talent_photo(seed) for seed in range(3)])
    held: dict[str, ClaimedItem] = {}
    for op, worker in ops:
        name = f"w{worker}"
        if op in ("claim", "steal") and name not in held:
            claimed = claim_next_item(
                world.ctx.db, worker_id=name, lease_s=0 if op == "steal" else 3600
            )
            if claimed is not None and claimed.job_id == job_id:
                held[name] = claimed
        elif op == "record" and name in held:
            item = held.pop(name)
            assert item.upload_path is not None
            asyncio.run(
                run_scan(
                    pipeline=world.ctx.pipeline(),
                    principal=item.principal,
                    kind=item.kind,
                    context=item.context,
                    job=item.link(name),
                    source=ImageSource(data=talent_photo(item.item_id)),
                )
            )
        elif op == "fail" and name in held:
            fail_item(
                world.ctx.db,
                item=held.pop(name),
                error={"code": "x", "message": "x"},
                worker_id=name,
            )
    with world.ctx.db.session() as session:
        items = list(session.scalars(select(JobItem).where(JobItem.job_id == job_id)))
        job = session.get(Job, job_id)
        assert job is not None
        for row in items:
            scans = list(session.scalars(select(Scan).where(Scan.job_item_id == row.id)))
            assert len(scans) <= 1
            assert (row.status == ItemStatus.DONE) == bool(scans)
            if scans:
                assert row.scan_id == scans[0].id
            assert row.attempts <= MAX_ITEM_ATTEMPTS
        pending = [i for i in items if i.status in (ItemStatus.QUEUED, ItemStatus.RUNNING)]
        assert (job.status == JobStatus.DONE) == (not pending)
    # Drain it so the next example starts from an empty queue.
    drain_until_done(world, job_id, name="drain")
