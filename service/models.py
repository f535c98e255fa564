"""The service's tables, on the indexer's declarative base (one schema, one database).

Every row that names a talent references ``talents.id`` with ON DELETE CASCADE, so
erasing a talent removes every trace in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from indexer.db import Base, BigId, UtcDateTime, id_column, key_ref, table_args, utcnow

TS = UtcDateTime


class Brand(Base):
    __tablename__ = "brands"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class Monitor(Base):
    __tablename__ = "monitors"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class ApiKey(Base):
    """An API key; only its sha256 is stored. ``prefix`` identifies it in lists and logs."""

    __tablename__ = "api_keys"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # admin | agency | monitor | brand | talent
    agency_id: Mapped[int | None] = key_ref("agencies.id", ondelete="CASCADE")
    brand_id: Mapped[int | None] = key_ref("brands.id", ondelete="CASCADE")
    monitor_id: Mapped[int | None] = key_ref("monitors.id", ondelete="CASCADE")
    # A talent's own key: erased with the talent.
    talent_id: Mapped[int | None] = key_ref("talents.id", ondelete="CASCADE", index=True)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(TS)


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
    as evidence, by sha256). ``terms_sha256`` is the sha256 of ``terms`` (the canonical
    serialisation, service.licensing.consent): a change of terms leaves the record standing
    but no longer matching. Legal evidence, biometric-free; kept while the talent exists
    and erased with them (cascade)."""

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


class LicenceAsset(Base):
    """A specific licensed image, by fingerprint (the image itself is not stored)."""

    __tablename__ = "licence_assets"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    licence_id: Mapped[int] = key_ref("licences.id", ondelete="CASCADE", index=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    phash: Mapped[str | None] = mapped_column(String(16))


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    kind: Mapped[str] = mapped_column(String(20))  # scan | precheck
    owner_key_id: Mapped[int | None] = key_ref("api_keys.id", ondelete="SET NULL")
    monitor_id: Mapped[int | None] = key_ref("monitors.id", ondelete="CASCADE")
    brand_id: Mapped[int | None] = key_ref("brands.id", ondelete="CASCADE")
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued|running|done
    context: Mapped[dict[str, Any]] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(TS)
    # Called once when the job finishes (service.jobs.callbacks); the secret signs it.
    callback_url: Mapped[str | None] = mapped_column(Text)
    callback_secret: Mapped[str | None] = mapped_column(String(200))
    # Records of a crawl (WARC) that were reported and skipped: [{offset, uri, reason}].
    skipped: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


class JobItem(Base):
    __tablename__ = "job_items"
    __table_args__ = table_args(Index("ix_job_items_status_claimed", "status", "claimed_at"))

    id: Mapped[int] = id_column()
    job_id: Mapped[int] = key_ref("jobs.id", ondelete="CASCADE", index=True)
    position: Mapped[int] = mapped_column(Integer)
    source_url: Mapped[str | None] = mapped_column(Text)
    upload_name: Mapped[str | None] = mapped_column(String(300))
    upload_path: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued|running|done|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(TS)
    scan_id: Mapped[int | None] = key_ref("scans.id", ondelete="SET NULL")
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The item's own context (page_url, publisher, observed_at, channel, territory), over the
    # job's; and whether its scan raised or updated an alert (service.schemas.AlertOutcome).
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    alert_outcome: Mapped[str | None] = mapped_column(String(10))


class JobCallback(Base):
    """The outbox of job-completion callbacks: written in the transaction that finishes the
    job, delivered (signed like the agency webhooks) and retried; every attempt is kept."""

    __tablename__ = "job_callbacks"
    __table_args__ = table_args(Index("ix_job_callbacks_due", "status", "next_attempt_at"))

    id: Mapped[int] = id_column()
    job_id: Mapped[int] = key_ref("jobs.id", ondelete="CASCADE", unique=True)
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    attempt_log: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    next_attempt_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(TS)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(TS)


class Scan(Base):
    """One analysed image: hashes, context and findings. The image itself is not kept here."""

    __tablename__ = "scans"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    kind: Mapped[str] = mapped_column(String(20))  # scan | precheck
    owner_key_id: Mapped[int | None] = key_ref("api_keys.id", ondelete="SET NULL")
    monitor_id: Mapped[int | None] = key_ref("monitors.id", ondelete="CASCADE", index=True)
    brand_id: Mapped[int | None] = key_ref("brands.id", ondelete="CASCADE", index=True)
    job_id: Mapped[int | None] = key_ref("jobs.id", ondelete="SET NULL", index=True)
    # A job item's scan: unique, so a re-run of the item can never record it twice.
    job_item_id: Mapped[int | None] = mapped_column(
        BigId,
        ForeignKey(
            "job_items.id", ondelete="SET NULL", use_alter=True, name="fk_scans_job_item_id"
        ),
        unique=True,
    )
    image_sha256: Mapped[str] = mapped_column(String(64), index=True)
    image_phash: Mapped[str | None] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    source_url: Mapped[str | None] = mapped_column(Text)
    page_url: Mapped[str | None] = mapped_column(Text)
    publisher: Mapped[str | None] = mapped_column(String(500))
    observed_at: Mapped[datetime] = mapped_column(TS)
    use_until: Mapped[datetime | None] = mapped_column(TS)
    channel: Mapped[str | None] = mapped_column(String(50))
    territory: Mapped[str | None] = mapped_column(String(2))
    # a pre-check's stated intent: medium (photo | ai_replica) and the AI label to be applied
    intended_medium: Mapped[str | None] = mapped_column(String(20))
    intended_ai_label: Mapped[str | None] = mapped_column(String(10))
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON)
    asset_reuse: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    pack_name: Mapped[str] = mapped_column(String(100))
    pack_version: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow, index=True)

    findings: Mapped[list[Finding]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Finding.face_index",
        lazy="selectin",
    )


class Finding(Base):
    """One face in a scan. A face matched to a talent is erased with that talent."""

    __tablename__ = "findings"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    scan_id: Mapped[int] = key_ref("scans.id", ondelete="CASCADE", index=True)
    face_index: Mapped[int] = mapped_column(Integer)
    box: Mapped[list[float]] = mapped_column(JSON)
    detection_score: Mapped[float] = mapped_column(Float)
    talent_id: Mapped[int | None] = key_ref("talents.id", ondelete="CASCADE", index=True)
    similarity: Mapped[float | None] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(20))
    verdict: Mapped[str | None] = mapped_column(String(20))
    licence_id: Mapped[int | None] = key_ref("licences.id", ondelete="SET NULL")
    licence_checks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The evaluator's reasons, for the talent's side only (see service.licensing.verdicts).
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The talent's reference photo nearest to this face (the index's best vector for the
    # assigned talent); None for rows recorded before it was kept, or once it is removed.
    reference_image_id: Mapped[int | None] = key_ref("reference_images.id", ondelete="SET NULL")

    candidates: Mapped[list[FindingCandidate]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="FindingCandidate.rank",
        lazy="selectin",
    )


class FindingCandidate(Base):
    __tablename__ = "finding_candidates"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    finding_id: Mapped[int] = key_ref("findings.id", ondelete="CASCADE", index=True)
    talent_id: Mapped[int] = key_ref("talents.id", ondelete="CASCADE", index=True)
    rank: Mapped[int] = mapped_column(Integer)
    similarity: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(20))


class Alert(Base):
    """Unlicensed (or to-review) use of a talent: same talent + image + publisher = one alert."""

    __tablename__ = "alerts"
    __table_args__ = table_args(
        UniqueConstraint("talent_id", "image_sha256", "publisher_key", name="uq_alert_dedup"),
    )

    id: Mapped[int] = id_column()
    agency_id: Mapped[int] = key_ref("agencies.id", ondelete="CASCADE", index=True)
    talent_id: Mapped[int] = key_ref("talents.id", ondelete="CASCADE", index=True)
    image_sha256: Mapped[str] = mapped_column(String(64))
    image_phash: Mapped[str | None] = mapped_column(String(16))
    publisher_key: Mapped[str] = mapped_column(String(500))  # normalised publisher, "" if unknown
    publisher: Mapped[str | None] = mapped_column(String(500))
    page_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(30), default="open", index=True)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    verdict: Mapped[str] = mapped_column(String(20))
    band: Mapped[str] = mapped_column(String(20))
    similarity: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSON)  # the talent's side only
    licence_checks: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    pack_name: Mapped[str] = mapped_column(String(100))  # the pack of the first sighting
    pack_version: Mapped[str] = mapped_column(String(100))
    sightings: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime] = mapped_column(TS, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(TS)
    evidence_path: Mapped[str | None] = mapped_column(String(500))
    evidence_expires_at: Mapped[datetime | None] = mapped_column(TS)
    triage_note: Mapped[str | None] = mapped_column(Text)
    triaged_at: Mapped[datetime | None] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class AlertSighting(Base):
    __tablename__ = "alert_sightings"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    alert_id: Mapped[int] = key_ref("alerts.id", ondelete="CASCADE", index=True)
    scan_id: Mapped[int] = key_ref("scans.id", ondelete="CASCADE")
    finding_id: Mapped[int] = key_ref("findings.id", ondelete="CASCADE")
    seen_at: Mapped[datetime] = mapped_column(TS)
    observed_at: Mapped[datetime] = mapped_column(TS)
    page_url: Mapped[str | None] = mapped_column(Text)


class Webhook(Base):
    __tablename__ = "webhooks"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    agency_id: Mapped[int] = key_ref("agencies.id", ondelete="CASCADE", index=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class WebhookDelivery(Base):
    """The outbox: written in the same transaction as the alert it announces."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = table_args(Index("ix_webhook_deliveries_due", "status", "next_attempt_at"))

    id: Mapped[int] = id_column()
    webhook_id: Mapped[int] = key_ref("webhooks.id", ondelete="CASCADE", index=True)
    alert_id: Mapped[int | None] = key_ref("alerts.id", ondelete="CASCADE")
    event: Mapped[str] = mapped_column(String(50))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(TS)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(TS)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    delivery_id: Mapped[int] = key_ref("webhook_deliveries.id", ondelete="CASCADE", index=True)
    attempted_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)


class UsageEvent(Base):
    """A licensed sighting, once per licence + image + publisher; what the talent is paid from."""

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


class IdempotencyRecord(Base):
    """The first answer to a create, kept under its key for replay. The key's owner is an
    API key (an ``Idempotency-Key`` header) or a console session (a one-time form token):
    exactly one of ``key_id`` and ``session_id`` is set, and the record goes with its owner."""

    __tablename__ = "idempotency_records"
    __table_args__ = table_args(
        UniqueConstraint("key_id", "idempotency_key", name="uq_idempotency"),
        UniqueConstraint("session_id", "idempotency_key", name="uq_idempotency_session"),
    )

    id: Mapped[int] = id_column()
    key_id: Mapped[int | None] = key_ref("api_keys.id", ondelete="CASCADE")
    session_id: Mapped[int | None] = key_ref("user_sessions.id", ondelete="CASCADE")
    idempotency_key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    talent_count: Mapped[int] = mapped_column(Integer, default=0)  # talents the answer names
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class IdempotencyTalent(Base):
    """A talent named in a stored idempotent answer: erasing the talent forgets the answer."""

    __tablename__ = "idempotency_talents"
    __table_args__ = table_args(
        UniqueConstraint("record_id", "talent_id", name="uq_idempotency_talent")
    )

    id: Mapped[int] = id_column()
    record_id: Mapped[int] = key_ref("idempotency_records.id", ondelete="CASCADE")
    talent_id: Mapped[int] = key_ref("talents.id", ondelete="CASCADE", index=True)


# --- human accounts (the web console) --------------------------------------------------------
class User(Base):
    """A person who signs in to the console: one tenant, one role (as API keys have).

    ``password_hash`` (argon2) is empty until the user sets a password from an invitation.
    """

    __tablename__ = "users"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    email: Mapped[str] = mapped_column(String(320), unique=True)  # normalised, lower case
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # admin | agency | brand | monitor | talent
    agency_id: Mapped[int | None] = key_ref("agencies.id", ondelete="CASCADE")
    brand_id: Mapped[int | None] = key_ref("brands.id", ondelete="CASCADE")
    monitor_id: Mapped[int | None] = key_ref("monitors.id", ondelete="CASCADE")
    # A talent's own account (invited by their agency): erased with the talent.
    talent_id: Mapped[int | None] = key_ref("talents.id", ondelete="CASCADE", index=True)
    disabled_at: Mapped[datetime | None] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(TS)


class UserSession(Base):
    """A signed-in browser: only the cookie token's sha256 is stored; the CSRF token of the
    session's forms (synchronizer token) lives beside it."""

    __tablename__ = "user_sessions"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    user_id: Mapped[int] = key_ref("users.id", ondelete="CASCADE", index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(TS)


class Invitation(Base):
    """A single-use link to set a password; only the token's sha256 is stored."""

    __tablename__ = "invitations"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    user_id: Mapped[int] = key_ref("users.id", ondelete="CASCADE", index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(TS)
    used_at: Mapped[datetime | None] = mapped_column(TS)


class LoginAttempt(Base):
    """Every sign-in attempt, for throttling per e-mail and per client address."""

    __tablename__ = "login_attempts"
    __table_args__ = table_args(
        Index("ix_login_attempts_email_at", "email", "attempted_at"),
        Index("ix_login_attempts_ip_at", "ip", "attempted_at"),
    )

    id: Mapped[int] = id_column()
    email: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    attempted_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class AlertEvent(Base):
    """Triage history: who moved an alert from which status to which, when, with what note.
    The actor is a console user or an API key (kept as ids; erased with the alert)."""

    __tablename__ = "alert_events"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    alert_id: Mapped[int] = key_ref("alerts.id", ondelete="CASCADE", index=True)
    at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    user_id: Mapped[int | None] = key_ref("users.id", ondelete="SET NULL")
    key_id: Mapped[int | None] = key_ref("api_keys.id", ondelete="SET NULL")
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str] = mapped_column(String(30))
    to_status: Mapped[str] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)


# --- takedown notices and e-mail (issue 9) ---------------------------------------------------
class AgencyProfile(Base):
    """Who a takedown notice is from: the rights holder or its agent, contact, signature."""

    __tablename__ = "agency_profiles"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    agency_id: Mapped[int] = key_ref("agencies.id", ondelete="CASCADE", unique=True)
    rights_holder: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(Text)
    email: Mapped[str] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    signature_name: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class TakedownNotice(Base):
    """A notice about one talent's likeness on one publisher. ``fields`` are the editable
    texts; once final, ``final_html`` is the notice as sent and never changes."""

    __tablename__ = "takedown_notices"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    agency_id: Mapped[int] = key_ref("agencies.id", ondelete="CASCADE", index=True)
    talent_id: Mapped[int] = key_ref("talents.id", ondelete="CASCADE", index=True)
    kind: Mapped[str] = mapped_column(String(10))  # service.schemas.NoticeKind
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    publisher_key: Mapped[str] = mapped_column(String(500))
    publisher: Mapped[str | None] = mapped_column(String(500))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON)
    final_html: Mapped[str | None] = mapped_column(Text)
    final_sha256: Mapped[str | None] = mapped_column(String(64))
    finalized_at: Mapped[datetime | None] = mapped_column(TS)
    sent_at: Mapped[datetime | None] = mapped_column(TS)
    sent_to: Mapped[str | None] = mapped_column(String(500))
    last_checked_at: Mapped[datetime | None] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TS, default=utcnow)

    items: Mapped[list[TakedownItem]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="TakedownItem.id",
        lazy="selectin",
    )


class TakedownItem(Base):
    """One infringing URL of a notice: the alert it comes from and the image's fingerprints
    (for the re-check and for spotting the image again)."""

    __tablename__ = "takedown_items"
    __table_args__ = table_args(
        UniqueConstraint("notice_id", "alert_id", name="uq_takedown_item_alert")
    )

    id: Mapped[int] = id_column()
    notice_id: Mapped[int] = key_ref("takedown_notices.id", ondelete="CASCADE", index=True)
    alert_id: Mapped[int] = key_ref("alerts.id", ondelete="CASCADE", index=True)
    page_url: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    image_sha256: Mapped[str] = mapped_column(String(64), index=True)
    image_phash: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(20), default="reported")
    checked_at: Mapped[datetime | None] = mapped_column(TS)
    check_detail: Mapped[str | None] = mapped_column(Text)


class TakedownEvent(Base):
    """A notice's history: every status change, who made it, when, and why."""

    __tablename__ = "takedown_events"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    notice_id: Mapped[int] = key_ref("takedown_notices.id", ondelete="CASCADE", index=True)
    at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    user_id: Mapped[int | None] = key_ref("users.id", ondelete="SET NULL")
    key_id: Mapped[int | None] = key_ref("api_keys.id", ondelete="SET NULL")
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)


class EmailPreference(Base):
    """Who at an agency gets which e-mails."""

    __tablename__ = "email_preferences"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    agency_id: Mapped[int] = key_ref("agencies.id", ondelete="CASCADE", unique=True)
    recipients: Mapped[list[str]] = mapped_column(JSON)
    immediate_matches: Mapped[bool] = mapped_column(Boolean, default=True)
    daily_digest: Mapped[bool] = mapped_column(Boolean, default=True)
    takedown_updates: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class EmailMessage(Base):
    """The e-mail outbox: one row per event (``event_key`` unique per agency), written in
    the transaction of the event it announces, delivered and retried like webhooks."""

    __tablename__ = "email_messages"
    __table_args__ = table_args(
        UniqueConstraint("agency_id", "event_key", name="uq_email_event"),
        Index("ix_email_messages_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = id_column()
    agency_id: Mapped[int] = key_ref("agencies.id", ondelete="CASCADE", index=True)
    talent_id: Mapped[int | None] = key_ref("talents.id", ondelete="CASCADE", index=True)
    event_key: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))  # service.schemas.EmailKind
    recipients: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(TS)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(TS)


class EmailAttempt(Base):
    __tablename__ = "email_attempts"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    message_id: Mapped[int] = key_ref("email_messages.id", ondelete="CASCADE", index=True)
    attempted_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    smtp_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)


class FaceRejection(Base):
    """A reviewer's "not the same person": this face of this image is not this talent.

    Only what recognises the face again is kept: the image's sha256 and pHash and the face
    box as fractions of the image's width and height (never an embedding). Erased with the
    talent (and forgotten with nothing else: the alert it came from may go)."""

    __tablename__ = "face_rejections"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    talent_id: Mapped[int] = key_ref("talents.id", ondelete="CASCADE", index=True)
    image_sha256: Mapped[str] = mapped_column(String(64), index=True)
    image_phash: Mapped[str | None] = mapped_column(String(16))
    box: Mapped[list[float]] = mapped_column(JSON)  # x1, y1, x2, y2 in 0..1
    alert_id: Mapped[int | None] = key_ref("alerts.id", ondelete="SET NULL")
    user_id: Mapped[int | None] = key_ref("users.id", ondelete="SET NULL")
    key_id: Mapped[int | None] = key_ref("api_keys.id", ondelete="SET NULL")
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
