"""The talent's own view: who they are, every sighting of their likeness (licensed and
not), every licence that names them with its full terms and consent, and the answers about
consent records (the talent, their agency and admins only: never a brand or a monitor).

A talent principal names one talent (``Principal.talent_id``) and sees nothing of any
other, nor the agency's notes (alert triage notes are not part of a sighting).
"""

from __future__ import annotations

import json
from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from indexer.db import Agency, Talent
from service.core.errors import ForbiddenError, ResourceNotFoundError
from service.core.principal import Principal, Role
from service.core.schemas import Page
from service.core.tables.licensing import ConsentEvent, ConsentRecord, Licence
from service.core.tables.scanning import Finding, Scan
from service.licensing import consent, consent_ledger
from service.licensing.consent_schemas import (
    ConsentActorOut,
    ConsentConfirmationOut,
    ConsentDocumentOut,
    ConsentEventOut,
    ConsentRecordOut,
    LicenceConsentDetailOut,
    SightingOut,
    TalentSelfOut,
)
from service.licensing.licences import licence_out
from service.licensing.schemas import LicenceOut
from service.licensing.states import ConfirmedBy, ConsentEventKind, RecordStatus
from service.licensing.verdicts import StoredVerdict, Viewer, render_verdict
from service.rules.vocabulary import ConsentMethod, ScanKind, Verdict


def own_talent(session: Session, principal: Principal) -> Talent:
    """The one talent a talent key or account acts for."""
    if principal.role is not Role.TALENT or principal.talent_id is None:
        raise ForbiddenError(
            f"This endpoint is for talent keys and accounts; this one is {principal.role.value}."
        )
    talent = session.get(Talent, principal.talent_id)
    if talent is None:
        raise ResourceNotFoundError("Your talent record no longer exists.")
    return talent


def me(session: Session, *, principal: Principal) -> TalentSelfOut:
    talent = own_talent(session, principal)
    agency = session.get(Agency, talent.agency_id)
    return TalentSelfOut(
        talent_id=talent.id, name=talent.name, agency=agency.name if agency else ""
    )


def sightings(
    session: Session,
    *,
    principal: Principal,
    offset: int,
    limit: int,
    hide: Collection[int] = (),
) -> Page[SightingOut]:
    """Every monitor's sighting of the talent (pre-checks are brands' questions, not uses),
    newest first, with the full reasons (the talent's side); ``hide``: findings left out."""
    talent = own_talent(session, principal)
    where = [Finding.talent_id == talent.id, Scan.kind == ScanKind.SCAN.value]
    if hide:
        where.append(Finding.id.not_in(list(hide)))
    total = (
        session.scalar(
            select(func.count())
            .select_from(Finding)
            .join(Scan, Scan.id == Finding.scan_id)
            .where(*where)
        )
        or 0
    )
    rows = session.execute(
        select(Finding, Scan)
        .join(Scan, Scan.id == Finding.scan_id)
        .where(*where)
        .order_by(Scan.observed_at.desc(), Finding.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    viewer = Viewer.of(principal)
    return Page(
        items=[_sighting(finding, scan, viewer) for finding, scan in rows],
        total=total,
        offset=offset,
        limit=limit,
    )


def _sighting(finding: Finding, scan: Scan, viewer: Viewer) -> SightingOut:
    reasons: list[str] = []
    if finding.verdict is not None:
        stored = StoredVerdict(
            Verdict(finding.verdict), finding.licence_id, [], list(finding.reasons or [])
        )
        reasons = render_verdict(stored, viewer).reasons  # the talent's side: every reason
    provenance = scan.provenance or {}
    return SightingOut(
        scan_id=scan.id,
        finding_id=finding.id,
        observed_at=scan.observed_at,
        publisher=scan.publisher,
        page_url=scan.page_url,
        channel=scan.channel,
        territory=scan.territory,
        similarity=finding.similarity,
        band=finding.band,
        verdict=finding.verdict,
        licence_id=finding.licence_id,
        reasons=reasons,
        ai_label=provenance.get("ai_label"),
        model_pack=f"{scan.pack_name} {scan.pack_version}",
        start_s=finding.start_s,
        end_s=finding.end_s,
    )


def licences(session: Session, *, principal: Principal) -> list[LicenceOut]:
    """Every licence that names the talent, full terms (it is their likeness)."""
    talent = own_talent(session, principal)
    rows = session.scalars(
        select(Licence).where(Licence.talent_id == talent.id).order_by(Licence.id)
    )
    return [licence_out(licence) for licence in rows]


def own_licence(session: Session, *, principal: Principal, licence_id: int) -> LicenceOut:
    own_talent(session, principal)
    return licence_out(
        consent.licence_for_consent(session, principal=principal, licence_id=licence_id)
    )


def record_out(record: ConsentRecord, current_sha256: str) -> ConsentRecordOut:
    document = None
    if record.document_sha256 is not None:
        document = ConsentDocumentOut(
            name=record.document_name,
            media_type=record.document_media_type or "",
            bytes=record.document_bytes or 0,
            sha256=record.document_sha256,
        )
    confirmation = None
    if record.confirmed_by is not None and record.confirmed_at is not None:
        confirmation = ConsentConfirmationOut(
            by=ConfirmedBy(record.confirmed_by),
            at=record.confirmed_at,
            user_id=record.confirmed_by_user_id,
            key_id=record.confirmed_by_key_id,
        )
    return ConsentRecordOut(
        id=record.id,
        licence_id=record.licence_id,
        talent_id=record.talent_id,
        method=ConsentMethod(record.method),
        status=RecordStatus(record.status),
        signer_name=record.signer_name,
        signed_at=record.signed_at,
        in_force_from=consent.in_force_from(record),
        terms_sha256=record.terms_sha256,
        for_current_terms=record.terms_sha256 == current_sha256,
        withdrawn_at=record.withdrawn_at,
        document=document,
        confirmation=confirmation,
    )


def event_out(event: ConsentEvent) -> ConsentEventOut:
    return ConsentEventOut(
        id=event.id,
        talent_id=event.talent_id,
        seq=event.seq,
        licence_id=event.licence_id,
        record_id=event.record_id,
        kind=ConsentEventKind(event.kind),
        at=event.at,
        actor=ConsentActorOut(
            role=event.actor_role, user_id=event.actor_user_id, key_id=event.actor_key_id
        ),
        terms_sha256=event.terms_sha256,
        terms=json.loads(event.terms),
        detail=dict(event.detail),
        prev_sha256=event.prev_sha256,
        sha256=event.sha256,
    )


def licence_events(
    session: Session, *, principal: Principal, licence_id: int
) -> list[ConsentEventOut]:
    """The ledger's events of one licence, oldest first (its talent, agency and admins)."""
    licence = consent.licence_for_consent(session, principal=principal, licence_id=licence_id)
    return [event_out(e) for e in consent_ledger.licence_events(session, licence.id)]


def my_events(
    session: Session, *, principal: Principal, offset: int, limit: int
) -> Page[ConsentEventOut]:
    """The talent's own consent ledger, newest first."""
    talent = own_talent(session, principal)
    rows, total = consent_ledger.talent_events(session, talent.id, offset=offset, limit=limit)
    return Page(items=[event_out(e) for e in rows], total=total, offset=offset, limit=limit)


def consent_detail(licence: Licence) -> LicenceConsentDetailOut:
    digest = consent.terms_sha256(licence)
    return LicenceConsentDetailOut(
        licence_id=licence.id,
        required=consent.requires_consent(licence),
        status=consent.consent_status(licence),
        terms_sha256=digest,
        terms=json.loads(consent.canonical_terms(licence)),
        records=[record_out(record, digest) for record in licence.consents],
    )


def licence_consent(
    session: Session, *, principal: Principal, licence_id: int
) -> LicenceConsentDetailOut:
    return consent_detail(
        consent.licence_for_consent(session, principal=principal, licence_id=licence_id)
    )
