"""Batch jobs: many uploads or URLs, claimed item by item by any number of workers.

Items are claimed with a conditional UPDATE (and ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL), so two workers never take the same item; a claim is a lease, so items held by
a worker that died are taken again once the lease runs out. Jobs survive restarts.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from indexer.db import Database, rows_changed, utcnow
from service.access.keys import Principal, Role
from service.errors import InvalidRequestError
from service.models import ApiKey, Job, JobItem
from service.scanning.types import UseContext
from service.schemas import JobOut


@dataclass(frozen=True)
class BatchInput:
    uploads: list[tuple[str, Path]]  # already staged on disk, in ``folder``
    urls: list[str]
    folder: Path | None = None


def context_json(context: UseContext) -> dict[str, Any]:
    return {"page_url": context.page_url, "publisher": context.publisher,
            "observed_at": context.observed_at.isoformat(), "channel": context.channel,
            "territory": context.territory,
            "use_until": context.use_until.isoformat() if context.use_until else None}


def context_from_json(raw: dict[str, Any]) -> UseContext:
    return UseContext(page_url=raw["page_url"], publisher=raw["publisher"],
                      observed_at=datetime.fromisoformat(raw["observed_at"]),
                      channel=raw["channel"], territory=raw["territory"],
                      use_until=datetime.fromisoformat(raw["use_until"])
                      if raw.get("use_until") else None)


def create_job(*, db: Database, principal: Principal, kind: str, batch: BatchInput,
               context: UseContext, max_items: int) -> int:
    total = len(batch.uploads) + len(batch.urls)
    try:
        if total == 0:
            raise InvalidRequestError("A batch needs at least one file (`files`) or URL "
                                      "(`urls`).")
        if total > max_items:
            raise InvalidRequestError(f"A batch holds at most {max_items} items; got {total}.",
                                      max_items=max_items)
        with db.session() as session:
            job = Job(kind=kind, owner_key_id=principal.key_id, monitor_id=principal.monitor_id,
                      brand_id=principal.brand_id, context=context_json(context), total=total)
            session.add(job)
            session.flush()
            items = [JobItem(job_id=job.id, position=n, upload_name=name, upload_path=str(path))
                     for n, (name, path) in enumerate(batch.uploads)]
            items += [JobItem(job_id=job.id, position=len(items) + n, source_url=url)
                      for n, url in enumerate(batch.urls)]
            session.add_all(items)
            return job.id
    except BaseException:
        if batch.folder is not None:
            shutil.rmtree(batch.folder, ignore_errors=True)
        raise


def staging_folder(uploads_dir: Path) -> Path:
    return uploads_dir / uuid.uuid4().hex


def reconcile_uploads(db: Database, uploads_dir: Path) -> int:
    """Delete staged uploads no pending item points at (left by a crash before the commit)."""
    if not uploads_dir.is_dir():
        return 0
    with db.session() as session:
        wanted = {Path(p).parent.name for p in session.scalars(
            select(JobItem.upload_path).where(JobItem.status.in_(("queued", "running"))))
            if p is not None}
    removed = 0
    for folder in uploads_dir.iterdir():
        if folder.is_dir() and folder.name not in wanted:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


# --- workers --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClaimedItem:
    item_id: int
    job_id: int
    kind: str
    upload_path: str | None
    source_url: str | None
    context: UseContext
    principal: Principal


def claim_next_item(db: Database, *, worker_id: str, lease_s: float) -> ClaimedItem | None:
    """Take the oldest queued item (or one whose lease ran out); None if there is none."""
    now = utcnow()
    claimable = or_(JobItem.status == "queued",
                    (JobItem.status == "running")
                    & (JobItem.claimed_at < now - timedelta(seconds=lease_s)))
    with db.session() as session:
        candidate = session.scalar(select(JobItem.id).where(claimable).order_by(JobItem.id)
                                   .limit(1).with_for_update(skip_locked=True))
        if candidate is None:
            return None
        claimed = rows_changed(session, update(JobItem).where(JobItem.id == candidate, claimable)
                               .values(status="running", claimed_by=worker_id, claimed_at=now,
                                       attempts=JobItem.attempts + 1))
        if claimed != 1:
            return None  # another worker won the race; try again on the next poll
        item = session.get(JobItem, candidate)
        assert item is not None
        job = session.get(Job, item.job_id)
        assert job is not None
        if job.status == "queued":
            job.status = "running"
        return ClaimedItem(item.id, job.id, job.kind, item.upload_path, item.source_url,
                           context_from_json(job.context), _job_principal(session, job))


def _job_principal(session: Session, job: Job) -> Principal:
    key = session.get(ApiKey, job.owner_key_id) if job.owner_key_id else None
    role = Role(key.role) if key else (Role.BRAND if job.brand_id else Role.MONITOR)
    return Principal(key_id=job.owner_key_id or 0, key_prefix=key.prefix if key else "job",
                     role=role, monitor_id=job.monitor_id, brand_id=job.brand_id)


def finish_item(db: Database, *, item: ClaimedItem, scan_id: int | None,
                error: dict[str, Any] | None, worker_id: str) -> None:
    with db.session() as session:
        row = session.get(JobItem, item.item_id)
        if row is None or row.claimed_by != worker_id:
            return  # our lease expired and someone else took it
        row.status = "done" if error is None else "failed"
        row.scan_id, row.error = scan_id, error
        upload = row.upload_path
        remaining = session.scalar(select(func.count()).select_from(JobItem).where(
            JobItem.job_id == item.job_id, JobItem.status.in_(("queued", "running"))))
        if not remaining:
            job = session.get(Job, item.job_id)
            assert job is not None
            job.status, job.finished_at = "done", utcnow()
    if upload:
        Path(upload).unlink(missing_ok=True)
        _remove_if_empty(Path(upload).parent)


def release_item(db: Database, *, item: ClaimedItem) -> None:
    """Give an item back untouched (e.g. the service is overloaded right now)."""
    with db.session() as session:
        session.execute(update(JobItem).where(JobItem.id == item.item_id)
                        .values(status="queued", claimed_by=None, claimed_at=None,
                                attempts=JobItem.attempts - 1))


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def job_out(session: Session, job: Job) -> JobOut:
    counts = dict(session.execute(select(JobItem.status, func.count())
                                  .where(JobItem.job_id == job.id).group_by(JobItem.status))
                  .all())
    items = session.scalars(select(JobItem).where(JobItem.job_id == job.id)
                            .order_by(JobItem.position))
    return JobOut(
        id=job.id, kind=job.kind, status=job.status, total=job.total,
        queued=counts.get("queued", 0), running=counts.get("running", 0),
        done=counts.get("done", 0), failed=counts.get("failed", 0), created_at=job.created_at,
        finished_at=job.finished_at,
        items=[{"position": i.position, "source": i.source_url or i.upload_name,
                "status": i.status, "scan_id": i.scan_id, "error": i.error} for i in items])
