"""The consent ledger: every consent event as an append-only entry of a hash chain, and
its verification (``twinwatch consent verify``).

Chains
======

One chain **per talent**. Each event carries ``prev_sha256``, the hash of the talent's
previous event (64 zeros for her first), and ``seq`` (1, 2, ... without gaps); the talent's
head (``consent_chains``: length and last hash) moves in the same transaction. Per talent,
because erasing a talent must remove every trace of her: her whole chain goes with her
(foreign keys cascade) and every other chain stays whole and verifiable, which a single
global chain could not survive. Appends for one talent are serialised by a lock on her
row (:mod:`service.licensing.locks`), so a chain never forks.

An event's hash
===============

``sha256`` is the hex sha256 of the event's canonical serialisation: UTF-8 JSON, sorted
keys, no insignificant whitespace, no ASCII escaping (as the licence terms,
:mod:`service.licensing.consent`), of::

    {"format": "twinwatch-consent-event/1", "talent_id", "seq", "licence_id", "record_id",
     "kind", "at" (ISO 8601 UTC, "...Z"), "terms_sha256",
     "actor": {"role", "user_id", "key_id"}, "detail": {...}, "prev_sha256"}

The exact terms (``terms``) are stored beside it; their sha256 must equal ``terms_sha256``.

What verification checks
========================

Per chain, in order: ``seq`` without gaps, each ``prev_sha256`` equal to the previous
event's hash, each hash equal to the hash of the event's content, each ``terms`` equal to
its sha256, and the head's length and hash equal to the last event's. Then every consent
record against the ledger: its creation, its confirmation and its withdrawal each have
their event, at the same instant, for the same terms and document. The first failure is
named; nothing is repaired.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from indexer.db import Talent
from service.core.principal import Principal
from service.core.tables.licensing import ConsentChain, ConsentEvent, ConsentRecord, Licence
from service.licensing import consent_mail
from service.licensing.locks import lock_row
from service.licensing.states import ConfirmedBy, ConsentEventKind, RecordStatus
from service.rules.vocabulary import ConsentMethod

log = logging.getLogger(__name__)

EVENT_FORMAT = "twinwatch-consent-event/1"
GENESIS = "0" * 64


# --- the canonical event --------------------------------------------------------------------
def instant(value: datetime) -> str:
    """ISO 8601 UTC with seconds, and microseconds only when there are any."""
    utc = value.astimezone(UTC)
    fraction = f".{utc.microsecond:06d}" if utc.microsecond else ""
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def event_document(event: ConsentEvent) -> dict[str, Any]:
    return {
        "format": EVENT_FORMAT,
        "talent_id": event.talent_id,
        "seq": event.seq,
        "licence_id": event.licence_id,
        "record_id": event.record_id,
        "kind": event.kind,
        "at": instant(event.at),
        "terms_sha256": event.terms_sha256,
        "actor": {
            "role": event.actor_role,
            "user_id": event.actor_user_id,
            "key_id": event.actor_key_id,
        },
        "detail": event.detail,
        "prev_sha256": event.prev_sha256,
    }


def canonical_event(event: ConsentEvent) -> str:
    return json.dumps(
        event_document(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def event_sha256(event: ConsentEvent) -> str:
    return hashlib.sha256(canonical_event(event).encode("utf-8")).hexdigest()


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- appending ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Terms:
    """The exact terms an event is about: their canonical text and its sha256."""

    text: str
    sha256: str


def lock_chain(session: Session, talent_id: int) -> None:
    """Serialise appends to the talent's chain (until the transaction ends)."""
    lock_row(session, Talent, talent_id, touch="name")


def append(
    session: Session,
    *,
    licence: Licence,
    kind: ConsentEventKind,
    actor: Principal,
    at: datetime,
    terms: Terms,
    record_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> ConsentEvent:
    """Add the event to the end of the licence's talent's chain, move the head, and queue
    the talent's e-mail about it (in this transaction)."""
    lock_chain(session, licence.talent_id)
    chain = session.scalars(
        select(ConsentChain)
        .where(ConsentChain.talent_id == licence.talent_id)
        .execution_options(populate_existing=True)
    ).one_or_none()
    event = ConsentEvent(
        talent_id=licence.talent_id,
        seq=chain.length + 1 if chain else 1,
        licence_id=licence.id,
        record_id=record_id,
        kind=kind.value,
        at=at,
        terms_sha256=terms.sha256,
        terms=terms.text,
        actor_role=actor.role.value,
        actor_user_id=actor.user_id,
        actor_key_id=actor.key_id or None,
        detail=detail or {},
        prev_sha256=chain.head_sha256 if chain else GENESIS,
    )
    event.sha256 = event_sha256(event)
    if chain is None:
        chain = ConsentChain(talent_id=licence.talent_id, length=0, head_sha256=GENESIS)
        session.add(chain)
    chain.length, chain.head_sha256, chain.updated_at = event.seq, event.sha256, at
    session.add(event)
    session.flush()
    log.info(
        "consent event: talent %d, seq %d, licence %d, %s",
        event.talent_id,
        event.seq,
        event.licence_id,
        event.kind,
    )
    consent_mail.enqueue(session, event=event, licence=licence)
    return event


def last_licence_event(session: Session, licence_id: int) -> ConsentEvent | None:
    return session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.licence_id == licence_id)
        .order_by(ConsentEvent.seq.desc())
        .limit(1)
    ).first()


# --- reading --------------------------------------------------------------------------------
def licence_events(session: Session, licence_id: int) -> list[ConsentEvent]:
    return list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.licence_id == licence_id)
            .order_by(ConsentEvent.seq)
        )
    )


def talent_events(
    session: Session, talent_id: int, *, offset: int, limit: int
) -> tuple[list[ConsentEvent], int]:
    """The talent's chain, newest first, with its length."""
    where = ConsentEvent.talent_id == talent_id
    total = session.scalar(select(func.count()).select_from(ConsentEvent).where(where)) or 0
    rows = session.scalars(
        select(ConsentEvent)
        .where(where)
        .order_by(ConsentEvent.seq.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows), total


def chain_head(session: Session, talent_id: int) -> ConsentChain | None:
    return session.scalars(
        select(ConsentChain).where(ConsentChain.talent_id == talent_id)
    ).one_or_none()


# --- verifying ------------------------------------------------------------------------------
@dataclass
class ChainHead:
    talent_id: int
    length: int
    head_sha256: str


@dataclass
class Verification:
    """The outcome: ``broken`` names the first broken link (None: the ledger holds)."""

    events: int = 0
    chains: list[ChainHead] = field(default_factory=list)
    broken: str | None = None
    broken_event_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


class _BrokenLinkError(Exception):
    def __init__(self, message: str, event_id: int | None = None) -> None:
        super().__init__(message)
        self.message, self.event_id = message, event_id


def verify(session: Session, *, talent_id: int | None = None) -> Verification:
    """Recompute every chain (or one talent's) and check every consent record against it
    (see the module)."""
    result = Verification()
    talents = _talents_with_consent(session) if talent_id is None else [talent_id]
    try:
        for talent in talents:
            events = _check_chain(session, talent)
            result.events += len(events)
            if events:
                result.chains.append(ChainHead(talent, len(events), events[-1].sha256))
            _check_records(session, talent, events)
    except _BrokenLinkError as broken:
        result.broken, result.broken_event_id = broken.message, broken.event_id
    return result


def _talents_with_consent(session: Session) -> list[int]:
    ids: set[int] = set()
    for column in (ConsentEvent.talent_id, ConsentChain.talent_id, ConsentRecord.talent_id):
        ids.update(session.scalars(select(column).distinct()))
    return sorted(ids)


def _where(event: ConsentEvent) -> str:
    return f"event {event.id} (talent {event.talent_id}, seq {event.seq}, {event.kind})"


def _check_chain(session: Session, talent_id: int) -> list[ConsentEvent]:
    events = list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.talent_id == talent_id)
            .order_by(ConsentEvent.seq, ConsentEvent.id)
        )
    )
    previous = GENESIS
    for expected, event in enumerate(events, start=1):
        _check_link(event, expected, previous)
        previous = event.sha256
    head = chain_head(session, talent_id)
    length, last = (len(events), previous)
    if head is None and events:
        raise _BrokenLinkError(f"talent {talent_id}: {length} event(s) but no chain head")
    if head is not None and (head.length, head.head_sha256) != (length, last):
        raise _BrokenLinkError(
            f"talent {talent_id}: the chain head says {head.length} event(s) ending in "
            f"{head.head_sha256[:16]}…, the chain has {length} ending in {last[:16]}…: "
            "its newest event(s) were removed or the head was changed"
        )
    return events


def _check_link(event: ConsentEvent, expected_seq: int, previous: str) -> None:
    if event.seq != expected_seq:
        raise _BrokenLinkError(
            f"{_where(event)}: expected seq {expected_seq}: an event before it is missing "
            "or the order was changed",
            event.id,
        )
    if event.prev_sha256 != previous:
        raise _BrokenLinkError(
            f"{_where(event)}: prev_sha256 {event.prev_sha256[:16]}… is not the hash of the "
            f"event before it ({previous[:16]}…)",
            event.id,
        )
    if text_sha256(event.terms) != event.terms_sha256:
        raise _BrokenLinkError(f"{_where(event)}: its terms do not match their sha256", event.id)
    if event_sha256(event) != event.sha256:
        raise _BrokenLinkError(
            f"{_where(event)}: its content does not match its hash (the row was changed)",
            event.id,
        )


_CREATED = {
    ConsentMethod.SIGNATURE.value: ConsentEventKind.SIGNED.value,
    ConsentMethod.DOCUMENT.value: ConsentEventKind.DOCUMENT_ATTESTED.value,
}
_CONFIRMED = {
    ConfirmedBy.TALENT.value: ConsentEventKind.CONFIRMED_BY_TALENT.value,
    ConfirmedBy.ADMIN.value: ConsentEventKind.VERIFIED_BY_ADMIN.value,
}


def _check_records(session: Session, talent_id: int, events: list[ConsentEvent]) -> None:
    by_record: dict[int, list[ConsentEvent]] = {}
    withdrawals: dict[int, list[ConsentEvent]] = {}
    for event in events:
        if event.record_id is not None:
            by_record.setdefault(event.record_id, []).append(event)
        if event.kind == ConsentEventKind.WITHDRAWN.value:
            listed = event.detail.get("records")
            for record_id in listed if isinstance(listed, list) else []:
                withdrawals.setdefault(int(record_id), []).append(event)
    records = session.scalars(
        select(ConsentRecord).where(ConsentRecord.talent_id == talent_id).order_by(ConsentRecord.id)
    )
    for record in records:
        for problem in _record_problems(record, by_record.get(record.id, []), withdrawals):
            raise _BrokenLinkError(f"consent record {record.id} (talent {talent_id}): {problem}")


def _record_problems(
    record: ConsentRecord, own: list[ConsentEvent], withdrawals: dict[int, list[ConsentEvent]]
) -> Iterator[str]:
    if text_sha256(record.terms) != record.terms_sha256:
        yield "its terms do not match their sha256"
    created = [e for e in own if e.kind == _CREATED.get(record.method)]
    if not any(
        e.at == record.signed_at
        and e.terms_sha256 == record.terms_sha256
        and e.licence_id == record.licence_id
        and e.detail.get("signer_name") == record.signer_name
        and e.detail.get("document_sha256") == record.document_sha256
        for e in created
    ):
        yield "no ledger event records its creation as it stands (signer, time, terms, document)"
    expected_status = (
        RecordStatus.SIGNED.value
        if record.method == ConsentMethod.SIGNATURE.value
        else (
            RecordStatus.CONFIRMED.value
            if record.confirmed_at
            else RecordStatus.ATTESTED_BY_AGENCY.value
        )
    )
    if record.status != expected_status:
        yield f"its status {record.status!r} does not follow from its method and confirmation"
    confirmed = [e for e in own if e.kind in _CONFIRMED.values()]
    if record.confirmed_at is None and confirmed:
        yield "the ledger confirms it but the record is not confirmed"
    if record.confirmed_at is not None and not any(
        e.at == record.confirmed_at and e.kind == _CONFIRMED.get(record.confirmed_by or "")
        for e in confirmed
    ):
        yield "no ledger event records its confirmation as it stands"
    withdrawn = withdrawals.get(record.id, [])
    if record.withdrawn_at is None and withdrawn:
        yield "the ledger withdraws it but the record is not withdrawn"
    if record.withdrawn_at is not None and not any(e.at == record.withdrawn_at for e in withdrawn):
        yield "no ledger event records its withdrawal as it stands"
