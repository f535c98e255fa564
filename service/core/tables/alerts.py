"""Tables of alerts: alerts, sightings, history, face rejections, webhooks and e-mails."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from indexer.db import Base, UtcDateTime, id_column, key_ref, table_args, utcnow

TS = UtcDateTime


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
    kind: Mapped[str] = mapped_column(String(30))  # service.alerts.states.EmailKind
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
