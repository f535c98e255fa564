"""The talent's own consent to a licence: the rule, the canonical terms, signing,
withdrawing, offline signed documents, and which licences await a signature.

Rule
====

A licence **needs the talent's consent** when it covers AI replicas (``ai_replica`` in its
media) or when the agency set ``requires_talent_consent``. Such a licence is in force for a
sighting only while a consent record *for its current terms* covers the sighting's time:
from when the record started to count (below) until ``withdrawn_at`` (see ``ConsentWindow``
and rule 8 of :mod:`service.licensing.evaluate`). A record is for the current terms when its
``terms_sha256`` equals the sha256 of the licence's canonical terms now: any change of terms
(licensee, publishers, channels, territories, media, AI labelling, dates, asset scope and
approved assets, compensation) leaves earlier records standing as evidence but no longer
matching, so the licence needs a new signature. Revocation is not a change of terms (a
revoked licence covers nothing after its revocation anyway).

Which records count
===================

A record counts (see :class:`~service.licensing.states.RecordStatus`) when it is the
talent's own act: her typed-name signature (from ``signed_at``), or an offline document the
agency uploaded *and* the talent confirmed in her own account or an admin verified (from
``confirmed_at``). An uploaded document on its own is ``attested_by_agency``: the agency's
statement, kept as evidence, not consent; its ``signer_name`` must be the talent's
registered name (folded as a signature is). Licences with such a document only are
``awaiting_confirmation``.

Withdrawal ends every live record of the licence (counting or attested) at the time it is
made: sightings observed after it are unlicensed, earlier ones stay licensed (and billed).
**Only the talent's own new act reverses a withdrawal**: a new signature, or her
confirming a document uploaded after it. An admin may verify a document only on a
licence the talent has never withdrawn from: a paper signed before her withdrawal is
superseded by it, and one uploaded after it is the agency's word, which only she can
confirm. A withdrawn record cannot be confirmed (she signs again instead).

Every consent act first locks the row of the talent the licence names
(:mod:`service.licensing.locks`), so concurrent acts on her licences take turns: signing
twice, or twelve times at once, leaves one live record and answers with it. Every act, and
every change of the terms of a licence that needs consent, is an event of the consent
ledger (:mod:`service.licensing.consent_ledger`), which also e-mails the talent.

Canonical terms
===============

UTF-8 JSON with sorted keys, no insignificant whitespace (``separators=(",", ":")``), no
ASCII escaping; lists that are sets (publishers, channels, territories, media, approved
assets) sorted; instants as ISO 8601 UTC with seconds (``2026-05-01T00:00:00Z``, with
microseconds only when there are any: ``...00:00:00.250000Z``); amounts
as decimal strings with two places; ``format`` names this serialisation
(``twinwatch-licence-terms/1``). The same licence always serialises to the same bytes.

Records are legal evidence and biometric-free (names, times, hashes, a document): they are
kept while the talent exists and are erased with them (foreign keys cascade; document
files live in a per-talent folder that erasure removes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from indexer.db import Database, Talent, utcnow
from indexer.formats import MEDIA_TYPES
from indexer.photos import PhotoStore
from service.access.scoping import licence_in_scope
from service.core.errors import (
    ForbiddenError,
    InvalidRequestError,
    PayloadTooLargeError,
    ResourceNotFoundError,
)
from service.core.principal import Principal, Role
from service.core.tables.licensing import ConsentEvent, ConsentRecord, Licence
from service.licensing import consent_ledger, consent_mail
from service.licensing.consent_ledger import Terms
from service.licensing.errors import (
    ConsentDocumentMismatchError,
    ConsentDocumentUnsupportedError,
    ConsentNotAllowedError,
    ConsentSignatureMismatchError,
    ConsentTermsChangedError,
    ConsentWithdrawnError,
)
from service.licensing.evaluate import ConsentWindow
from service.licensing.states import ConfirmedBy, ConsentEventKind, RecordStatus
from service.rules.money import from_cents
from service.rules.vocabulary import ConsentMethod, ConsentStatus, Medium

log = logging.getLogger(__name__)

TERMS_FORMAT = "twinwatch-licence-terms/1"
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
#: Offline consent documents: the file's first bytes -> (media type, file suffix).
DOCUMENT_TYPES: dict[bytes, tuple[str, str]] = {
    b"%PDF-": ("application/pdf", "pdf"),
    b"\x89PNG\r\n\x1a\n": (MEDIA_TYPES["PNG"], "png"),  # image types: indexer.formats
    b"\xff\xd8\xff": (MEDIA_TYPES["JPEG"], "jpg"),
}


# --- the rule ---------------------------------------------------------------------------------
def requires_consent(licence: Licence) -> bool:
    return Medium.AI_REPLICA.value in licence.media or bool(licence.requires_talent_consent)


def _instant(value: datetime | None) -> str | None:
    return None if value is None else consent_ledger.instant(value)


def _amount(cents: int | None) -> str | None:
    amount = from_cents(cents)
    return None if amount is None else f"{amount:.2f}"


def terms_document(licence: Licence) -> dict[str, Any]:
    """The licence's terms as the talent reads and signs them."""
    assets = sorted((a.sha256 or "", a.phash or "") for a in licence.assets)
    return {
        "format": TERMS_FORMAT,
        "licence_id": licence.id,
        "talent_id": licence.talent_id,
        "licensee": licence.licensee,
        "publishers": sorted(licence.publishers),
        "channels": sorted(licence.channels),
        "territories": sorted(licence.territories),
        "media": sorted(licence.media),
        "ai_label_required": bool(licence.ai_label_required),
        "valid_from": _instant(licence.valid_from),
        "valid_until": _instant(licence.valid_until),
        "asset_scope": licence.asset_scope,
        # only when it is not the default, so terms signed before issue 22 keep their hash
        **(
            {"alterations_allowed": licence.alterations_allowed}
            if licence.alterations_allowed not in (None, "none")
            else {}
        ),
        "approved_assets": [
            {"sha256": sha or None, "phash": phash or None} for sha, phash in assets
        ],
        "compensation": {
            "currency": licence.currency,
            "per_use": _amount(licence.per_use_cents),
            "flat_fee": _amount(licence.flat_fee_cents),
        },
    }


def canonical_terms(licence: Licence) -> str:
    return json.dumps(
        terms_document(licence), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def terms_sha256(licence: Licence) -> str:
    return hashlib.sha256(canonical_terms(licence).encode("utf-8")).hexdigest()


def current_terms(licence: Licence) -> Terms:
    text = canonical_terms(licence)
    return Terms(text, hashlib.sha256(text.encode("utf-8")).hexdigest())


def current_records(licence: Licence) -> list[ConsentRecord]:
    digest = terms_sha256(licence)
    return [record for record in licence.consents if record.terms_sha256 == digest]


def in_force_from(record: ConsentRecord) -> datetime | None:
    """When the record started to count: the talent's signature, or the confirmation of a
    document; None while it is only the agency's attestation."""
    if record.status == RecordStatus.SIGNED.value:
        return record.signed_at
    if record.status == RecordStatus.CONFIRMED.value:
        return record.confirmed_at
    return None


def _live(record: ConsentRecord) -> bool:
    return record.withdrawn_at is None and in_force_from(record) is not None


def consent_windows(licence: Licence) -> tuple[ConsentWindow, ...]:
    """What the evaluator needs: the windows of the records that count, for the licence's
    current terms (an attested document has none)."""
    return tuple(
        ConsentWindow(signed_at=start, withdrawn_at=r.withdrawn_at)
        for r in current_records(licence)
        if (start := in_force_from(r)) is not None
    )


def consent_status(licence: Licence) -> ConsentStatus:
    if not requires_consent(licence):
        return ConsentStatus.NOT_REQUIRED
    records = current_records(licence)
    if any(_live(record) for record in records):
        return ConsentStatus.SIGNED
    if any(record.withdrawn_at is None for record in records):
        return ConsentStatus.AWAITING_CONFIRMATION
    return ConsentStatus.WITHDRAWN if records else ConsentStatus.AWAITING_SIGNATURE


# --- who may see and act ------------------------------------------------------------------------
def licence_for_consent(session: Session, *, principal: Principal, licence_id: int) -> Licence:
    """The talent named by the licence, their agency and admins see its consent; a brand or
    monitor never does (403, as on any endpoint not meant for its role)."""
    principal.require(Role.AGENCY, Role.TALENT)
    if principal.role is not Role.TALENT:
        return licence_in_scope(session, principal=principal, licence_id=licence_id)
    licence = session.get(Licence, licence_id)
    if licence is None or licence.talent_id != principal.talent_id:
        raise ResourceNotFoundError(f"No licence with id {licence_id}.")
    return licence


def _talent_only(principal: Principal) -> None:
    if principal.role is not Role.TALENT:
        raise ForbiddenError("Only the talent can sign, confirm or withdraw their own consent.")


def _lock_for_consent(session: Session, licence_id: int) -> None:
    """Take the lock every consent act takes first: the row of the talent the licence
    names, which is also the lock of her ledger chain. Concurrent acts on her licences take
    turns, and what is read after it is the newest committed state. The talent's row and
    not the licence's, so that locks are taken in the order an erasure takes them (the
    talent, then her licences), and as a change of a licence's terms takes them
    (:func:`lock_for_terms`): they wait for each other, never deadlock."""
    talent_id = session.scalar(select(Licence.talent_id).where(Licence.id == licence_id))
    if talent_id is not None:  # none: the scoped read below answers 404
        consent_ledger.lock_chain(session, talent_id)
    session.expire_all()


def lock_for_terms(session: Session, licence: Licence) -> None:
    """Before a licence's terms are written: the lock consent acts take (its talent's
    row), so a change of terms and a signature take turns, and the ledger's ``terms_set``
    event is appended in the same order as the change."""
    consent_ledger.lock_chain(session, licence.talent_id)


def _locked_licence(session: Session, *, principal: Principal, licence_id: int) -> Licence:
    _lock_for_consent(session, licence_id)
    return licence_for_consent(session, principal=principal, licence_id=licence_id)


def _folded(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def registered_name(session: Session, licence: Licence) -> str:
    """The talent's name as the agency registered it: what a signature must read."""
    talent = session.get(Talent, licence.talent_id)
    if talent is None:
        raise ResourceNotFoundError(f"No licence with id {licence.id}.")
    return talent.name


def _check_name(session: Session, licence: Licence, name: str, *, field: str) -> None:
    """A signature, or a document's signer, is the talent's registered name (folded)."""
    registered = registered_name(session, licence)
    if _folded(name) != _folded(registered):
        raise ConsentSignatureMismatchError(
            f"The signer must be the talent as their agency registered them, {registered}.",
            field=field,
        )


def note_terms(
    session: Session, *, principal: Principal, licence: Licence, now: datetime | None = None
) -> None:
    """A licence that needs consent was recorded, or its terms changed: a ``terms_set``
    event (and the talent's e-mail), unless the ledger already has these terms last for
    it. Called by every use case that writes a licence's terms."""
    if not requires_consent(licence) or licence.revoked_at is not None:
        return
    consent_ledger.lock_chain(session, licence.talent_id)
    terms = current_terms(licence)
    last = consent_ledger.last_licence_event(session, licence.id)
    if last is not None and last.terms_sha256 == terms.sha256:
        return
    consent_ledger.append(
        session,
        licence=licence,
        kind=ConsentEventKind.TERMS_SET,
        actor=principal,
        at=now or utcnow(),
        terms=terms,
    )


# --- the talent's acts ---------------------------------------------------------------------------
def sign(
    session: Session,
    *,
    principal: Principal,
    licence_id: int,
    signature_name: str,
    presented_sha256: str,
    now: datetime | None = None,
) -> ConsentRecord:
    """The talent consents to the terms they read (``presented_sha256``); signing terms
    already in force and not withdrawn returns that first record (a retry, or a dozen
    concurrent clicks, sign once)."""
    _talent_only(principal)
    licence = _locked_licence(session, principal=principal, licence_id=licence_id)
    _check_signable(licence, presented_sha256)
    _check_name(session, licence, signature_name, field="signature_name")
    live = [r for r in current_records(licence) if _live(r)]
    if live:
        return live[0]
    at = now or utcnow()
    record = _add_record(
        session,
        licence,
        principal,
        method=ConsentMethod.SIGNATURE,
        status=RecordStatus.SIGNED,
        signer_name=signature_name.strip(),
        at=at,
    )
    _record_event(session, licence, record, ConsentEventKind.SIGNED, principal, at)
    return record


def _record_event(
    session: Session,
    licence: Licence,
    record: ConsentRecord,
    kind: ConsentEventKind,
    principal: Principal,
    at: datetime,
) -> None:
    """The ledger's event for an act on one record (for the record's own terms)."""
    detail: dict[str, object] = {"document_sha256": record.document_sha256}
    if kind in (ConsentEventKind.SIGNED, ConsentEventKind.DOCUMENT_ATTESTED):
        detail["signer_name"] = record.signer_name
    consent_ledger.append(
        session,
        licence=licence,
        kind=kind,
        actor=principal,
        at=at,
        terms=Terms(record.terms, record.terms_sha256),
        record_id=record.id,
        detail=detail,
    )


def _check_signable(licence: Licence, presented_sha256: str | None) -> None:
    if not requires_consent(licence):
        raise ConsentNotAllowedError(f"Licence {licence.id} does not need the talent's consent.")
    if licence.revoked_at is not None:
        raise ConsentNotAllowedError(f"Licence {licence.id} is revoked.")
    if presented_sha256 is not None and presented_sha256 != terms_sha256(licence):
        raise ConsentTermsChangedError(
            f"The terms of licence {licence.id} changed since they were read; read them "
            "again before signing.",
            terms_sha256=terms_sha256(licence),
        )


def _add_record(
    session: Session,
    licence: Licence,
    principal: Principal,
    *,
    method: ConsentMethod,
    status: RecordStatus,
    signer_name: str,
    at: datetime,
    document: StoredDocument | None = None,
) -> ConsentRecord:
    record = ConsentRecord(
        licence_id=licence.id,
        talent_id=licence.talent_id,
        method=method.value,
        status=status.value,
        signer_name=signer_name,
        signed_at=at,
        terms_sha256=terms_sha256(licence),
        terms=canonical_terms(licence),
        user_id=principal.user_id,
        key_id=principal.key_id,
        created_at=at,
    )
    if document is not None:
        record.document_path, record.document_sha256 = document.path, document.sha256
        record.document_media_type, record.document_bytes = document.media_type, document.size
        record.document_name = document.name
    licence.consents.append(record)
    session.flush()
    log.info("consent recorded: licence %d, %s, record %d", licence.id, method.value, record.id)
    return record


def withdraw(
    session: Session, *, principal: Principal, licence_id: int, now: datetime | None = None
) -> list[ConsentRecord]:
    """End every live record of the licence now (for future uses), documents the agency
    attested included; a retry changes nothing more."""
    _talent_only(principal)
    licence = _locked_licence(session, principal=principal, licence_id=licence_id)
    now = now or utcnow()
    live = [record for record in licence.consents if record.withdrawn_at is None]
    if not live:
        if any(record.withdrawn_at is not None for record in licence.consents):
            return list(licence.consents)
        raise ConsentNotAllowedError(
            f"You have not consented to licence {licence_id}; there is nothing to withdraw."
        )
    for record in live:
        record.withdrawn_at = now
        record.withdrawn_by_user_id = principal.user_id
    session.flush()
    event = consent_ledger.append(
        session,
        licence=licence,
        kind=ConsentEventKind.WITHDRAWN,
        actor=principal,
        at=now,
        terms=current_terms(licence),
        detail={"records": [record.id for record in live]},
    )
    consent_mail.enqueue_agency_withdrawal(session, event=event, licence=licence)
    log.info("consent withdrawn: licence %d, %d record(s)", licence.id, len(live))
    return list(licence.consents)


def confirm_document(
    session: Session,
    *,
    principal: Principal,
    licence_id: int,
    record_id: int,
    presented_terms_sha256: str,
    presented_document_sha256: str,
    now: datetime | None = None,
) -> ConsentRecord:
    """The talent confirms, in her own account, the document the agency uploaded in her
    name, having seen it and the terms' sha256: from now on it counts. A retry (or a record
    an admin verified already) returns the record as it is."""
    _talent_only(principal)
    return _confirm(
        session,
        principal=principal,
        licence_id=licence_id,
        record_id=record_id,
        presented=(presented_terms_sha256, presented_document_sha256),
        by=ConfirmedBy.TALENT,
        at=now or utcnow(),
    )


def verify_document(
    session: Session,
    *,
    principal: Principal,
    licence_id: int,
    record_id: int,
    presented_terms_sha256: str,
    presented_document_sha256: str,
    now: datetime | None = None,
) -> ConsentRecord:
    """An admin verifies an attested document (e.g. against the paper original), on a
    licence the talent never withdrew from (see the rule above)."""
    if not principal.is_admin:
        raise ForbiddenError("Only an admin can verify a consent document.")
    return _confirm(
        session,
        principal=principal,
        licence_id=licence_id,
        record_id=record_id,
        presented=(presented_terms_sha256, presented_document_sha256),
        by=ConfirmedBy.ADMIN,
        at=now or utcnow(),
    )


def _confirm(
    session: Session,
    *,
    principal: Principal,
    licence_id: int,
    record_id: int,
    presented: tuple[str, str],
    by: ConfirmedBy,
    at: datetime,
) -> ConsentRecord:
    licence = _locked_licence(session, principal=principal, licence_id=licence_id)
    record = _record_of(licence, record_id)
    if record.status == RecordStatus.CONFIRMED.value:
        return record
    if by is ConfirmedBy.ADMIN and any(r.withdrawn_at is not None for r in licence.consents):
        raise ConsentWithdrawnError(
            f"The talent withdrew consent to licence {licence.id}; only the talent can give "
            "it again (a new signature, or confirming a document in their own account)."
        )
    _check_confirmable(licence, record, presented)
    record.status, record.confirmed_by, record.confirmed_at = (
        RecordStatus.CONFIRMED.value,
        by.value,
        at,
    )
    record.confirmed_by_user_id, record.confirmed_by_key_id = principal.user_id, principal.key_id
    session.flush()
    kind = {
        ConfirmedBy.TALENT: ConsentEventKind.CONFIRMED_BY_TALENT,
        ConfirmedBy.ADMIN: ConsentEventKind.VERIFIED_BY_ADMIN,
    }[by]
    _record_event(session, licence, record, kind, principal, at)
    log.info("consent document confirmed: licence %d, record %d, by %s", licence.id, record.id, by)
    return record


def _check_confirmable(licence: Licence, record: ConsentRecord, presented: tuple[str, str]) -> None:
    terms_read, document_seen = presented
    if record.status != RecordStatus.ATTESTED_BY_AGENCY.value:
        raise ConsentNotAllowedError(f"Consent record {record.id} is not an uploaded document.")
    if record.withdrawn_at is not None:
        raise ConsentNotAllowedError(
            f"Consent record {record.id} was withdrawn; sign the licence again instead."
        )
    _check_signable(licence, terms_read)
    if record.terms_sha256 != terms_read:
        raise ConsentTermsChangedError(
            f"The document of record {record.id} is for earlier terms of licence "
            f"{licence.id}; it can no longer be confirmed.",
            terms_sha256=terms_read,
        )
    if record.document_sha256 != document_seen:
        raise ConsentDocumentMismatchError(
            f"The document of record {record.id} is not the one whose sha256 was presented.",
            document_sha256=record.document_sha256,
        )


def _record_of(licence: Licence, record_id: int) -> ConsentRecord:
    record = next((r for r in licence.consents if r.id == record_id), None)
    if record is None:
        raise ResourceNotFoundError(f"Licence {licence.id} has no consent record {record_id}.")
    return record


# --- the agency's side ----------------------------------------------------------------------------
class ConsentDocumentStore(PhotoStore):
    """``consent-documents/<talent_id>/<licence_id>-<sha256>.<ext>`` in the blob store;
    erased with the talent (a per-talent store of the registry's erasure)."""

    def read_document(self, record: ConsentRecord) -> tuple[bytes, str]:
        """The kept file and its media type; a record without one (or whose file is gone)
        is not found."""
        try:
            if record.document_path and record.document_media_type:
                return self.read(record.document_path), record.document_media_type
        except FileNotFoundError:
            log.warning("consent record %d: its document file is missing", record.id)
        raise ResourceNotFoundError(f"Consent record {record.id} has no document.")

    def reconcile_with_records(self, db: Database) -> None:
        """Remove files no record points at (e.g. written before a crashed commit)."""
        with db.session() as session:
            talent_ids = set(session.scalars(select(Talent.id)))
            kept = set(
                session.scalars(
                    select(ConsentRecord.document_path).where(
                        ConsentRecord.document_path.is_not(None)
                    )
                )
            )
        self.reconcile(talent_ids=talent_ids, stored_paths={p for p in kept if p})


@dataclass(frozen=True)
class StoredDocument:
    path: str
    sha256: str
    media_type: str
    size: int
    name: str | None


def document_type(data: bytes) -> tuple[str, str]:
    if len(data) > MAX_DOCUMENT_BYTES:
        raise PayloadTooLargeError(
            f"A consent document may have at most {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB."
        )
    for magic, kind in DOCUMENT_TYPES.items():
        if data.startswith(magic):
            return kind
    raise ConsentDocumentUnsupportedError("Upload the signed document as a PDF, PNG or JPEG file.")


def record_document(
    session: Session,
    *,
    principal: Principal,
    store: ConsentDocumentStore,
    licence_id: int,
    signer_name: str,
    file_name: str | None,
    data: bytes,
    now: datetime | None = None,
) -> ConsentRecord:
    """The agency attests that the talent signed this offline document, for the licence's
    current terms; the file is kept as evidence. The record does not count until the
    talent confirms it (or an admin verifies it). The same document again for the same
    terms, not withdrawn, returns the first record."""
    principal.require(Role.AGENCY)
    _lock_for_consent(session, licence_id)
    licence = licence_in_scope(session, principal=principal, licence_id=licence_id)
    _check_signable(licence, None)
    if not signer_name.strip():
        raise InvalidRequestError("Name who signed the document.", field="signer_name")
    _check_name(session, licence, signer_name, field="signer_name")
    media_type, suffix = document_type(data)
    digest = hashlib.sha256(data).hexdigest()
    for record in current_records(licence):
        if record.document_sha256 == digest and record.withdrawn_at is None:
            return record
    path = store.save(
        talent_id=licence.talent_id, name=f"{licence.id}-{digest}.{suffix}", data=data
    )
    shared = any(record.document_path == path for record in licence.consents)
    document = StoredDocument(path, digest, media_type, len(data), file_name)
    at = now or utcnow()
    try:
        record = _add_record(
            session,
            licence,
            principal,
            method=ConsentMethod.DOCUMENT,
            status=RecordStatus.ATTESTED_BY_AGENCY,
            signer_name=signer_name.strip(),
            at=at,
            document=document,
        )
        _record_event(session, licence, record, ConsentEventKind.DOCUMENT_ATTESTED, principal, at)
        return record
    except BaseException as exc:  # e.g. the talent erased meanwhile: no document may stay
        if not shared:
            store.remove(path)
        if isinstance(exc, IntegrityError):  # the licence went with its talent
            raise ResourceNotFoundError(f"No licence with id {licence_id}.") from exc
        raise


def consent_record(
    session: Session, *, principal: Principal, licence_id: int, record_id: int
) -> ConsentRecord:
    licence = licence_for_consent(session, principal=principal, licence_id=licence_id)
    return _record_of(licence, record_id)


WAITING_FOR_THE_TALENT = (ConsentStatus.AWAITING_SIGNATURE, ConsentStatus.AWAITING_CONFIRMATION)


def awaiting_signature(
    session: Session, *, principal: Principal, now: datetime | None = None
) -> list[tuple[Licence, str]]:
    """The agency's licences in force but for the talent's own act (a signature, or her
    confirmation of an uploaded document), not revoked, not expired, with the talent's
    name, oldest first."""
    principal.require(Role.AGENCY)
    now = now or utcnow()
    query = (
        select(Licence, Talent.name)
        .join(Talent, Talent.id == Licence.talent_id)
        .where(Licence.revoked_at.is_(None))
        .order_by(Licence.id)
    )
    if not principal.is_admin:
        query = query.where(Talent.agency_id == principal.agency_id)
    rows: Sequence[tuple[Licence, str]] = [(lic, name) for lic, name in session.execute(query)]
    return [
        (licence, name)
        for licence, name in rows
        if (licence.valid_until is None or licence.valid_until > now)
        and consent_status(licence) in WAITING_FOR_THE_TALENT
    ]


def recent_withdrawals(
    session: Session, *, principal: Principal, limit: int = 20
) -> list[tuple[ConsentEvent, Licence, str]]:
    """The newest withdrawals of consent by the agency's talents (event, licence, talent's
    name), newest first: the agency's console shows them."""
    principal.require(Role.AGENCY)
    query = (
        select(ConsentEvent, Licence, Talent.name)
        .join(Licence, Licence.id == ConsentEvent.licence_id)
        .join(Talent, Talent.id == ConsentEvent.talent_id)
        .where(ConsentEvent.kind == ConsentEventKind.WITHDRAWN.value)
        .order_by(ConsentEvent.id.desc())
        .limit(limit)
    )
    if not principal.is_admin:
        query = query.where(Talent.agency_id == principal.agency_id)
    return [(event, licence, name) for event, licence, name in session.execute(query)]


def set_required(
    session: Session, *, principal: Principal, licence_id: int, required: bool
) -> Licence:
    """The agency's flag: this licence (without AI replicas too) needs the talent's consent."""
    principal.require(Role.AGENCY)
    licence = licence_in_scope(session, principal=principal, licence_id=licence_id)
    lock_for_terms(session, licence)
    licence.requires_talent_consent = required
    session.flush()
    note_terms(session, principal=principal, licence=licence)
    return licence
