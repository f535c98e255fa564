"""Licences: create, list, revoke (never delete), approved assets and their scope."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from indexer.db import Agency, Talent, utcnow
from indexer.imaging import decode_image
from service.access.scoping import licence_in_scope, talent_in_scope
from service.core.errors import InvalidRequestError
from service.core.principal import Principal
from service.core.schemas import Page
from service.core.tables.access import Brand
from service.core.tables.licensing import Licence, LicenceAsset
from service.licensing import consent
from service.licensing.errors import LicenceAssetNotFoundError, LicenceRevokedError
from service.licensing.evaluate import AssetFingerprint, LicenceTerms, Medium
from service.licensing.publishers import validate_pattern
from service.licensing.schemas import (
    MAX_APPROVED_ASSETS,
    AssetOut,
    BrandLicenceOut,
    Compensation,
    LicenceConsentOut,
    LicenceCreate,
    LicenceOut,
    LicenceTermsIn,
)
from service.rules.fingerprints import perceptual_hash
from service.rules.money import from_cents, to_cents
from service.rules.names import name_key
from service.rules.vocabulary import Alterations, AssetScope


def licence_terms(licence: Licence) -> LicenceTerms:
    """The pure-evaluation view of a licence row."""
    return LicenceTerms(
        id=licence.id,
        talent_id=licence.talent_id,
        licensee=licence.licensee,
        publishers=tuple(licence.publishers),
        channels=tuple(licence.channels),
        territories=tuple(licence.territories),
        valid_from=licence.valid_from,
        valid_until=licence.valid_until,
        media=tuple(Medium(m) for m in licence.media),
        ai_label_required=licence.ai_label_required,
        approved_assets=tuple(
            AssetFingerprint(sha256=a.sha256, phash=a.phash) for a in licence.assets
        ),
        asset_scope=AssetScope(licence.asset_scope),
        revoked_at=licence.revoked_at,
        revocation_reason=licence.revocation_reason,
        consent_required=consent.requires_consent(licence),
        consents=consent.consent_windows(licence),
    )


def _publishers(patterns: list[str]) -> list[str]:
    try:
        return list(dict.fromkeys(validate_pattern(raw) for raw in patterns))
    except ValueError as exc:
        raise InvalidRequestError(f"publishers: {exc}.", field="publishers") from None


def licensee_brands(session: Session, licences: Sequence[Licence]) -> dict[int, int | None]:
    """Each licence's licensee as a brand tenant (licence id -> brand id, None if none).

    The link (``Licence.brand_id``) alone says it: a name is turned into a link once, when
    the licence is written (:func:`_licensee`) or by migration 0012 for older licences, never
    when a scan is judged. What "the brand's own licences" means."""
    return {licence.id: licence.brand_id for licence in licences}


MAX_BRAND_CHOICES = 2000


def brand_choices(session: Session) -> list[tuple[int, str]]:
    """The brands on twinwatch a licence can be to (id, name), by name: the form's picker."""
    rows = session.execute(
        select(Brand.id, Brand.name).order_by(Brand.name).limit(MAX_BRAND_CHOICES)
    )
    return [(brand_id, name) for brand_id, name in rows]


def brand_name(session: Session, brand_id: int | None) -> str | None:
    return (
        None if brand_id is None else session.scalar(select(Brand.name).where(Brand.id == brand_id))
    )


def brand_named(session: Session, name: str) -> int | None:
    """The one brand whose name is ``name`` as people write it (:func:`name_key`); None when
    no brand, or more than one, has that name."""
    key = name_key(name)
    found = [
        brand_id
        for brand_id, brand_name in session.execute(select(Brand.id, Brand.name))
        if name_key(brand_name) == key
    ]
    return found[0] if key and len(found) == 1 else None


def _licensee(session: Session, licence: Licence, body: LicenceTermsIn) -> tuple[str, int | None]:
    """The name on the licence and the brand it is to: the picked brand (its name unless
    another is written), else the brand of the written name, else none. A change of terms
    that leaves out ``licensee_brand_id`` and keeps the name keeps the link (a client from
    before the field existed never unlinks a licence by re-sending its terms)."""
    written = body.licensee.strip()
    unchanged = "licensee_brand_id" not in body.model_fields_set and written == licence.licensee
    if unchanged and licence.brand_id is not None:
        return written, licence.brand_id
    if body.licensee_brand_id is not None:
        brand = session.get(Brand, body.licensee_brand_id)
        if brand is None:
            raise InvalidRequestError(
                f"No brand with id {body.licensee_brand_id} on twinwatch; pick one from the "
                "list, or write the name of a brand not on twinwatch.",
                field="licensee_brand_id",
            )
        return written or brand.name, brand.id
    return written, brand_named(session, written)  # never empty: LicenceTermsIn checks


def create_licence(
    session: Session, *, principal: Principal, talent_id: int, body: LicenceCreate
) -> Licence:
    talent_in_scope(session, principal=principal, talent_id=talent_id)
    licence = Licence(talent_id=talent_id)
    _set_terms(session, licence, body)
    licence.assets = [
        LicenceAsset(sha256=a.sha256, phash=a.phash)
        for a in body.approved_assets
        if a.sha256 or a.phash
    ]
    session.add(licence)
    session.flush()
    consent.note_terms(session, principal=principal, licence=licence)
    return licence


def _set_terms(session: Session, licence: Licence, body: LicenceTermsIn) -> None:
    """The one place a licence's terms are checked and written (create and update)."""
    if body.valid_until is not None and body.valid_until <= body.valid_from:
        raise InvalidRequestError("valid_until must be after valid_from.", field="valid_until")
    licence.licensee, licence.brand_id = _licensee(session, licence, body)
    licence.publishers = _publishers(body.publishers)
    licence.channels = list(dict.fromkeys(body.channels))
    licence.territories = list(dict.fromkeys(body.territories))
    licence.media = list(dict.fromkeys(body.media))
    licence.ai_label_required = body.ai_label_required
    licence.asset_scope = body.asset_scope.value
    licence.alterations_allowed = body.alterations_allowed.value
    licence.valid_from, licence.valid_until = body.valid_from, body.valid_until
    licence.requires_talent_consent = body.requires_talent_consent
    for name, value in _money(body.compensation).items():
        setattr(licence, name, value)


def _for_terms(session: Session, principal: Principal, licence_id: int) -> Licence:
    """The licence whose terms are about to change, with the consent lock held."""
    licence = licence_in_scope(session, principal=principal, licence_id=licence_id)
    consent.lock_for_terms(session, licence)
    return licence


def update_licence(
    session: Session, *, principal: Principal, licence_id: int, body: LicenceTermsIn
) -> Licence:
    """Replace a licence's terms (its approved assets stay). A revoked licence is final.

    Verdicts already recorded keep the terms they were judged under; the next sighting is
    judged under the new ones."""
    licence = _for_terms(session, principal, licence_id)
    if licence.revoked_at is not None:
        raise LicenceRevokedError(f"Licence {licence_id} is revoked; record a new licence instead.")
    _set_terms(session, licence, body)
    session.flush()
    consent.note_terms(session, principal=principal, licence=licence)
    return licence


def list_agency_licences(
    session: Session, *, principal: Principal, talent_id: int | None, offset: int, limit: int
) -> tuple[list[tuple[Licence, Talent]], int]:
    """The agency's licences (every talent's, or one talent's), newest first, with total."""
    query = select(Licence, Talent).join(Talent, Talent.id == Licence.talent_id)
    if not principal.is_admin:
        query = query.where(Talent.agency_id == principal.agency_id)
    if talent_id is not None:
        query = query.where(Licence.talent_id == talent_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(Licence.id.desc()).offset(offset).limit(limit))
    return [(licence, talent) for licence, talent in rows], total


def list_unlinked_licences(
    session: Session, *, principal: Principal, offset: int = 0, limit: int
) -> tuple[list[tuple[Licence, Talent]], int]:
    """The agency's licences in force or to come that point at no brand on twinwatch (so no
    brand's pre-check sees them), newest first, with their total: to link by hand."""
    query = (
        select(Licence, Talent)
        .join(Talent, Talent.id == Licence.talent_id)
        .where(Licence.brand_id.is_(None), Licence.revoked_at.is_(None))
    )
    if not principal.is_admin:
        query = query.where(Talent.agency_id == principal.agency_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(Licence.id.desc()).offset(offset).limit(limit))
    return [(licence, talent) for licence, talent in rows], total


def unlinked_page(
    session: Session, *, principal: Principal, offset: int, limit: int
) -> Page[LicenceOut]:
    """``GET /v1/licences/unlinked``: :func:`list_unlinked_licences` as a page."""
    rows, total = list_unlinked_licences(session, principal=principal, offset=offset, limit=limit)
    items = [licence_out(licence) for licence, _ in rows]
    return Page(items=items, total=total, offset=offset, limit=limit)


def brand_licences_page(
    session: Session, *, principal: Principal, offset: int, limit: int
) -> Page[BrandLicenceOut]:
    """``GET /v1/brand/licences``: :func:`list_brand_licences` as a page."""
    rows, total = list_brand_licences(session, principal=principal, offset=offset, limit=limit)
    items = [
        BrandLicenceOut(**licence_out(licence).model_dump(), talent=talent.name, agency=agency)
        for licence, talent, agency in rows
    ]
    return Page(items=items, total=total, offset=offset, limit=limit)


def list_brand_licences(
    session: Session, *, principal: Principal, offset: int, limit: int
) -> tuple[list[tuple[Licence, Talent, str]], int]:
    """The licences to the calling brand (only its own: linked to it), newest first, each
    with its talent and the talent's agency's name (whom to ask about it), with the total."""
    query = (
        select(Licence, Talent, Agency.name)
        .join(Talent, Talent.id == Licence.talent_id)
        .join(Agency, Agency.id == Talent.agency_id)
        .where(Licence.brand_id == principal.brand_id)
    )
    if principal.brand_id is None:
        query = query.where(false())
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(Licence.id.desc()).offset(offset).limit(limit))
    return [(licence, talent, agency) for licence, talent, agency in rows], total


def _money(compensation: Compensation | None) -> dict[str, int | str | None]:
    if compensation is None:
        return {"flat_fee_cents": None, "per_use_cents": None, "currency": None}
    return {
        "flat_fee_cents": to_cents(compensation.flat_fee),
        "per_use_cents": to_cents(compensation.per_use),
        "currency": compensation.currency,
    }


def list_licences(session: Session, *, principal: Principal, talent_id: int) -> list[Licence]:
    talent_in_scope(session, principal=principal, talent_id=talent_id)
    return list(
        session.scalars(select(Licence).where(Licence.talent_id == talent_id).order_by(Licence.id))
    )


def revoke_licence(
    session: Session,
    *,
    principal: Principal,
    licence_id: int,
    reason: str,
    revoked_at: datetime | None,
) -> Licence:
    licence = licence_in_scope(session, principal=principal, licence_id=licence_id)
    if licence.revoked_at is None:
        licence.revoked_at = revoked_at or utcnow()
        licence.revocation_reason = reason
    return licence


def add_approved_asset(
    session: Session, *, principal: Principal, licence_id: int, data: bytes, max_pixels: int
) -> Licence:
    """Fingerprint a licensed image (sha256 + perceptual hash); the image is not kept.

    Adding an asset never changes which images the licence covers: that is ``asset_scope``.
    """
    licence = licence_in_scope(session, principal=principal, licence_id=licence_id)
    decoded = decode_image(data, max_pixels=max_pixels)
    consent.lock_for_terms(session, licence)
    if not any(a.sha256 == decoded.sha256 for a in licence.assets):
        if len(licence.assets) >= MAX_APPROVED_ASSETS:
            raise InvalidRequestError(
                f"A licence has at most {MAX_APPROVED_ASSETS} approved assets; remove one first.",
                limit=MAX_APPROVED_ASSETS,
            )
        licence.assets.append(
            LicenceAsset(sha256=decoded.sha256, phash=perceptual_hash(decoded.bgr))
        )
    session.flush()
    consent.note_terms(session, principal=principal, licence=licence)
    return licence


def remove_approved_asset(
    session: Session, *, principal: Principal, licence_id: int, asset_id: int
) -> Licence:
    licence = _for_terms(session, principal, licence_id)
    asset = next((a for a in licence.assets if a.id == asset_id), None)
    if asset is None:
        raise LicenceAssetNotFoundError(f"Licence {licence_id} has no approved asset {asset_id}.")
    licence.assets.remove(asset)
    session.flush()
    consent.note_terms(session, principal=principal, licence=licence)
    return licence


def set_asset_scope(
    session: Session, *, principal: Principal, licence_id: int, scope: AssetScope
) -> Licence:
    licence = _for_terms(session, principal, licence_id)
    licence.asset_scope = scope.value
    session.flush()
    consent.note_terms(session, principal=principal, licence=licence)
    return licence


def licence_out(licence: Licence) -> LicenceOut:
    compensation = None
    if licence.currency:
        compensation = Compensation(
            flat_fee=from_cents(licence.flat_fee_cents),
            per_use=from_cents(licence.per_use_cents),
            currency=licence.currency,
        )
    return LicenceOut(
        id=licence.id,
        talent_id=licence.talent_id,
        licensee=licence.licensee,
        licensee_brand_id=licence.brand_id,
        publishers=licence.publishers,
        channels=licence.channels,
        territories=licence.territories,
        media=licence.media,
        ai_label_required=licence.ai_label_required,
        valid_from=licence.valid_from,
        valid_until=licence.valid_until,
        asset_scope=AssetScope(licence.asset_scope),
        alterations_allowed=Alterations(licence.alterations_allowed),
        approved_assets=[AssetOut(id=a.id, sha256=a.sha256, phash=a.phash) for a in licence.assets],
        compensation=compensation,
        revoked_at=licence.revoked_at,
        revocation_reason=licence.revocation_reason,
        created_at=licence.created_at,
        requires_talent_consent=licence.requires_talent_consent,
        consent=LicenceConsentOut(
            required=consent.requires_consent(licence),
            status=consent.consent_status(licence),
            terms_sha256=consent.terms_sha256(licence),
        ),
    )
