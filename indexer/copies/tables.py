"""The portfolio rows: a talent's shoot and campaign images, registered by her agency for
copy detection (never for face matching). The file is kept in the portfolio store and its
ORB features beside it (:mod:`indexer.copies.sidecar`), so the database keeps only the
hash, the size and the talent's face box (the face-replaced check needs it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from indexer.db import (
    Base,
    UtcDateTime,
    bump_revisions,
    id_column,
    key_ref,
    table_args,
    utcnow,
)

#: The index revision row the portfolio bumps (beside the face packs' rows).
PORTFOLIO_REVISION = "copies:portfolio"


class PortfolioImage(Base):
    __tablename__ = "portfolio_images"
    __table_args__ = table_args(
        UniqueConstraint("talent_id", "sha256", name="uq_portfolio_talent_sha"),
    )

    id: Mapped[int] = id_column()
    talent_id: Mapped[int] = key_ref("talents.id", ondelete="CASCADE", index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    face_x1: Mapped[float | None] = mapped_column(Float, default=None)
    face_y1: Mapped[float | None] = mapped_column(Float, default=None)
    face_x2: Mapped[float | None] = mapped_column(Float, default=None)
    face_y2: Mapped[float | None] = mapped_column(Float, default=None)
    stored_path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    @property
    def face_box(self) -> tuple[float, float, float, float] | None:
        if self.face_x1 is None or self.face_y1 is None or self.face_x2 is None:
            return None
        return (self.face_x1, self.face_y1, self.face_x2, self.face_y2 or 0.0)


def forget_portfolio(session: Session, talent_id: int) -> bool:
    """Erasure: a talent with portfolio images leaves the portfolio index (her rows go with
    her by ON DELETE CASCADE in the same transaction; the revision makes every process's
    index drop them). Whether she had any."""
    held = session.scalar(
        select(func.count())
        .select_from(PortfolioImage)
        .where(PortfolioImage.talent_id == talent_id)
    )
    if held:
        bump_revisions(session, {PORTFOLIO_REVISION})
    return bool(held)
