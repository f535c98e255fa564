"""Uses that outlive their licence (issue 19): when a licence ends or is revoked, the pages
where its licensed sightings were seen are watched (one click from the licence, or for every
ended licence when ``watch_ended_licences`` is on); a sighting there after the end raises
its alert as any unlicensed use does, and the alert says "licence N ended on <date>; still
published at <url>"."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from indexer.db import Talent, utcnow
from service.core.errors import InvalidRequestError
from service.core.settings import ServiceSettings
from service.core.tables.alerts import Alert, AlertSighting
from service.core.tables.jobs import JobItem
from service.core.tables.licensing import Licence, UsageEvent
from service.core.tables.scanning import Scan
from service.core.tables.watches import Watch, WatchRun
from service.crawl.rules import WatchKind

log = logging.getLogger(__name__)
PAGES_PER_LICENCE = 100
LICENCES_PER_TURN = 20
EVERY_HOURS = 24


class LicenceNotEndedError(InvalidRequestError):
    """Pages of a licence are watched for uses after its end: it has not ended yet."""

    code = "licence_not_ended"


def ended_on(licence: Licence, *, now: datetime) -> datetime | None:
    """When the licence stopped covering uses (revoked or past its end), else None."""
    ends = [when for when in (licence.revoked_at, licence.valid_until) if when is not None]
    ended = min(ends) if ends else None
    return ended if ended is not None and ended <= now else None


def licence_page_watches(
    session: Session,
    licence: Licence,
    *,
    agency_id: int,
    owner_key_id: int | None,
    settings: ServiceSettings,
) -> list[Watch]:
    """A page watch for each page where the licence's sightings were seen (made once)."""
    if ended_on(licence, now=utcnow()) is None:
        raise LicenceNotEndedError(
            f"Licence {licence.id} is still in force; its pages are watched once it ends.",
            licence_id=licence.id,
        )
    pages = session.scalars(
        select(Scan.page_url)
        .join(UsageEvent, UsageEvent.scan_id == Scan.id)
        .where(UsageEvent.licence_id == licence.id, Scan.page_url.is_not(None))
        .distinct()
        .limit(PAGES_PER_LICENCE)
    ).all()
    known = set(session.scalars(select(Watch.url).where(Watch.licence_id == licence.id)))
    for url in pages:
        if url is not None and url not in known:
            session.add(
                Watch(
                    agency_id=agency_id,
                    licence_id=licence.id,
                    owner_key_id=owner_key_id,
                    url=url,
                    kind=WatchKind.PAGE,
                    every_hours=EVERY_HOURS,
                    max_pages=1,
                    max_images=settings.page_max_images,
                    max_bytes=settings.watch_max_bytes,
                    max_depth=0,
                    next_run_at=utcnow(),
                )
            )
    session.flush()
    return list(
        session.scalars(select(Watch).where(Watch.licence_id == licence.id).order_by(Watch.id))
    )


def watch_ended_licences(session: Session, settings: ServiceSettings) -> int:
    """With ``watch_ended_licences`` on: watch the pages of ended licences not yet watched."""
    if not settings.watch_ended_licences:
        return 0
    now = utcnow()
    ended = session.execute(
        select(Licence, Talent.agency_id)
        .join(Talent, Talent.id == Licence.talent_id)
        .where(
            or_(Licence.revoked_at <= now, Licence.valid_until <= now),
            exists().where(UsageEvent.licence_id == Licence.id),
            ~exists().where(Watch.licence_id == Licence.id),
        )
        .limit(LICENCES_PER_TURN)
    ).all()
    for licence, agency_id in ended:
        licence_page_watches(
            session, licence, agency_id=agency_id, owner_key_id=None, settings=settings
        )
    return len(ended)


def note_still_published(session: Session, run: WatchRun, watch: Watch) -> int:
    """Say on each alert a licence watch's run raised or updated for the licence's talent
    that the use outlived the licence; how many alerts were told."""
    licence = session.get(Licence, watch.licence_id) if watch.licence_id else None
    ended = ended_on(licence, now=utcnow()) if licence is not None else None
    if licence is None or ended is None or run.job_id is None:
        return 0
    rows = session.execute(
        select(Alert, AlertSighting.page_url)
        .join(AlertSighting, AlertSighting.alert_id == Alert.id)
        .join(JobItem, JobItem.scan_id == AlertSighting.scan_id)
        .where(JobItem.job_id == run.job_id, Alert.talent_id == licence.talent_id)
    ).all()
    for alert, page_url in rows:
        note = (
            f"licence {licence.id} ended on {ended.date().isoformat()}; "
            f"still published at {page_url or watch.url}"
        )
        if note not in alert.reasons:
            alert.reasons = [*alert.reasons, note]
    return len(rows)
