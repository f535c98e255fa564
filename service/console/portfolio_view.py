"""What the portfolio pages (the agency's, and the talent's own) read besides the portfolio
service (issue 22): one portfolio image's kept file, checked to be the talent's, as a reduced
copy, and the copies of her portfolio images monitors found, a page at a time, each with the
alert it raised (if any)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from indexer.copies.tables import PortfolioImage
from service.alerts.derived_evidence import NEWEST_COPIES_FIRST, copy_words, her_copies
from service.context import AppContext
from service.core import thumbnails as thumbs
from service.core.errors import ResourceNotFoundError
from service.core.tables.alerts import Alert
from service.core.tables.scanning import DerivedFinding, Scan

COPIES_PAGE = 20
IMAGES_PAGE = 48
THUMB_PX = 320


@dataclass(frozen=True)
class KeptImage:
    name: str
    stored_path: str


def kept_image(session: Session, *, talent_id: int, image_id: int) -> KeptImage:
    """The talent's portfolio image ``image_id``: its name and kept file (the caller has
    checked the talent is in scope); not found for another talent's image."""
    row = session.get(PortfolioImage, image_id)
    if row is None or row.talent_id != talent_id:
        raise ResourceNotFoundError(f"Talent {talent_id} has no portfolio image {image_id}.")
    return KeptImage(row.name, row.stored_path)


def thumbnail(ctx: AppContext, *, talent_id: int, image_id: int) -> bytes:
    """A reduced JPEG of her portfolio image ``image_id`` (never the file itself); the
    caller has checked the talent is the viewer's to see."""
    with ctx.db.session() as session:
        kept = kept_image(session, talent_id=talent_id, image_id=image_id)
    data = ctx.copies.store.read(kept.stored_path)
    return thumbs.image_thumbnail(data, max_pixels=ctx.settings.max_image_pixels, size=THUMB_PX)


@dataclass(frozen=True)
class CopyFound:
    """A monitor's scan found derived from one of her portfolio images."""

    observed_at: datetime
    publisher: str | None
    page_url: str | None
    words: str
    alert_id: int | None  # the alert the image raised for her, when one did


def copies_found(
    session: Session, *, talent_id: int, offset: int, limit: int = COPIES_PAGE
) -> tuple[list[CopyFound], int]:
    """The copies of her portfolio seen in use (``her_copies``), newest first, and how
    many there are in all."""
    mine = her_copies(talent_id)
    total = (
        session.scalar(
            select(func.count())
            .select_from(DerivedFinding)
            .join(Scan, Scan.id == DerivedFinding.scan_id)
            .where(mine)
        )
        or 0
    )
    alert_of = (
        select(func.min(Alert.id))
        .where(Alert.talent_id == talent_id, Alert.image_sha256 == Scan.image_sha256)
        .correlate(Scan)
        .scalar_subquery()
    )
    rows = session.execute(
        select(DerivedFinding, Scan, alert_of)
        .join(Scan, Scan.id == DerivedFinding.scan_id)
        .where(mine)
        .order_by(*NEWEST_COPIES_FIRST)
        .offset(offset)
        .limit(limit)
    ).all()
    return [
        CopyFound(
            observed_at=scan.observed_at,
            publisher=scan.publisher,
            page_url=scan.page_url,
            words=copy_words(
                found.portfolio_image_id, found.area_share, face_replaced=found.face_replaced
            ),
            alert_id=alert_id,
        )
        for found, scan, alert_id in rows
    ], total
