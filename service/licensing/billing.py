"""Writing the usage ledger: the one place a licensed use is billed, or taken off again.

A **use** is one licence + image + publisher key (``uq_usage_dedup``); it is billed once,
however often it is seen, and each later sighting only counts on it.

- A sure (``match``) sighting of a licensed use is billed when the scan is recorded.
- A ``possible`` sighting is not: it raises an alert to review, and its use is billed when a
  reviewer says *same person* (:func:`bill_confirmed`, with the alert's id on the use), or
  when it is seen again on an alert a reviewer already confirmed. A use that is already on
  the ledger counts the possible sighting as one more sighting of it.
- Dismissing that alert as a false match (*not the same person*, or the triage action)
  takes the uses that rest on it off the ledger (:func:`reverse_confirmed`); a later
  *same person* after a reopen bills them again, once.

Inserts are ``INSERT ... ON CONFLICT DO NOTHING`` on the dedup key, so two transactions
billing the same use at once (a confirmation racing a scan, two reviewers) leave one row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from indexer.db import rows_changed
from service.core.tables.alerts import Alert, AlertSighting
from service.core.tables.licensing import UsageEvent
from service.core.tables.scanning import Finding, Scan
from service.rules.vocabulary import ScanKind, Verdict

log = logging.getLogger(__name__)
DEDUP_KEY = ("licence_id", "image_sha256", "publisher_key")


@dataclass(frozen=True)
class Use:
    """A licensed use as seen: which licence, which image, where, when."""

    licence_id: int
    talent_id: int
    image_sha256: str
    publisher_key: str
    publisher: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    scan_id: int | None
    sightings: int = 1
    alert_id: int | None = None  # billed on this alert's "same person"


def record_sighting(session: Session, use: Use, *, sure: bool) -> UsageEvent:
    """Bill the use if it is new, else count the sighting on it. A ``sure`` (``match``)
    sighting makes the use stand on its own, whatever alert it rested on."""
    event = _billed(session, use)
    if event is None:
        _insert_if_absent(session, use)
        created = _billed(session, use)
        assert created is not None
        return created
    event.sightings += use.sightings
    event.first_seen_at = min(event.first_seen_at, use.first_seen_at)
    event.last_seen_at = max(event.last_seen_at, use.last_seen_at)
    if sure:
        event.alert_id = None
    return event


def is_billed(session: Session, use: Use) -> bool:
    """Whether the use is on the ledger already (nothing written)."""
    return _billed(session, use) is not None


def count_if_billed(session: Session, use: Use) -> bool:
    """One more sighting of a use already on the ledger; False (nothing written) if it is
    not billed."""
    if not is_billed(session, use):
        return False
    record_sighting(session, use, sure=False)
    return True


def bill_confirmed(session: Session, alert: Alert) -> int:
    """A reviewer said the alert's face is the talent: bill every licensed sighting of it
    (one use per licence). Idempotent: a use already billed is left as it is."""
    billed = 0
    for use in _licensed_uses(session, alert):
        if _billed(session, use) is None and _insert_if_absent(session, use):
            billed += 1
    if billed:
        log.info("alert %d confirmed: %d use(s) billed", alert.id, billed)
    return billed


def reverse_confirmed(session: Session, alert_id: int) -> int:
    """The alert was a false match: the uses billed only on its confirmation go."""
    removed = rows_changed(session, delete(UsageEvent).where(UsageEvent.alert_id == alert_id))
    if removed:
        log.info("alert %d dismissed as a false match: %d use(s) taken off", alert_id, removed)
    return removed


def _licensed_uses(session: Session, alert: Alert) -> list[Use]:
    rows = session.execute(
        select(
            Finding.licence_id,
            func.count(),
            func.min(Scan.observed_at),
            func.max(Scan.observed_at),
            func.min(Scan.id),
        )
        .join(AlertSighting, AlertSighting.finding_id == Finding.id)
        .join(Scan, Scan.id == AlertSighting.scan_id)
        .where(
            AlertSighting.alert_id == alert.id,
            Finding.verdict == Verdict.LICENSED.value,
            Finding.licence_id.is_not(None),
            Scan.kind == ScanKind.SCAN.value,
        )
        .group_by(Finding.licence_id)
        .order_by(Finding.licence_id)
    ).all()
    return [
        Use(
            licence_id=licence_id,
            talent_id=alert.talent_id,
            image_sha256=alert.image_sha256,
            publisher_key=alert.publisher_key,
            publisher=alert.publisher,
            first_seen_at=first,
            last_seen_at=last,
            scan_id=scan_id,
            sightings=count,
            alert_id=alert.id,
        )
        for licence_id, count, first, last, scan_id in rows
        if licence_id is not None
    ]


def _billed(session: Session, use: Use) -> UsageEvent | None:
    return session.scalar(
        select(UsageEvent)
        .where(
            UsageEvent.licence_id == use.licence_id,
            UsageEvent.image_sha256 == use.image_sha256,
            UsageEvent.publisher_key == use.publisher_key,
        )
        .with_for_update()
    )


def _insert_if_absent(session: Session, use: Use) -> bool:
    """Insert the use's row unless its dedup key exists (committed or not: PostgreSQL waits
    for the other transaction); True if this call inserted it."""
    values: dict[str, Any] = {
        "licence_id": use.licence_id,
        "talent_id": use.talent_id,
        "image_sha256": use.image_sha256,
        "publisher_key": use.publisher_key,
        "publisher": use.publisher,
        "first_seen_at": use.first_seen_at,
        "last_seen_at": use.last_seen_at,
        "sightings": use.sightings,
        "scan_id": use.scan_id,
        "alert_id": use.alert_id,
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(UsageEvent).values(**values).on_conflict_do_nothing(index_elements=DEDUP_KEY)
    )
    return rows_changed(session, statement) == 1
