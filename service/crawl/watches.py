"""Watches (issue 19): what a monitor registers to watch, its schedule, and its runs.

Schedules live in the database: a watch's ``next_run_at`` is its next slot. Any worker moves
a due watch to its next slot with a conditional UPDATE and adds that slot's run in the same
transaction (unique per watch and slot), so two workers never run one slot; slots missed
while nothing ran collapse into one run. Runs are claimed like job items, with a lease: a
run whose worker died is taken again, at most ``MAX_RUN_ATTEMPTS`` times.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from indexer.db import Database, Talent, claim_oldest, current_revision, rows_changed, utcnow
from indexer.errors import NotFoundError
from service.core.errors import InvalidRequestError
from service.core.fetching import Validators, check_url_syntax
from service.core.principal import Principal
from service.core.schemas import Page
from service.core.settings import ServiceSettings
from service.core.tables.jobs import Job, JobItem
from service.core.tables.licensing import Licence
from service.core.tables.watches import Watch, WatchDocument, WatchImage, WatchRun
from service.crawl.licence_watches import (
    licence_page_watches,
    note_still_published,
    watch_ended_licences,
)
from service.crawl.rules import (
    MAX_RUN_ATTEMPTS,
    PENDING_RUNS,
    RunStatus,
    RunTrigger,
    WatchKind,
)
from service.crawl.runs import Caps, CrawlOutcome, Remembered, RunPlan, url_key
from service.crawl.watch_schemas import RunOut, WatchIn, WatchOut, WatchPatch
from service.jobs.queue import BatchInput, ItemStatus, JobStatus, context_json
from service.licensing.publishers import stated_location, stated_page_url
from service.rules.vocabulary import ScanKind, channel_or_error, territory_or_error
from service.scanning.types import AlertOutcome, UseContext

log = logging.getLogger(__name__)


class WatchNotFoundError(NotFoundError):
    code = "watch_not_found"


class WatchOwnerError(InvalidRequestError):
    """Only a monitor's or an agency's key or account owns watches."""

    code = "watch_owner_required"


# --- the watch itself ---------------------------------------------------------------------
def _mine(watch: Watch, principal: Principal) -> bool:
    if principal.is_admin:
        return True
    if principal.monitor_id is not None:
        return watch.monitor_id == principal.monitor_id
    return principal.agency_id is not None and watch.agency_id == principal.agency_id


def _owned(session: Session, principal: Principal, watch_id: int) -> Watch:
    watch = session.get(Watch, watch_id)
    if watch is None or not _mine(watch, principal):
        raise WatchNotFoundError(f"No watch {watch_id}.", watch_id=watch_id)
    return watch


def _scope(query: Any, principal: Principal) -> Any:
    if principal.is_admin:
        return query
    if principal.monitor_id is not None:
        return query.where(Watch.monitor_id == principal.monitor_id)
    return query.where(Watch.agency_id == principal.agency_id, Watch.agency_id.is_not(None))


def _cap(asked: int | None, most: int) -> int:
    return most if asked is None else min(asked, most)


def create_watch(
    db: Database, principal: Principal, body: WatchIn, settings: ServiceSettings
) -> WatchOut:
    if principal.monitor_id is None and principal.agency_id is None:
        raise WatchOwnerError(
            "Watches belong to a monitor or an agency: use a monitor's or an agency's key."
        )
    check_url_syntax(body.url)
    url = stated_page_url(body.url, "url")
    assert url is not None
    with db.session() as session:
        watch = Watch(
            monitor_id=principal.monitor_id,
            agency_id=None if principal.monitor_id else principal.agency_id,
            owner_key_id=principal.key_id,
            url=url,
            kind=WatchKind(body.kind),
            every_hours=body.every_hours,
            channel=channel_or_error(body.channel).value if body.channel else None,
            territory=territory_or_error(body.territory) if body.territory else None,
            publisher=stated_location(body.publisher, "publisher"),
            max_pages=_cap(body.max_pages, settings.watch_max_pages),
            max_images=_cap(body.max_images, settings.watch_max_images),
            max_bytes=_cap(body.max_bytes, settings.watch_max_bytes),
            max_depth=_cap(body.max_depth, settings.watch_max_depth),
            next_run_at=utcnow(),
        )
        session.add(watch)
        session.flush()
        return watch_out(session, watch)


def update_watch(
    db: Database, principal: Principal, watch_id: int, body: WatchPatch, settings: ServiceSettings
) -> WatchOut:
    with db.session() as session:
        watch = _owned(session, principal, watch_id)
        given = body.model_dump(exclude_unset=True)
        if "channel" in given:
            watch.channel = channel_or_error(body.channel).value if body.channel else None
        if "territory" in given:
            watch.territory = territory_or_error(body.territory) if body.territory else None
        if body.every_hours is not None:
            watch.every_hours = body.every_hours
        if body.paused is not None:
            watch.paused = body.paused
            if not body.paused and watch.next_run_at < utcnow():
                watch.next_run_at = utcnow()
        most = {
            "max_pages": settings.watch_max_pages,
            "max_images": settings.watch_max_images,
            "max_bytes": settings.watch_max_bytes,
            "max_depth": settings.watch_max_depth,
        }
        for name, bound in most.items():
            if given.get(name) is not None:
                setattr(watch, name, min(given[name], bound))
        session.flush()
        return watch_out(session, watch)


def delete_watch(db: Database, principal: Principal, watch_id: int) -> None:
    with db.session() as session:
        session.delete(_owned(session, principal, watch_id))


def read_watch(db: Database, principal: Principal, watch_id: int) -> WatchOut:
    with db.session() as session:
        return watch_out(session, _owned(session, principal, watch_id))


def list_watches(db: Database, principal: Principal, *, offset: int, limit: int) -> Page[WatchOut]:
    with db.session() as session:
        query = _scope(select(Watch), principal)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(Watch.id).offset(offset).limit(limit))
        return Page[WatchOut](
            items=[watch_out(session, w) for w in rows], total=total, offset=offset, limit=limit
        )


def list_runs(
    db: Database, principal: Principal, watch_id: int, *, offset: int, limit: int
) -> Page[RunOut]:
    with db.session() as session:
        _owned(session, principal, watch_id)
        query = select(WatchRun).where(WatchRun.watch_id == watch_id)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(WatchRun.id.desc()).offset(offset).limit(limit))
        return Page[RunOut](
            items=[run_out(r) for r in rows], total=total, offset=offset, limit=limit
        )


def watch_licence(
    db: Database, principal: Principal, licence_id: int, settings: ServiceSettings
) -> list[WatchOut]:
    """Watch the pages where an ended (or revoked) licence's sightings were seen: its
    talent's agency only; each page once, however often this is asked."""
    with db.session() as session:
        licence = session.get(Licence, licence_id)
        talent = session.get(Talent, licence.talent_id) if licence is not None else None
        if (
            licence is None
            or talent is None
            or not (principal.is_admin or talent.agency_id == principal.agency_id)
        ):
            raise NotFoundError(f"No licence with id {licence_id}.", licence_id=licence_id)
        made = licence_page_watches(
            session,
            licence,
            agency_id=talent.agency_id,
            owner_key_id=principal.key_id,
            settings=settings,
        )
        return [watch_out(session, watch) for watch in made]


def run_now(db: Database, principal: Principal, watch_id: int) -> RunOut:
    """Queue a run now; a run of the watch still queued or crawling is answered instead."""
    with db.session() as session:
        watch = _owned(session, principal, watch_id)
        pending = session.scalar(
            select(WatchRun)
            .where(
                WatchRun.watch_id == watch.id,
                WatchRun.status.in_((RunStatus.QUEUED, RunStatus.CRAWLING)),
            )
            .order_by(WatchRun.id)
            .limit(1)
        )
        if pending is not None:
            return run_out(pending)
        run = WatchRun(watch_id=watch.id, slot=utcnow(), trigger=RunTrigger.MANUAL)
        session.add(run)
        session.flush()
        return run_out(run)


def run_out(run: WatchRun) -> RunOut:
    return RunOut(
        id=run.id,
        watch_id=run.watch_id,
        trigger=run.trigger,
        status=run.status,
        slot=run.slot,
        attempts=run.attempts,
        started_at=run.started_at,
        crawled_at=run.crawled_at,
        finished_at=run.finished_at,
        job_id=run.job_id,
        stats=dict(run.stats or {}),
        problems=list(run.problems or []),
    )


def watch_out(session: Session, watch: Watch) -> WatchOut:
    last = session.scalar(
        select(WatchRun).where(WatchRun.watch_id == watch.id).order_by(WatchRun.id.desc()).limit(1)
    )
    return WatchOut(
        id=watch.id,
        url=watch.url,
        kind=watch.kind,
        every_hours=watch.every_hours,
        channel=watch.channel,
        territory=watch.territory,
        publisher=watch.publisher,
        max_pages=watch.max_pages,
        max_images=watch.max_images,
        max_bytes=watch.max_bytes,
        max_depth=watch.max_depth,
        paused=watch.paused,
        next_run_at=watch.next_run_at,
        created_at=watch.created_at,
        licence_id=watch.licence_id,
        last_run=run_out(last) if last is not None else None,
    )


# --- schedules and claims -----------------------------------------------------------------
def next_slot(slot: datetime, every: timedelta, now: datetime) -> datetime:
    """The first slot of the grid ``slot + k * every`` after ``now`` (missed ones collapse)."""
    if slot > now:
        return slot
    missed = (now - slot) // every
    return slot + (missed + 1) * every


def schedule_due(
    db: Database,
    *,
    now: datetime | None = None,
    limit: int = 50,
    settings: ServiceSettings | None = None,
) -> int:
    """Queue one run for each due watch and move it to its next slot; how many. With
    ``settings``, ended licences are watched first when ``watch_ended_licences`` is on."""
    now = now or utcnow()
    queued = 0
    if settings is not None:
        with db.session() as session:
            watch_ended_licences(session, settings)
    with db.session() as session:
        due = session.execute(
            select(Watch.id, Watch.next_run_at, Watch.every_hours)
            .where(Watch.paused.is_(False), Watch.next_run_at <= now)
            .order_by(Watch.next_run_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for watch_id, slot, hours in due:
            moved = rows_changed(
                session,
                update(Watch)
                .where(Watch.id == watch_id, Watch.next_run_at == slot)
                .values(next_run_at=next_slot(slot, timedelta(hours=hours), now)),
            )
            if moved:
                session.add(WatchRun(watch_id=watch_id, slot=slot, trigger=RunTrigger.SCHEDULE))
                queued += 1
    return queued


@dataclass(frozen=True)
class ClaimedRun:
    plan: RunPlan
    context: UseContext
    monitor_id: int | None
    owner_key_id: int | None
    pack: str
    revision: int


def claim_next_run(
    db: Database, *, worker_id: str, lease_s: float, pack: str, settings: ServiceSettings
) -> ClaimedRun | None:
    """Take the oldest queued run (or one whose lease ran out); None if there is none."""
    now = utcnow()
    expired = (WatchRun.status == RunStatus.CRAWLING) & (
        WatchRun.claimed_at < now - timedelta(seconds=lease_s)
    )
    claimable = or_(
        WatchRun.status == RunStatus.QUEUED, expired & (WatchRun.attempts < MAX_RUN_ATTEMPTS)
    )
    with db.session() as session:
        session.execute(
            update(WatchRun)
            .where(expired, WatchRun.attempts >= MAX_RUN_ATTEMPTS)
            .values(status=RunStatus.FAILED, finished_at=now)
        )
        values = {
            "status": RunStatus.CRAWLING,
            "claimed_by": worker_id,
            "claimed_at": now,
            "started_at": now,
            "attempts": WatchRun.attempts + 1,
        }
        candidate = claim_oldest(session, WatchRun, claimable, values)
        if candidate is None:
            return None
        run = session.get(WatchRun, candidate)
        assert run is not None
        watch = session.get(Watch, run.watch_id)
        assert watch is not None
        return _claimed(session, run, watch, pack=pack, settings=settings)


def _claimed(
    session: Session, run: WatchRun, watch: Watch, *, pack: str, settings: ServiceSettings
) -> ClaimedRun:
    revision = current_revision(session, pack)
    caps = Caps(
        pages=watch.max_pages,
        images=watch.max_images,
        bytes=watch.max_bytes,
        depth=watch.max_depth,
        list_urls=settings.watch_max_sitemap_urls,
        html_bytes=settings.page_max_html_bytes,
        image_bytes=settings.max_upload_bytes,
    )
    plan = RunPlan(
        run_id=run.id,
        watch_id=watch.id,
        url=watch.url,
        kind=WatchKind(watch.kind),
        caps=caps,
        documents=_remembered_documents(session, watch.id),
        images=_remembered_images(session, watch.id, pack=pack, revision=revision),
    )
    context = UseContext(
        page_url=None,
        publisher=watch.publisher,
        observed_at=utcnow(),
        channel=watch.channel,
        territory=watch.territory,
    )
    return ClaimedRun(plan, context, watch.monitor_id, watch.owner_key_id, pack, revision)


def _remembered_documents(session: Session, watch_id: int) -> dict[str, Remembered]:
    rows = session.scalars(select(WatchDocument).where(WatchDocument.watch_id == watch_id))
    return {
        row.url: Remembered(
            Validators(row.etag, row.last_modified), links=row.links, images=row.images
        )
        for row in rows
    }


def _remembered_images(
    session: Session, watch_id: int, *, pack: str, revision: int
) -> dict[str, Remembered]:
    """Each image's validators and hash; ``current`` when it was scanned (or is queued)
    against this pack and gallery revision and its scan did not fail."""
    rows = session.execute(
        select(WatchImage, JobItem.status)
        .outerjoin(JobItem, JobItem.id == WatchImage.job_item_id)
        .where(WatchImage.watch_id == watch_id)
    ).all()
    return {
        image.url: Remembered(
            Validators(image.etag, image.last_modified),
            content_sha256=image.content_sha256,
            current=image.pack == pack
            and image.gallery_revision == revision
            and status != ItemStatus.FAILED,
        )
        for image, status in rows
    }


# --- what a crawl found ----------------------------------------------------------------------
def record_crawl(
    db: Database, *, claimed: ClaimedRun, outcome: CrawlOutcome, worker_id: str
) -> bool:
    """Commit a crawl in one transaction: the documents' and images' memory, the job that
    scans the new images, the run's report. False (and nothing written) if the run is no
    longer this worker's (its lease passed to another)."""
    plan = claimed.plan
    with db.session() as session:
        run = session.get(WatchRun, plan.run_id, with_for_update=True)
        assert run is not None
        if run.status != RunStatus.CRAWLING or run.claimed_by != worker_id:
            log.info("watch run %d is no longer %s's; its crawl is dropped", run.id, worker_id)
            outcome.blobs.delete_prefix(outcome.folder)
            return False
        _remember_documents(session, plan.watch_id, outcome)
        item_ids = _create_job(session, claimed, outcome, run)
        _remember_images(session, claimed, outcome, item_ids)
        run.stats = {**outcome.stats, "requests": outcome.stats.get("requests", 0)}
        run.problems = outcome.problems or None
        run.crawled_at = utcnow()
        if run.job_id is None:
            run.status, run.finished_at = RunStatus.DONE, run.crawled_at
        else:
            run.status = RunStatus.SCANNING
    if not outcome.items:
        outcome.blobs.delete_prefix(outcome.folder)
    return True


def _upsert(session: Session, table: Any, watch_id: int, url: str) -> Any:
    key = url_key(url)
    row = session.scalar(select(table).where(table.watch_id == watch_id, table.url_sha256 == key))
    if row is None:
        row = table(watch_id=watch_id, url_sha256=key, url=url)
        session.add(row)
    return row


def _remember_documents(session: Session, watch_id: int, outcome: CrawlOutcome) -> None:
    for seen in outcome.documents:
        row = _upsert(session, WatchDocument, watch_id, seen.url)
        row.etag, row.last_modified = seen.validators.etag, seen.validators.last_modified
        row.links, row.images, row.fetched_at = seen.links, seen.images, utcnow()


def _create_job(
    session: Session, claimed: ClaimedRun, outcome: CrawlOutcome, run: WatchRun
) -> list[int]:
    if not outcome.items:
        return []
    batch = BatchInput([], [], outcome.folder, items=outcome.items)
    job = Job(
        kind=ScanKind.SCAN,
        owner_key_id=claimed.owner_key_id,
        monitor_id=claimed.monitor_id,
        context=context_json(claimed.context),
        total=batch.total,
    )
    session.add(job)
    session.flush()
    rows = batch.rows(job.id)
    session.add_all(rows)
    session.flush()
    run.job_id = job.id
    return [row.id for row in rows]


def _remember_images(
    session: Session, claimed: ClaimedRun, outcome: CrawlOutcome, item_ids: list[int]
) -> None:
    for seen in outcome.images:
        row = _upsert(session, WatchImage, claimed.plan.watch_id, seen.url)
        row.etag, row.last_modified = seen.validators.etag, seen.validators.last_modified
        row.content_sha256, row.updated_at = seen.content_sha256, utcnow()
        if seen.position is not None:
            row.pack, row.gallery_revision = claimed.pack, claimed.revision
            row.job_item_id = item_ids[seen.position]


def finish_scanned_runs(db: Database) -> int:
    """Close the runs whose scan job is done, with what the scans found; how many."""
    finished = 0
    with db.session() as session:
        runs = session.scalars(
            select(WatchRun)
            .join(Job, Job.id == WatchRun.job_id)
            .where(WatchRun.status == RunStatus.SCANNING, Job.status == JobStatus.DONE)
            .with_for_update(skip_locked=True)
        ).all()
        for run in runs:
            counts = dict(
                session.execute(
                    select(JobItem.status, func.count())
                    .where(JobItem.job_id == run.job_id)
                    .group_by(JobItem.status)
                ).all()
            )
            sightings = session.scalar(
                select(func.count()).where(
                    JobItem.job_id == run.job_id, JobItem.alert_outcome == AlertOutcome.RAISED
                )
            )
            run.stats = {
                **(run.stats or {}),
                "images_scanned": counts.get(ItemStatus.DONE, 0),
                "images_failed": counts.get(ItemStatus.FAILED, 0),
                "new_sightings": sightings or 0,
            }
            watch = session.get(Watch, run.watch_id)
            if watch is not None and watch.licence_id is not None:
                note_still_published(session, run, watch)
            run.status, run.finished_at = RunStatus.DONE, utcnow()
            finished += 1
    return finished


def pending_runs(db: Database, watch_id: int) -> int:
    with db.session() as session:
        return (
            session.scalar(
                select(func.count()).where(
                    WatchRun.watch_id == watch_id, WatchRun.status.in_(PENDING_RUNS)
                )
            )
            or 0
        )
