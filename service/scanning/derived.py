"""Derived images in a scan (issue 22): the portfolio images a scanned image was found to
be derived from, recorded with the scan and shown in its answer."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from indexer.copies.detector import DerivedFinding
from indexer.copies.tables import PortfolioImage
from indexer.db import Talent
from service.core.tables.scanning import DerivedFinding as DerivedRow
from service.core.tables.scanning import Scan
from service.scanning.schemas import DerivedOut, DerivedTalentOut

log = logging.getLogger(__name__)


def record_derived(
    session: Session, scan: Scan, derived: tuple[DerivedFinding, ...]
) -> list[DerivedFinding]:
    """One row per portfolio image found; images (or talents) erased since the scan found
    them are left out (the survivors are share-locked until the scan commits). Returns the
    findings recorded."""
    if not derived:
        return []
    wanted = {d.portfolio_image_id for d in derived}
    live = set(
        session.scalars(
            select(PortfolioImage.id)
            .where(PortfolioImage.id.in_(wanted))
            .with_for_update(read=True)
        )
    )
    if live != wanted:
        log.info("%d portfolio image(s) went before the scan was recorded", len(wanted - live))
    kept = [found for found in derived if found.portfolio_image_id in live]
    for found in kept:
        placed = found.placement
        session.add(
            DerivedRow(
                scan_id=scan.id,
                talent_id=found.talent_id,
                portfolio_image_id=found.portfolio_image_id,
                area_share=round(placed.area_share, 4),
                scale=round(placed.scale, 4),
                rotation_deg=round(placed.rotation_deg, 2),
                mirrored=placed.mirrored,
                inliers=placed.inliers,
                region=[[x, y] for x, y in placed.region],
                face_present=placed.face_present,
                face_similarity=None
                if found.face_similarity is None
                else round(found.face_similarity, 4),
                face_replaced=found.face_replaced,
            )
        )
    return kept


def derived_out(session: Session, scan_id: int) -> list[DerivedOut]:
    rows = session.execute(
        select(DerivedRow, Talent.name)
        .join(Talent, Talent.id == DerivedRow.talent_id)
        .where(DerivedRow.scan_id == scan_id)
        .order_by(DerivedRow.id)
    ).all()
    return [
        DerivedOut(
            talent=DerivedTalentOut(id=row.talent_id, name=name),
            portfolio_image=row.portfolio_image_id,
            area_share=row.area_share,
            face_present=row.face_present,
            face_similarity=row.face_similarity,
            face_replaced=row.face_replaced,
            scale=row.scale,
            rotation_deg=row.rotation_deg,
            mirrored=row.mirrored,
            region=row.region,
        )
        for row, name in rows
    ]
