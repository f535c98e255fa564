"""Tables of watches (issue 19): what a monitor or an agency watches, its runs, and what the
runs remember between them (each document's and image's validators and content hash) so that
an unchanged site costs conditional requests and no scan."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from indexer.db import Base, UtcDateTime, id_column, key_ref, table_args, utcnow

TS = UtcDateTime


class Watch(Base):
    __tablename__ = "watches"
    __table_args__ = table_args(Index("ix_watches_due", "paused", "next_run_at"))

    id: Mapped[int] = id_column()
    monitor_id: Mapped[int | None] = key_ref("monitors.id", ondelete="CASCADE", index=True)
    agency_id: Mapped[int | None] = key_ref("agencies.id", ondelete="CASCADE", index=True)
    # A watch of a page where a licence's sightings were seen, after the licence ended.
    licence_id: Mapped[int | None] = key_ref("licences.id", ondelete="CASCADE", index=True)
    owner_key_id: Mapped[int | None] = key_ref("api_keys.id", ondelete="SET NULL")
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(10))  # service.crawl.watches.WatchKind
    every_hours: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(40))
    territory: Mapped[str | None] = mapped_column(String(8))
    publisher: Mapped[str | None] = mapped_column(String(300))
    max_pages: Mapped[int] = mapped_column(Integer)
    max_images: Mapped[int] = mapped_column(Integer)
    max_bytes: Mapped[int] = mapped_column(Integer)
    max_depth: Mapped[int] = mapped_column(Integer)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    next_run_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class WatchRun(Base):
    """One run of a watch: a schedule slot (unique per watch, so two workers never run the
    same slot) or a run asked for now; claimed with a lease like a job item."""

    __tablename__ = "watch_runs"
    __table_args__ = table_args(
        UniqueConstraint("watch_id", "slot", name="uq_watch_runs_slot"),
        Index("ix_watch_runs_status_claimed", "status", "claimed_at"),
    )

    id: Mapped[int] = id_column()
    watch_id: Mapped[int] = key_ref("watches.id", ondelete="CASCADE", index=True)
    slot: Mapped[datetime] = mapped_column(TS)
    trigger: Mapped[str] = mapped_column(String(10))  # schedule | manual
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(TS)
    crawled_at: Mapped[datetime | None] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS)
    # The batch job that scans what this run found new or changed (None: nothing to scan).
    job_id: Mapped[int | None] = key_ref("jobs.id", ondelete="SET NULL")
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # What went wrong, bounded: [{"url", "reason", "message"}]
    problems: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


class WatchDocument(Base):
    """A page, sitemap or feed a watch fetched: its validators (for the next run's
    conditional request) and what it pointed at (read again when it answers 304)."""

    __tablename__ = "watch_documents"
    __table_args__ = table_args(
        UniqueConstraint("watch_id", "url_sha256", name="uq_watch_documents_url")
    )

    id: Mapped[int] = id_column()
    watch_id: Mapped[int] = key_ref("watches.id", ondelete="CASCADE")
    url_sha256: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    links: Mapped[list[str]] = mapped_column(JSON, default=list)
    images: Mapped[list[str]] = mapped_column(JSON, default=list)
    fetched_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class WatchImage(Base):
    """An image a watch staged for a scan: its validators, content hash, and the model pack
    and gallery revision it was scanned against (unchanged on all three: not scanned again)."""

    __tablename__ = "watch_images"
    __table_args__ = table_args(
        UniqueConstraint("watch_id", "url_sha256", name="uq_watch_images_url")
    )

    id: Mapped[int] = id_column()
    watch_id: Mapped[int] = key_ref("watches.id", ondelete="CASCADE")
    url_sha256: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    content_sha256: Mapped[str] = mapped_column(String(64))
    pack: Mapped[str] = mapped_column(String(200))
    gallery_revision: Mapped[int] = mapped_column(Integer)
    job_item_id: Mapped[int | None] = key_ref("job_items.id", ondelete="SET NULL")
    updated_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
