"""The talent's own consent to a licence: the rule, the canonical terms, signing,
withdrawing, offline signed documents, and which licences await a signature.

Rule
====

A licence **needs the talent's consent** when it covers AI replicas (``ai_replica`` in its
media) or when the agency set ``requires_talent_consent``. Such a licence is in force for a
sighting only while a consent record *for its current terms* covers the sighting's time:
from ``signed_at`` until ``withdrawn_at`` (see ``ConsentWindow`` and rule 8 of
:mod:`service.licensing.evaluate`). A record is for the current terms when its
``terms_sha256`` equals the sha256 of the licence's canonical terms now: any change of terms
(licensee, publishers, channels, territories, media, AI labelling, dates, asset scope and
approved assets, compensation) leaves earlier records standing as evidence but no longer
matching, so the licence needs a new signature. Revocation is not a change of terms (a
revoked licence covers nothing after its revocation anyway).

Withdrawal ends every live record of the licence at the time it is made: sightings observed
after it are unlicensed, earlier ones stay licensed (and billed).

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
from datetime import UTC, datetime
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
from service.core.tables.licensing import ConsentRecord, Licence
from service.licensing.errors import (
    ConsentDocumentUnsupportedError,
    ConsentNotAllowedError,
    ConsentSignatureMismatchError,
    ConsentTermsChangedError,
)
from service.licensing.evaluate import ConsentWindow
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
    if value is None:
        return None
    utc = value.astimezone(UTC)
    fraction = f".{utc.microsecond:06d}" if utc.microsecond else ""
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


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


def current_records(licence: Licence) -> list[ConsentRecord]:
    digest = terms_sha256(licence)
    return [record for record in licence.consents if record.terms_sha256 == digest]


def consent_windows(licence: Licence) -> tuple[ConsentWindow, ...]:
    """What the evaluator needs: the consent windows for the licence's current terms."""
    return tuple(
        ConsentWindow(signed_at=r.signed_at, withdrawn_at=r.withdrawn_at)
        for r in current_records(licence)
    )


def consent_status(licence: Licence) -> ConsentStatus:
    if not requires_consent(licence):
        return ConsentStatus.NOT_REQUIRED
    records = current_records(licence)
    if any(record.withdrawn_at is None for record in records):
        return ConsentStatus.SIGNED
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
        raise ForbiddenError("Only the talent can sign or withdraw their own consent.")


def _folded(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


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
    already signed and not withdrawn returns that record (a retry signs once)."""
    _talent_only(principal)
    licence = licence_for_consent(session, principal=principal, licence_id=licence_id)
    _check_signable(licence, presented_sha256)
    talent = session.get(Talent, licence.talent_id)
    assert talent is not None
    if _folded(signature_name) != _folded(talent.name):
        raise ConsentSignatureMismatchError(
            f"Type your name as your agency registered it, {talent.name}, to sign."
        )
    live = [r for r in current_records(licence) if r.withdrawn_at is None]
    if live:
        return live[-1]
    return _add_record(
        session,
        licence,
        principal,
        method=ConsentMethod.SIGNATURE,
        signer_name=signature_name.strip(),
        at=now or utcnow(),
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
    signer_name: str,
    at: datetime,
    document: StoredDocument | None = None,
) -> ConsentRecord:
    record = ConsentRecord(
        licence_id=licence.id,
        talent_id=licence.talent_id,
        method=method.value,
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
    """End every live consent of the licence now (for future uses); a retry changes
    nothing more."""
    _talent_only(principal)
    licence = licence_for_consent(session, principal=principal, licence_id=licence_id)
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
    log.info("consent withdrawn: licence %d, %d record(s)", licence.id, len(live))
    return list(licence.consents)


# --- the agency's side ----------------------------------------------------------------------------
class ConsentDocumentStore(PhotoStore):
    """``<consent_documents_dir>/<talent_id>/<licence_id>-<sha256>.<ext>``; erased with the
    talent (a per-talent store of the registry's erasure)."""

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
    """The agency records the talent's consent from an offline signed document, for the
    licence's current terms; the file is kept as evidence. The same document again for the
    same terms returns the first record."""
    principal.require(Role.AGENCY)
    licence = licence_in_scope(session, principal=principal, licence_id=licence_id)
    _check_signable(licence, None)
    if not signer_name.strip():
        raise InvalidRequestError("Name who signed the document.", field="signer_name")
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
    try:
        return _add_record(
            session,
            licence,
            principal,
            method=ConsentMethod.DOCUMENT,
            signer_name=signer_name.strip(),
            at=now or utcnow(),
            document=document,
        )
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
    record = next((r for r in licence.consents if r.id == record_id), None)
    if record is None:
        raise ResourceNotFoundError(f"Licence {licence_id} has no consent record {record_id}.")
    return record


def awaiting_signature(
    session: Session, *, principal: Principal, now: datetime | None = None
) -> list[tuple[Licence, str]]:
    """The agency's licences in force but for the talent's signature (not revoked, not
    expired), with the talent's name, oldest first."""
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
        and consent_status(licence) is ConsentStatus.AWAITING_SIGNATURE
    ]


def set_required(
    session: Session, *, principal: Principal, licence_id: int, required: bool
) -> Licence:
    """The agency's flag: this licence (without AI replicas too) needs the talent's consent."""
    principal.require(Role.AGENCY)
    licence = licence_in_scope(session, principal=principal, licence_id=licence_id)
    licence.requires_talent_consent = required
    session.flush()
    return licence
