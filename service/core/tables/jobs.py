"""Tables of batch jobs: jobs, their items (one per image) and completion callbacks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from indexer.db import Base, UtcDateTime, id_column, key_ref, table_args, utcnow

TS = UtcDateTime


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
    # job's; and whether its scan raised or updated an alert (service.scanning.types.AlertOutcome).
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
