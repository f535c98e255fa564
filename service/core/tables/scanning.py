"""Tables of scans: each scanned image, its findings (faces) and their candidates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

import indexer.copies.tables  # noqa: F401  (portfolio_images, which derived findings name)
from indexer.db import Base, BigId, UtcDateTime, id_column, key_ref, table_args, utcnow

TS = UtcDateTime


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
    # What was scanned (MediaKind): a video's findings are face tracks with time ranges.
    media_kind: Mapped[str] = mapped_column(String(10), default="image", server_default="image")
    duration_s: Mapped[float | None] = mapped_column(Float)
    # A video cut short: which bound cut it (indexer.video.ReadStats.truncated), else null.
    video_truncated: Mapped[str | None] = mapped_column(String(20))
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
    # A video's face track: on screen from start_s to end_s, box and score at best_frame_s.
    start_s: Mapped[float | None] = mapped_column(Float)
    end_s: Mapped[float | None] = mapped_column(Float)
    best_frame_s: Mapped[float | None] = mapped_column(Float)

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


class DerivedFinding(Base):
    """A scanned image derived from a talent's portfolio image (issue 22): which one, how
    much of it, and whether the face where hers was is still hers. Erased with the talent
    (and with the portfolio image)."""

    __tablename__ = "derived_findings"
    __table_args__ = table_args()

    id: Mapped[int] = id_column()
    scan_id: Mapped[int] = key_ref("scans.id", ondelete="CASCADE", index=True)
    talent_id: Mapped[int] = key_ref("talents.id", ondelete="CASCADE", index=True)
    portfolio_image_id: Mapped[int] = key_ref("portfolio_images.id", ondelete="CASCADE", index=True)
    area_share: Mapped[float] = mapped_column(Float)
    scale: Mapped[float] = mapped_column(Float)
    rotation_deg: Mapped[float] = mapped_column(Float)
    mirrored: Mapped[bool] = mapped_column(Boolean)
    inliers: Mapped[int] = mapped_column(Integer)
    # The region of the original the scanned image shows (polygon, original pixels).
    region: Mapped[list[list[float]]] = mapped_column(JSON)
    face_present: Mapped[bool] = mapped_column(Boolean)
    face_similarity: Mapped[float | None] = mapped_column(Float)
    face_replaced: Mapped[bool] = mapped_column(Boolean)
