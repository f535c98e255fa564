"""Tables of licences: licences, their approved assets, consent records, the consent ledger
and usage events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from indexer.db import Base, BigId, UtcDateTime, id_column, key_ref, table_args, utcnow

TS = UtcDateTime


class Licence(Base):
    """A talent's consent for one licensee. Never deleted through the API, only revoked."""

    __tablename__ = "licences"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    talent_id: Mapped[int] = key_ref("talents.id", ondelete="CASCADE", index=True)
    licensee: Mapped[str] = mapped_column(String(200))
    brand_id: Mapped[int | None] = key_ref("brands.id", ondelete="SET NULL")
    publishers: Mapped[list[str]] = mapped_column(JSON)
    channels: Mapped[list[str]] = mapped_column(JSON)
    territories: Mapped[list[str]] = mapped_column(JSON)
    media: Mapped[list[str]] = mapped_column(JSON)
    ai_label_required: Mapped[bool] = mapped_column(Boolean)
    # service.rules.vocabulary.AssetScope: "any_image" | "approved_assets"
    asset_scope: Mapped[str] = mapped_column(
        String(20), default="any_image", server_default="any_image"
    )
    # service.rules.vocabulary.Alterations: "none" | "retouching" (face replacement never)
    alterations_allowed: Mapped[str] = mapped_column(
        String(20), default="none", server_default="none"
    )
    valid_from: Mapped[datetime] = mapped_column(TS)
    valid_until: Mapped[datetime | None] = mapped_column(TS)
    flat_fee_cents: Mapped[int | None] = mapped_column(Integer)
    per_use_cents: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3))
    revoked_at: Mapped[datetime | None] = mapped_column(TS)
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    # The agency's choice: not in force until the talent signs (always so with ai_replica).
    requires_talent_consent: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)

    assets: Mapped[list[LicenceAsset]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="LicenceAsset.id",
        lazy="selectin",
    )
    consents: Mapped[list[ConsentRecord]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ConsentRecord.id",
        lazy="selectin",
    )


class ConsentRecord(Base):
    """The talent's consent to one licence's exact terms: a typed-name signature in the
    console (or API), or an offline signed document the agency uploaded (the file is kept
    as evidence, by sha256), which counts only once the talent confirmed it or an admin
    verified it (``status``, service.licensing.states.RecordStatus). ``terms_sha256`` is the
    sha256 of ``terms`` (the canonical serialisation, service.licensing.consent): a change
    of terms leaves the record standing but no longer matching. Every change of a record is
    also an event of the consent ledger. Legal evidence, biometric-free; kept while the
    talent exists and erased with them (cascade)."""

    __tablename__ = "consent_records"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    licence_id: Mapped[int] = key_ref("licences.id", ondelete="CASCADE", index=True)
    talent_id: Mapped[int] = key_ref("talents.id", ondelete="CASCADE", index=True)
    method: Mapped[str] = mapped_column(String(20))  # ConsentMethod: signature | document
    signer_name: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[datetime] = mapped_column(TS)
    terms_sha256: Mapped[str] = mapped_column(String(64))
    terms: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = key_ref("users.id", ondelete="SET NULL")
    key_id: Mapped[int | None] = key_ref("api_keys.id", ondelete="SET NULL")
    document_path: Mapped[str | None] = mapped_column(String(500))
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    document_media_type: Mapped[str | None] = mapped_column(String(50))
    document_bytes: Mapped[int | None] = mapped_column(Integer)
    document_name: Mapped[str | None] = mapped_column(String(300))
    withdrawn_at: Mapped[datetime | None] = mapped_column(TS)
    withdrawn_by_user_id: Mapped[int | None] = key_ref("users.id", ondelete="SET NULL")
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    # RecordStatus: signed | attested_by_agency | confirmed
    status: Mapped[str] = mapped_column(String(30), default="signed", server_default="signed")
    confirmed_by: Mapped[str | None] = mapped_column(String(10))  # ConfirmedBy: talent | admin
    confirmed_at: Mapped[datetime | None] = mapped_column(TS)
    confirmed_by_user_id: Mapped[int | None] = key_ref("users.id", ondelete="SET NULL")
    confirmed_by_key_id: Mapped[int | None] = key_ref("api_keys.id", ondelete="SET NULL")


class ConsentEvent(Base):
    """One entry of the consent ledger: append-only, one hash chain per talent
    (service.licensing.consent_ledger). ``sha256`` is the sha256 of the canonical
    serialisation of every other field, ``prev_sha256`` included, so changing, removing or
    re-ordering an entry breaks the chain from there on. The actor's ids are plain numbers,
    not foreign keys: a deleted user or key must not rewrite a hashed row. Erased with the
    talent, a whole chain at once."""

    __tablename__ = "consent_events"
    __table_args__ = table_args(UniqueConstraint("talent_id", "seq", name="uq_consent_event_seq"))

    id: Mapped[int] = id_column()
    talent_id: Mapped[int] = key_ref("talents.id", ondelete="CASCADE", index=True)
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, ... within the talent's chain
    licence_id: Mapped[int] = key_ref("licences.id", ondelete="CASCADE", index=True)
    record_id: Mapped[int | None] = key_ref("consent_records.id", ondelete="CASCADE", index=True)
    kind: Mapped[str] = mapped_column(String(30))  # ConsentEventKind
    at: Mapped[datetime] = mapped_column(TS)
    terms_sha256: Mapped[str] = mapped_column(String(64))
    terms: Mapped[str] = mapped_column(Text)  # the canonical terms the hash is of
    actor_role: Mapped[str] = mapped_column(String(20))  # Role
    actor_user_id: Mapped[int | None] = mapped_column(BigId)
    actor_key_id: Mapped[int | None] = mapped_column(BigId)
    detail: Mapped[dict[str, object]] = mapped_column(JSON)
    prev_sha256: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))


class ConsentChain(Base):
    """The head of a talent's consent chain (its length and last hash), moved in the same
    transaction as each append: removing the newest events shows as a chain shorter than
    its head says. Erased with the talent."""

    __tablename__ = "consent_chains"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    talent_id: Mapped[int] = key_ref("talents.id", ondelete="CASCADE", unique=True)
    length: Mapped[int] = mapped_column(Integer)
    head_sha256: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class LicenceAsset(Base):
    """A specific licensed image, by fingerprint (the image itself is not stored)."""

    __tablename__ = "licence_assets"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    licence_id: Mapped[int] = key_ref("licences.id", ondelete="CASCADE", index=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    phash: Mapped[str | None] = mapped_column(String(16))


class UsageEvent(Base):
    """A licensed sighting, once per licence + image + publisher; what the talent is paid from.

    ``alert_id`` is set when the use rests on a reviewer's "same person" on a ``possible``
    match (that alert): dismissing the alert as a false match takes the use off the ledger.
    A sure (``match``) sighting of the same use clears it: the use then stands on its own."""

    __tablename__ = "usage_events"
    __table_args__ = table_args(
        UniqueConstraint("licence_id", "image_sha256", "publisher_key", name="uq_usage_dedup"),
    )

    id: Mapped[int] = id_column()
    licence_id: Mapped[int] = key_ref("licences.id", ondelete="CASCADE", index=True)
    talent_id: Mapped[int] = key_ref("talents.id", ondelete="CASCADE", index=True)
    image_sha256: Mapped[str] = mapped_column(String(64))
    publisher_key: Mapped[str] = mapped_column(String(500))
    publisher: Mapped[str | None] = mapped_column(String(500))
    first_seen_at: Mapped[datetime] = mapped_column(TS, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(TS)
    sightings: Mapped[int] = mapped_column(Integer, default=1)
    scan_id: Mapped[int | None] = key_ref("scans.id", ondelete="SET NULL")
    alert_id: Mapped[int | None] = key_ref("alerts.id", ondelete="SET NULL", index=True)
