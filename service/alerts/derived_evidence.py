"""Evidence for an alert raised by a derived image (issue 22): the talent's portfolio
original beside the image found, the region of the original the copy shows outlined in
red. Drawn on request from the portfolio file and the alert's kept image, so the found
image lives only as long as evidence retention keeps it (nothing else is stored)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import cv2
import numpy as np
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from indexer.copies.tables import PortfolioImage
from indexer.imaging import decode_image
from service.core.tables.alerts import Alert
from service.core.tables.scanning import DerivedFinding, Scan
from service.rules.vocabulary import ScanKind

PANEL_PX = 480  # the height of each half of the side-by-side picture
OUTLINE_BGR = (0, 0, 255)
GAP_PX = 12
COPIES_SHOWN = 20  # the newest copies of her portfolio photos on her own page


def copy_words(portfolio_image_id: int, area_share: float, *, face_replaced: bool) -> str:
    """ "derived from portfolio image 12 (48% of it)[, face replaced]"."""
    share = round(area_share * 100)
    said = f"derived from portfolio image {portfolio_image_id} ({share}% of it)"
    return f"{said}, face replaced" if face_replaced else said


@dataclass(frozen=True)
class DerivedSource:
    """The portfolio image an alert's image was last found derived from."""

    portfolio_image_id: int
    stored_path: str
    region: list[list[float]]  # in the original's pixels
    area_share: float
    face_replaced: bool

    @property
    def words(self) -> str:
        return copy_words(
            self.portfolio_image_id, self.area_share, face_replaced=self.face_replaced
        )

    def notice_words(self, talent: str) -> str:
        """For a takedown recipient (no internal ids)."""
        share = round(self.area_share * 100)
        said = f"a copy of {share}% of a photograph of {talent} from her agency's portfolio"
        return f"{said}, with another person's face pasted on hers" if self.face_replaced else said


def derived_source(session: Session, alert: Alert) -> DerivedSource | None:
    """The latest derived finding of the alert's talent in a scan of the alert's image
    whose portfolio image still exists, or None."""
    row = session.execute(
        select(DerivedFinding, PortfolioImage.stored_path)
        .join(Scan, Scan.id == DerivedFinding.scan_id)
        .join(PortfolioImage, PortfolioImage.id == DerivedFinding.portfolio_image_id)
        .where(
            DerivedFinding.talent_id == alert.talent_id,
            Scan.image_sha256 == alert.image_sha256,
        )
        .order_by(DerivedFinding.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    found, stored_path = row
    return DerivedSource(
        portfolio_image_id=found.portfolio_image_id,
        stored_path=stored_path,
        region=[[float(x), float(y)] for x, y in found.region],
        area_share=found.area_share,
        face_replaced=found.face_replaced,
    )


@dataclass(frozen=True)
class CopySeen:
    """A monitor's sighting of a copy of one of her portfolio photos."""

    observed_at: datetime
    publisher: str | None
    page_url: str | None
    words: str


def her_copies(talent_id: int) -> ColumnElement[bool]:
    """Which derived findings are copies of her portfolio seen in use: monitors' scans
    (pre-checks are brands' questions, not uses). Join ``Scan`` on the finding's scan."""
    return and_(DerivedFinding.talent_id == talent_id, Scan.kind == ScanKind.SCAN.value)


#: Newest first (ties by the finding's id), for every list of her copies.
NEWEST_COPIES_FIRST = (Scan.observed_at.desc(), DerivedFinding.id.desc())


def copies_of(session: Session, talent_id: int, *, limit: int = COPIES_SHOWN) -> list[CopySeen]:
    """The newest copies of her portfolio seen in use (:func:`her_copies`)."""
    rows = session.execute(
        select(DerivedFinding, Scan)
        .join(Scan, Scan.id == DerivedFinding.scan_id)
        .where(her_copies(talent_id))
        .order_by(*NEWEST_COPIES_FIRST)
        .limit(limit)
    ).all()
    return [
        CopySeen(
            observed_at=scan.observed_at,
            publisher=scan.publisher,
            page_url=scan.page_url,
            words=copy_words(
                found.portfolio_image_id, found.area_share, face_replaced=found.face_replaced
            ),
        )
        for found, scan in rows
    ]


def side_by_side(
    original: bytes, found: bytes, region: list[list[float]], *, max_pixels: int
) -> bytes:
    """One JPEG: the original (its copied region outlined) left, the found image right,
    each fitted into PANEL_PX high and twice that wide."""
    left, scale = _fit(decode_image(original, max_pixels=max_pixels).bgr)
    if len(region) >= 3:
        points = np.round(np.asarray(region, dtype=np.float64) * scale).astype(np.int32)
        cv2.polylines(left, [points.reshape(-1, 1, 2)], True, OUTLINE_BGR, 3, cv2.LINE_AA)
    right, _ = _fit(decode_image(found, max_pixels=max_pixels).bgr)
    gap = np.full((PANEL_PX, GAP_PX, 3), 255, dtype=np.uint8)
    both = np.ascontiguousarray(np.hstack([_pad(left), gap, _pad(right)]))
    ok, data = cv2.imencode(".jpg", both, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValueError("could not encode the side-by-side evidence")
    return bytes(data.tobytes())


def _fit(bgr: np.ndarray) -> tuple[np.ndarray, float]:
    height, width = bgr.shape[:2]
    scale = min(PANEL_PX / height, 2 * PANEL_PX / width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(bgr, size, interpolation=interpolation)), scale


def _pad(bgr: np.ndarray) -> np.ndarray:
    """White below, to PANEL_PX high."""
    missing = PANEL_PX - bgr.shape[0]
    if missing <= 0:
        return bgr
    return np.vstack([bgr, np.full((missing, bgr.shape[1], 3), 255, dtype=np.uint8)])
