"""What happened after a notice: sent (when, to whom), removed or still up, reappeared.

Only the transitions in :data:`ALLOWED` happen, each one recorded. "Removed" is checked,
not assumed: :func:`recheck` fetches every URL of the notice again through the SSRF-safe
fetcher and scans what it finds (without recording a sighting): the image's own URL when
the sighting was fetched by URL, else the page. A URL whose server answers 404 or 410, an
image URL that no longer serves an image, or an image that no longer shows the talent, is
removed; an image that still shows the talent is still up; anything else (a page that is
still up says nothing about the image; a timeout, a 5xx, a refused address) is unreachable
and decides nothing. A later sighting of the same image
(same sha256, or a pHash within :data:`NEAR_IDENTICAL_MAX_DISTANCE`) on any publisher
re-opens a removed case as reappeared (:func:`reopen_on_sighting`, called by recording).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from indexer.db import Database, Talent, utcnow
from indexer.errors import TwinwatchError
from indexer.matching import Band
from service.alerts.emails import compose, enqueue
from service.alerts.states import EmailKind
from service.core.errors import UrlFetchError, UrlFetchFailedError, UrlNotAnImageError
from service.core.fetching import fetch_image
from service.core.principal import Principal
from service.core.tables.scanning import Scan
from service.core.tables.takedowns import TakedownEvent, TakedownItem, TakedownNotice
from service.rules.fingerprints import (
    NEAR_IDENTICAL_MAX_DISTANCE,
    hamming_distance,
    is_perceptual_hash,
)
from service.scanning.scan import ScanPipeline, analyse_image, fetch_limits
from service.takedowns.errors import TakedownNotAllowedError
from service.takedowns.notices import notice_in_scope, notice_out, record_event
from service.takedowns.schemas import NoticeOut, NoticeSend
from service.takedowns.states import ItemState, NoticeStatus

log = logging.getLogger(__name__)

ALLOWED: dict[NoticeStatus, frozenset[NoticeStatus]] = {
    NoticeStatus.DRAFT: frozenset({NoticeStatus.FINAL}),
    NoticeStatus.FINAL: frozenset({NoticeStatus.SENT}),
    NoticeStatus.SENT: frozenset({NoticeStatus.REMOVED, NoticeStatus.STILL_UP}),
    NoticeStatus.STILL_UP: frozenset({NoticeStatus.REMOVED, NoticeStatus.SENT}),
    NoticeStatus.REMOVED: frozenset({NoticeStatus.REAPPEARED}),
    NoticeStatus.REAPPEARED: frozenset(
        {NoticeStatus.SENT, NoticeStatus.REMOVED, NoticeStatus.STILL_UP}
    ),
}
SENDABLE = frozenset(s for s, targets in ALLOWED.items() if NoticeStatus.SENT in targets)
CHECKABLE = frozenset(
    {NoticeStatus.SENT, NoticeStatus.STILL_UP, NoticeStatus.REMOVED, NoticeStatus.REAPPEARED}
)
GONE_STATUSES = frozenset({404, 410})
#: A re-check of a removed case that finds the image up again re-opens it.
AFTER_CHECK: dict[tuple[NoticeStatus, ItemState], NoticeStatus] = {
    (NoticeStatus.REMOVED, ItemState.STILL_UP): NoticeStatus.REAPPEARED,
}


def move(
    session: Session,
    notice: TakedownNotice,
    to: NoticeStatus,
    *,
    principal: Principal | None,
    note: str | None,
) -> bool:
    """Change the status along an allowed transition (recorded); False if already there."""
    current = NoticeStatus(notice.status)
    if current is to:
        return False
    if to not in ALLOWED[current]:
        raise TakedownNotAllowedError(
            f"Notice {notice.id} is {current.value.replace('_', ' ')}; it can become "
            f"{' or '.join(sorted(s.value.replace('_', ' ') for s in ALLOWED[current]))}, "
            f"not {to.value.replace('_', ' ')}."
        )
    record_event(session, notice, principal=principal, from_status=current, to_status=to, note=note)
    notice.status = to.value
    notice.updated_at = utcnow()
    if to in (NoticeStatus.REMOVED, NoticeStatus.REAPPEARED):
        _announce(session, notice, to)
    return True


def mark_sent(
    session: Session, *, principal: Principal, notice_id: int, body: NoticeSend, response_days: int
) -> NoticeOut:
    notice = notice_in_scope(session, principal=principal, notice_id=notice_id)
    if NoticeStatus(notice.status) not in SENDABLE:
        raise TakedownNotAllowedError(
            f"Notice {notice_id} is {notice.status.replace('_', ' ')}: only a final notice "
            "(or a case still up or reappeared) can be sent."
        )
    notice.sent_at = body.sent_at or utcnow()
    notice.sent_to = body.sent_to
    move(
        session,
        notice,
        NoticeStatus.SENT,
        principal=principal,
        note=f"sent to {body.sent_to}" + (f": {body.note}" if body.note else ""),
    )
    return notice_out(session, notice, response_days=response_days)


# --- the re-check ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckTarget:
    """A URL to re-check: the image's own URL when the sighting was fetched by URL, else
    the page (which can show the page is gone, not that the image is)."""

    item_id: int
    url: str | None
    is_image_url: bool


@dataclass(frozen=True)
class CheckResult:
    item_id: int
    state: ItemState
    detail: str


async def recheck(*, pipeline: ScanPipeline, principal: Principal, notice_id: int) -> NoticeOut:
    """Fetch and scan every URL of a sent notice again; the case becomes removed when every
    URL is gone, still up when one still shows the talent (reappeared if it was removed)."""
    db = pipeline.sink.db
    talent_id, targets = await run_in_threadpool(_targets, db, principal, notice_id)
    results = [await _check_one(pipeline, principal, talent_id, target) for target in targets]
    return await run_in_threadpool(
        _apply_results, db, principal, notice_id, results, pipeline.settings.takedown_response_days
    )


def _targets(db: Database, principal: Principal, notice_id: int) -> tuple[int, list[CheckTarget]]:
    with db.session() as session:
        notice = notice_in_scope(session, principal=principal, notice_id=notice_id)
        if NoticeStatus(notice.status) not in CHECKABLE:
            raise TakedownNotAllowedError(
                f"Notice {notice_id} is {notice.status.replace('_', ' ')}: only a sent notice "
                "can be checked for removal."
            )
        return notice.talent_id, [
            CheckTarget(i.id, i.image_url or i.page_url, is_image_url=i.image_url is not None)
            for i in notice.items
        ]


async def _check_one(
    pipeline: ScanPipeline, principal: Principal, talent_id: int, target: CheckTarget
) -> CheckResult:
    if target.url is None:
        return CheckResult(target.item_id, ItemState.UNREACHABLE, "no URL to check")
    settings = pipeline.settings
    try:
        fetched = await fetch_image(
            target.url,
            limits=fetch_limits(settings),
            allow_private_networks=settings.fetch_allow_private_networks,
        )
    except UrlFetchFailedError as exc:
        if exc.details.get("status") in GONE_STATUSES:
            return CheckResult(
                target.item_id, ItemState.REMOVED, f"the server answers {exc.details['status']}"
            )
        return CheckResult(target.item_id, ItemState.UNREACHABLE, exc.message)
    except UrlNotAnImageError:
        if not target.is_image_url:
            return CheckResult(
                target.item_id,
                ItemState.UNREACHABLE,
                "the page is still up; without the image's own URL the image "
                "cannot be checked (scan it again by URL)",
            )
        return CheckResult(target.item_id, ItemState.REMOVED, "the URL no longer serves an image")
    except UrlFetchError as exc:
        return CheckResult(target.item_id, ItemState.UNREACHABLE, exc.message)
    try:
        with pipeline.gate.admitted(principal.key_id):
            analysis = await pipeline.gate.run(
                analyse_image,
                data=fetched.data,
                analyser=pipeline.analyser,
                index=pipeline.index,
                settings=settings,
            )
    except TwinwatchError as exc:
        return CheckResult(
            target.item_id, ItemState.UNREACHABLE, f"the image could not be scanned: {exc.message}"
        )
    digest = hashlib.sha256(fetched.data).hexdigest()[:16]
    if any(
        face.talent is not None
        and face.talent.talent_id == talent_id
        and face.band in (Band.MATCH, Band.POSSIBLE)
        for face in analysis.scan.faces
    ):
        return CheckResult(
            target.item_id,
            ItemState.STILL_UP,
            f"the image (sha256 {digest}…) still shows the talent",
        )
    return CheckResult(
        target.item_id,
        ItemState.REMOVED,
        f"the image there (sha256 {digest}…) no longer shows the talent",
    )


def _apply_results(
    db: Database,
    principal: Principal,
    notice_id: int,
    results: list[CheckResult],
    response_days: int,
) -> NoticeOut:
    now = utcnow()
    with db.session() as session:
        notice = notice_in_scope(session, principal=principal, notice_id=notice_id)
        by_id = {item.id: item for item in notice.items}
        for result in results:
            if (item := by_id.get(result.item_id)) is not None:
                item.state, item.check_detail, item.checked_at = (
                    result.state.value,
                    result.detail,
                    now,
                )
        notice.last_checked_at = now
        states = {result.state for result in results}
        current = NoticeStatus(notice.status)
        if ItemState.STILL_UP in states:
            target = AFTER_CHECK.get((current, ItemState.STILL_UP), NoticeStatus.STILL_UP)
        elif states == {ItemState.REMOVED}:
            target = NoticeStatus.REMOVED
        else:
            target = current  # something unreachable: nothing decided
        if target is not current and target in ALLOWED[current]:
            move(
                session,
                notice,
                target,
                principal=principal,
                note="; ".join(
                    f"{by_id[r.item_id].page_url or by_id[r.item_id].image_url}: {r.detail}"
                    for r in results
                    if r.item_id in by_id
                )[:2000],
            )
        return notice_out(session, notice, response_days=response_days)


# --- a sighting of a removed image ----------------------------------------------------------
def reopen_on_sighting(session: Session, scan: Scan) -> None:
    """Called in a sighting's transaction: a removed case whose image is seen again (same
    sha256, or a near-identical pHash) becomes reappeared."""
    rows = session.execute(
        select(TakedownItem, TakedownNotice)
        .join(TakedownNotice, TakedownNotice.id == TakedownItem.notice_id)
        .where(TakedownNotice.status == NoticeStatus.REMOVED.value)
    )
    for item, notice in rows:
        if not _same_image(item, scan) or notice.status != NoticeStatus.REMOVED.value:
            continue
        where = scan.page_url or scan.publisher or "an unknown page"
        item.state = ItemState.REAPPEARED.value
        item.check_detail = f"seen again on {where} ({_when(scan.observed_at)}, scan {scan.id})"
        item.checked_at = utcnow()
        move(
            session,
            notice,
            NoticeStatus.REAPPEARED,
            principal=None,
            note=f"the image was seen again on {where} (scan {scan.id})",
        )


def _same_image(item: TakedownItem, scan: Scan) -> bool:
    if item.image_sha256 == scan.image_sha256:
        return True
    if not (is_perceptual_hash(item.image_phash) and is_perceptual_hash(scan.image_phash)):
        return False
    assert item.image_phash is not None and scan.image_phash is not None
    return hamming_distance(item.image_phash, scan.image_phash) <= NEAR_IDENTICAL_MAX_DISTANCE


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _announce(session: Session, notice: TakedownNotice, status: NoticeStatus) -> None:
    """The agency's e-mail note on a confirmed removal or a reappearance (once per event)."""
    talent = session.get(Talent, notice.talent_id)
    name = talent.name if talent else "a talent"
    where = notice.publisher or "an unknown publisher"
    urls = [
        (
            f"URL {n}",
            f"{i.page_url or i.image_url or 'unknown'}: {i.state.replace('_', ' ')}"
            + (f" ({i.check_detail})" if i.check_detail else ""),
        )
        for n, i in enumerate(notice.items, start=1)
    ]
    if status is NoticeStatus.REMOVED:
        kind, title = EmailKind.REMOVAL_CONFIRMED, f"Removal confirmed: {name} on {where}"
        text = (
            f"A re-check found every URL of takedown notice {notice.id} removed: the "
            f"images of {name} are no longer published on {where}."
        )
    else:
        kind, title = EmailKind.REAPPEARED, f"Reappeared: {name} on {where}"
        text = (
            f"An image removed after takedown notice {notice.id} has been seen again. The "
            "case is re-opened; send the notice again or draft a new one."
        )
    count = sum(1 for _ in notice.items)
    enqueue(
        session,
        agency_id=notice.agency_id,
        kind=kind,
        event_key=f"notice:{notice.id}:{status.value}:{_event_number(session, notice)}",
        composed=compose(title, [text], [("Notice", str(notice.id)), ("URLs", str(count)), *urls]),
        talent_id=notice.talent_id,
    )


def _event_number(session: Session, notice: TakedownNotice) -> int:
    """How many history rows the notice has: each announced change is its own event."""
    session.flush()
    return len(
        list(session.scalars(select(TakedownEvent.id).where(TakedownEvent.notice_id == notice.id)))
    )
