"""Tables of takedown notices: agency profiles, notices, their items and events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from indexer.db import Base, UtcDateTime, id_column, key_ref, table_args, utcnow

TS = UtcDateTime


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
    kind: Mapped[str] = mapped_column(String(10))  # service.takedowns.states.NoticeKind
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
