"""Batch jobs: many uploads or URLs, claimed item by item by any number of workers.

Items are claimed with a conditional UPDATE (and ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL), so two workers never take the same item; a claim is a lease, so items held by
a worker that died are taken again once the lease runs out, at most ``MAX_ITEM_ATTEMPTS``
times: an item that keeps killing its worker fails with a reason instead. An item's scan is
recorded and the item finished in one transaction, keyed by the item, so a re-run never
records it twice. Jobs survive restarts.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from indexer.blobs import BlobStore
from indexer.blobs.layout import JOB_UPLOADS
from indexer.db import Database, claim_oldest, rows_changed, utcnow
from service.core.errors import InvalidRequestError
from service.core.principal import Principal, Role
from service.core.schemas import Page
from service.core.tables.access import ApiKey
from service.core.tables.jobs import Job, JobCallback, JobItem
from service.jobs.errors import JobItemAttemptsExhaustedError
from service.jobs.items import ItemContext
from service.jobs.schemas import CallbackOut, JobFinishedEvent, JobItemOut, JobOut, SkippedRecordOut
from service.rules.vocabulary import AiLabel, Medium, ScanKind
from service.scanning.types import AlertOutcome, JobLink, UseContext

log = logging.getLogger(__name__)


MAX_ITEM_ATTEMPTS = 3


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


# The items a job's answer (and its completion callback) lists inline; every item is paged
# at GET /v1/jobs/{id}/items. A batch holds at most 100 by default, a crawl up to 10,000.
ITEMS_SHOWN = 100


class ItemStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


PENDING = (ItemStatus.QUEUED, ItemStatus.RUNNING)


@dataclass(frozen=True)
class BatchItem:
    """An item with its own name and context, e.g. an image response of a crawl: staged in
    the blob store (``upload_path``, a key in the batch's folder) and/or known by its URL."""

    name: str
    upload_path: str | None = None
    url: str | None = None
    context: ItemContext | None = None


@dataclass(frozen=True)
class JobCallbackSpec:
    """Where to announce the job's completion, and the secret that signs the call."""

    url: str
    secret: str


@dataclass(frozen=True)
class BatchInput:
    uploads: list[tuple[str, str]]  # (name, blob key) already staged, in ``folder``
    urls: list[str]
    folder: str | None = None  # the batch's blob prefix (``job-uploads/<batch>/``)
    contexts: Mapping[str, ItemContext] = field(default_factory=dict)  # by item name
    items: list[BatchItem] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)  # crawl records not taken

    @property
    def total(self) -> int:
        return len(self.uploads) + len(self.urls) + len(self.items)

    def rows(self, job_id: int) -> list[JobItem]:
        """One job item per upload, URL and named item, each with its own context."""

        def stated(name: str, own: ItemContext | None = None) -> dict[str, Any] | None:
            context = own or self.contexts.get(name)
            return context.to_json() if context is not None and not context.is_empty() else None

        rows = [
            JobItem(job_id=job_id, upload_name=name, upload_path=key, context=stated(name))
            for name, key in self.uploads
        ]
        rows += [JobItem(job_id=job_id, source_url=url, context=stated(url)) for url in self.urls]
        rows += [
            JobItem(
                job_id=job_id,
                source_url=item.url,
                upload_name=None if item.url else item.name[:300],
                upload_path=item.upload_path,
                context=stated(item.name, item.context),
            )
            for item in self.items
        ]
        for position, row in enumerate(rows):
            row.position = position
        return rows


def context_json(context: UseContext) -> dict[str, Any]:
    return {
        "page_url": context.page_url,
        "publisher": context.publisher,
        "observed_at": context.observed_at.isoformat(),
        "channel": context.channel,
        "territory": context.territory,
        "use_until": context.use_until.isoformat() if context.use_until else None,
        "medium": context.medium,
        "ai_label": context.ai_label,
    }


def context_from_json(raw: dict[str, Any]) -> UseContext:
    return UseContext(
        page_url=raw["page_url"],
        publisher=raw["publisher"],
        observed_at=datetime.fromisoformat(raw["observed_at"]),
        channel=raw["channel"],
        territory=raw["territory"],
        use_until=datetime.fromisoformat(raw["use_until"]) if raw.get("use_until") else None,
        medium=Medium(raw["medium"]) if raw.get("medium") else None,
        ai_label=AiLabel(raw["ai_label"]) if raw.get("ai_label") else None,
    )


def create_job(
    *,
    db: Database,
    principal: Principal,
    kind: ScanKind,
    batch: BatchInput,
    context: UseContext,
    max_items: int,
    blobs: BlobStore,
    callback: JobCallbackSpec | None = None,
) -> int:
    """Queue the batch's items; on any failure its staged blobs are deleted."""
    total = batch.total
    try:
        if total == 0:
            raise InvalidRequestError("A batch needs at least one file (`files`) or URL (`urls`).")
        if total > max_items:
            raise InvalidRequestError(
                f"A batch holds at most {max_items} items; got {total}.", max_items=max_items
            )
        with db.session() as session:
            job = Job(
                kind=kind,
                owner_key_id=principal.key_id,
                monitor_id=principal.monitor_id,
                brand_id=principal.brand_id,
                context=context_json(context),
                total=total,
                callback_url=callback.url if callback else None,
                callback_secret=callback.secret if callback else None,
                skipped=batch.skipped or None,
            )
            session.add(job)
            session.flush()
            session.add_all(batch.rows(job.id))
            return job.id
    except BaseException:
        if batch.folder is not None:
            blobs.delete_prefix(batch.folder)
        raise


def staging_folder() -> str:
    """A new batch's blob prefix: ``job-uploads/<random>/``."""
    return f"{JOB_UPLOADS}/{uuid.uuid4().hex}/"


def upload_key(stored: str) -> str:
    """The blob key of an item's staged upload (rows written before the blob store held an
    absolute path under ``<data_dir>/job-uploads/``, which is the same key)."""
    marker = f"/{JOB_UPLOADS}/"
    if stored.startswith("/") and marker in stored:
        return JOB_UPLOADS + "/" + stored.split(marker, 1)[1]
    return stored


def reconcile_uploads(db: Database, blobs: BlobStore, *, grace_s: float) -> int:
    """Delete staged uploads no pending item points at (left by a crash before the commit),
    once older than ``grace_s`` (a younger batch may be about to be committed by another
    process). Returns how many blobs went."""
    cutoff = datetime.now(UTC) - timedelta(seconds=grace_s)
    with db.session() as session:
        wanted = {
            upload_key(p).rsplit("/", 1)[0]
            for p in session.scalars(select(JobItem.upload_path).where(JobItem.status.in_(PENDING)))
            if p is not None
        }
    removed = 0
    for info in blobs.list(f"{JOB_UPLOADS}/"):
        if info.key.rsplit("/", 1)[0] not in wanted and info.modified <= cutoff:
            blobs.delete(info.key)
            removed += 1
    if removed:
        log.warning("removed %d staged uploads no pending job item names", removed)
    return removed


# --- workers --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClaimedItem:
    item_id: int
    job_id: int
    kind: ScanKind
    upload_path: str | None
    source_url: str | None
    context: UseContext
    principal: Principal
    attempt: int
    waited_s: float = 0.0  # from the job's submission to this claim

    def link(self, worker_id: str) -> JobLink:
        """What the scan needs to finish this item in its own transaction."""

        def complete(
            session: Session, scan_id: int, outcome: AlertOutcome = AlertOutcome.NONE
        ) -> None:
            complete_item(session, item=self, scan_id=scan_id, worker_id=worker_id, outcome=outcome)

        return JobLink(job_id=self.job_id, item_id=self.item_id, complete=complete)


def claim_next_item(
    db: Database, *, worker_id: str, lease_s: float, max_attempts: int = MAX_ITEM_ATTEMPTS
) -> ClaimedItem | None:
    """Take the oldest queued item (or one whose lease ran out); None if there is none.

    An expired item that has already been claimed ``max_attempts`` times is failed instead
    (its worker died on it every time), so it can never be claimed forever.
    """
    now = utcnow()
    expired = (JobItem.status == ItemStatus.RUNNING) & (
        JobItem.claimed_at < now - timedelta(seconds=lease_s)
    )
    claimable = or_(
        JobItem.status == ItemStatus.QUEUED, expired & (JobItem.attempts < max_attempts)
    )
    with db.session() as session:
        _fail_exhausted(session, expired & (JobItem.attempts >= max_attempts), max_attempts)
        values = {
            "status": ItemStatus.RUNNING,
            "claimed_by": worker_id,
            "claimed_at": now,
            "attempts": JobItem.attempts + 1,
        }
        candidate = claim_oldest(session, JobItem, claimable, values)
        if candidate is None:
            return None  # none queued, or another worker won the race: try on the next poll
        item = session.get(JobItem, candidate)
        assert item is not None
        job = session.get(Job, item.job_id)
        assert job is not None
        if job.status == JobStatus.QUEUED:
            job.status = JobStatus.RUNNING
        context = context_from_json(job.context)
        if item.context:
            context = ItemContext.from_json(item.context).over(context)
        return ClaimedItem(
            item.id,
            job.id,
            ScanKind(job.kind),
            upload_key(item.upload_path) if item.upload_path else None,
            item.source_url,
            context,
            _job_principal(session, job),
            item.attempts,
            max(0.0, (now - _aware(job.created_at)).total_seconds()),
        )


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive UTC timestamps."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def queue_depth(db: Database) -> dict[str, int]:
    """Items queued and running across the installation (the workers' autoscaling signal)."""
    with db.session() as session:
        rows = session.execute(
            select(JobItem.status, func.count())
            .where(JobItem.status.in_(PENDING))
            .group_by(JobItem.status)
        ).all()
    counts = {str(status): int(count) for status, count in rows}
    return {status.value: counts.get(status.value, 0) for status in PENDING}


def _fail_exhausted(session: Session, exhausted: Any, max_attempts: int) -> None:
    rows = session.execute(
        select(JobItem.id, JobItem.job_id).where(exhausted).with_for_update(skip_locked=True)
    ).all()
    for item_id, job_id in rows:
        error = JobItemAttemptsExhaustedError(
            f"The item was claimed {max_attempts} times and its worker stopped each time "
            "before finishing it; it is not retried again.",
            attempts=max_attempts,
        )
        if rows_changed(
            session,
            update(JobItem)
            .where(JobItem.id == item_id, exhausted)
            .values(status=ItemStatus.FAILED, error=error.to_dict()),
        ):
            log.warning("job item %d failed after %d attempts", item_id, max_attempts)
            _finish_job_if_complete(session, job_id)


def _job_principal(session: Session, job: Job) -> Principal:
    key = session.get(ApiKey, job.owner_key_id) if job.owner_key_id else None
    role = Role(key.role) if key else (Role.BRAND if job.brand_id else Role.MONITOR)
    # no key when a console user submitted the job (or its key was deleted): the scan's
    # owner_key_id is then NULL, never a key id that does not exist
    return Principal(
        key_id=job.owner_key_id,
        key_prefix=key.prefix if key else "job",
        role=role,
        monitor_id=job.monitor_id,
        brand_id=job.brand_id,
    )


def complete_item(
    session: Session,
    *,
    item: ClaimedItem,
    scan_id: int,
    worker_id: str,
    outcome: AlertOutcome = AlertOutcome.NONE,
) -> None:
    """Mark the item done with its scan, inside the transaction that records the scan.

    Whoever records the item's (unique) scan finishes it, even if its lease ran out
    meanwhile: the scan exists, so the item is done."""
    row = session.get(JobItem, item.item_id, with_for_update=True)
    assert row is not None
    if row.claimed_by != worker_id:
        log.info(
            "job item %d finished by %s after its lease passed to %s",
            item.item_id,
            worker_id,
            row.claimed_by,
        )
    row.status, row.scan_id, row.error = ItemStatus.DONE, scan_id, None
    row.alert_outcome = outcome
    _finish_job_if_complete(session, item.job_id)


def fail_item(db: Database, *, item: ClaimedItem, error: dict[str, Any], worker_id: str) -> None:
    """Record why an item could not be scanned (unless it is no longer ours to finish)."""
    with db.session() as session:
        failed = rows_changed(
            session,
            update(JobItem)
            .where(
                JobItem.id == item.item_id,
                JobItem.claimed_by == worker_id,
                JobItem.status == ItemStatus.RUNNING,
            )
            .values(status=ItemStatus.FAILED, error=error),
        )
        if failed:
            _finish_job_if_complete(session, item.job_id)


def remove_upload(blobs: BlobStore, item: ClaimedItem) -> None:
    """Delete a finished item's staged upload (start-up removes any a crash left behind)."""
    if item.upload_path:
        blobs.delete(item.upload_path)


def finish_job_if_complete(db: Database, job_id: int) -> None:
    """Run by a worker after its item's transaction committed. Two workers finishing a job's
    last two items at once each count the other's item as still running inside their own
    transactions (PostgreSQL, READ COMMITTED), so neither finishes the job there; this check
    after the commit sees both (the later one's check always does). Locking the job inside
    the item's transaction instead deadlocks with the alert rows that recording locks."""
    with db.session() as session:
        _finish_job_if_complete(session, job_id)


def _finish_job_if_complete(session: Session, job_id: int) -> None:
    remaining = session.scalar(
        select(func.count())
        .select_from(JobItem)
        .where(JobItem.job_id == job_id, JobItem.status.in_(PENDING))
    )
    if not remaining:
        job = session.get(Job, job_id, with_for_update=True)
        assert job is not None
        if job.status != JobStatus.DONE:
            job.status, job.finished_at = JobStatus.DONE, utcnow()
            _enqueue_callback(session, job)


def _enqueue_callback(session: Session, job: Job) -> None:
    """The completion callback's outbox row, in the transaction that finishes the job: it is
    written once (unique per job) and delivered by service.jobs.callbacks."""
    if job.callback_url is None:
        return
    session.flush()
    payload = JobFinishedEvent(job=job_out(session, job)).model_dump_json()
    session.add(JobCallback(job_id=job.id, payload=payload))


def release_item(db: Database, *, item: ClaimedItem, worker_id: str) -> None:
    """Give an item back untouched (e.g. the service is overloaded right now)."""
    with db.session() as session:
        session.execute(
            update(JobItem)
            .where(
                JobItem.id == item.item_id,
                JobItem.claimed_by == worker_id,
                JobItem.status == ItemStatus.RUNNING,
            )
            .values(
                status=ItemStatus.QUEUED,
                claimed_by=None,
                claimed_at=None,
                attempts=JobItem.attempts - 1,
            )
        )


def job_out(session: Session, job: Job, *, items_offset: int = 0) -> JobOut:
    """The job's counts, callback and skipped records, and ``ITEMS_SHOWN`` of its items from
    ``items_offset`` (a crawl job may hold thousands; ``job_items_page`` pages them all)."""
    counts = dict(
        session.execute(
            select(JobItem.status, func.count())
            .where(JobItem.job_id == job.id)
            .group_by(JobItem.status)
        ).all()
    )
    items = session.scalars(
        select(JobItem)
        .where(JobItem.job_id == job.id)
        .order_by(JobItem.position)
        .offset(items_offset)
        .limit(ITEMS_SHOWN)
    )
    return JobOut(
        id=job.id,
        kind=job.kind,
        status=job.status,
        total=job.total,
        queued=counts.get(ItemStatus.QUEUED, 0),
        running=counts.get(ItemStatus.RUNNING, 0),
        done=counts.get(ItemStatus.DONE, 0),
        failed=counts.get(ItemStatus.FAILED, 0),
        created_at=job.created_at,
        finished_at=job.finished_at,
        items=[_item_out(i) for i in items],
        callback=_callback_out(session, job),
        skipped=[SkippedRecordOut.model_validate(entry) for entry in job.skipped or []],
    )


def job_items_page(
    session: Session, job: Job, *, offset: int, limit: int, status: ItemStatus | None = None
) -> Page[JobItemOut]:
    """A page of the job's items by position, optionally only those in one status."""
    query = select(JobItem).where(JobItem.job_id == job.id)
    if status is not None:
        query = query.where(JobItem.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(JobItem.position).offset(offset).limit(limit))
    return Page[JobItemOut](
        items=[_item_out(row) for row in rows], total=total, offset=offset, limit=limit
    )


def _item_out(item: JobItem) -> JobItemOut:
    name = item.upload_name or item.source_url or f"item {item.position}"
    return JobItemOut(
        position=item.position,
        name=name,
        source=name,
        status=item.status,
        scan_id=item.scan_id,
        error=item.error,
        alert_outcome=AlertOutcome(item.alert_outcome) if item.alert_outcome else None,
        context=item.context,
    )


def _callback_out(session: Session, job: Job) -> CallbackOut | None:
    if job.callback_url is None:
        return None
    row = session.scalar(select(JobCallback).where(JobCallback.job_id == job.id))
    if row is None:
        return CallbackOut(
            url=job.callback_url,
            status="waiting",
            attempts=0,
            last_error=None,
            delivered_at=None,
            attempt_log=[],
        )
    return CallbackOut(
        url=job.callback_url,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        attempt_log=list(row.attempt_log or []),
    )
