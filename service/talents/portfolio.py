"""A talent's portfolio: the shoot and campaign images her agency registers so that copies
of them are found (issue 22). Portfolio images are never used for face matching: they go
to the copy detector's index only (``indexer/copies``).

Registration keeps the file (in the portfolio store, one folder per talent, erased with
her), its ORB features beside it (``<sha256>.orb``: what every process builds its copy index
from, never decoding the original again), its hash and size, and the talent's face box in
it (the largest face: what the face-replaced check compares). The file and its features are
written first, then the row and the portfolio's revision in one transaction; start-up
removes files whose row never committed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from indexer.copies.detector import CopyDetector, portfolio_features
from indexer.copies.tables import PORTFOLIO_REVISION, PortfolioImage
from indexer.db import Talent, bump_revisions
from indexer.errors import TalentNotFoundError, TwinwatchError
from indexer.imaging import DecodeLimits, open_photo
from indexer.registry import PhotoInput
from service.talents.errors import PortfolioFullError, PortfolioImageNotFoundError

log = logging.getLogger(__name__)

NAME_MAX = 200


@dataclass(frozen=True)
class PortfolioOutcome:
    label: str
    accepted: bool
    image_id: int | None
    already_registered: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class PortfolioEntry:
    id: int
    talent_id: int
    name: str
    sha256: str
    width: int
    height: int
    face_box: tuple[float, float, float, float] | None


def add_images(
    copies: CopyDetector,
    *,
    talent_id: int,
    files: list[PhotoInput],
    limits: DecodeLimits,
    max_images: int,
) -> list[PortfolioOutcome]:
    """Register each file (idempotent by content); a file that cannot be decoded is refused
    with its reason, the others still go in. Blocking: run pooled."""
    with copies.db.session() as session:
        if session.get(Talent, talent_id) is None:
            raise TalentNotFoundError(f"No talent with id {talent_id}.")
        held = _count(session, talent_id)
    if held + len(files) > max_images:
        raise PortfolioFullError(
            f"A talent's portfolio holds at most {max_images} images; this one has {held} "
            f"and {len(files)} more were sent. Remove some first.",
            limit=max_images,
            held=held,
        )
    outcomes = [_add_one(copies, talent_id, file, limits) for file in files]
    if any(o.accepted and not o.already_registered for o in outcomes):
        copies.ensure_current()  # index now, not on the next scan
    return outcomes


def _add_one(
    copies: CopyDetector, talent_id: int, file: PhotoInput, limits: DecodeLimits
) -> PortfolioOutcome:
    label = file.label[:NAME_MAX]
    try:
        photo = open_photo(file.data, limits=limits)
        faces = copies.analyser.analyse(photo)
    except TwinwatchError as exc:
        return PortfolioOutcome(label, False, None, reason=exc.message)
    with copies.db.session() as session:
        known = session.scalar(
            select(PortfolioImage.id).where(
                PortfolioImage.talent_id == talent_id, PortfolioImage.sha256 == photo.sha256
            )
        )
    if known is not None:
        return PortfolioOutcome(label, True, known, already_registered=True)
    face = max(faces, key=lambda f: f.width * f.height, default=None)
    features = portfolio_features(photo)  # kept beside the file: indexes never decode it
    needed = copies.limits.rules.min_inliers  # a copy is verified on this many matches
    if features[0].count < needed:
        return PortfolioOutcome(
            label,
            False,
            None,
            reason=f"The image has too little detail to be found in copies: {features[0].count}"
            f" distinct points, at least {needed} are needed (a blank, tiny or blurred image).",
        )
    stored = copies.store.save(
        talent_id=talent_id, name=f"{photo.sha256}.{photo.source_format.lower()}", data=file.data
    )
    try:
        copies.store.save_features(stored, features)
        with copies.db.session() as session:
            row = PortfolioImage(
                talent_id=talent_id,
                sha256=photo.sha256,
                name=label,
                width=photo.width,
                height=photo.height,
                stored_path=stored,
                **_face_columns(face.box if face else None),
            )
            session.add(row)
            bump_revisions(session, {PORTFOLIO_REVISION})
            session.flush()
            image_id = row.id
    except IntegrityError:  # a concurrent upload of the same file won
        return PortfolioOutcome(label, True, None, already_registered=True)
    except BaseException:
        copies.store.remove(stored)
        raise
    log.info("portfolio image %d registered for talent %d", image_id, talent_id)
    return PortfolioOutcome(label, True, image_id)


def _face_columns(box: tuple[float, float, float, float] | None) -> dict[str, float | None]:
    names = ("face_x1", "face_y1", "face_x2", "face_y2")
    return dict(zip(names, box or (None, None, None, None), strict=True))


def _count(session: Session, talent_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(PortfolioImage)
            .where(PortfolioImage.talent_id == talent_id)
        )
        or 0
    )


def list_images(
    copies: CopyDetector, *, talent_id: int, offset: int = 0, limit: int = 200
) -> tuple[list[PortfolioEntry], int]:
    with copies.db.session() as session:
        if session.get(Talent, talent_id) is None:
            raise TalentNotFoundError(f"No talent with id {talent_id}.")
        rows = session.scalars(
            select(PortfolioImage)
            .where(PortfolioImage.talent_id == talent_id)
            .order_by(PortfolioImage.id)
            .offset(offset)
            .limit(limit)
        )
        entries = [
            PortfolioEntry(r.id, r.talent_id, r.name, r.sha256, r.width, r.height, r.face_box)
            for r in rows
        ]
        return entries, _count(session, talent_id)


def remove_image(copies: CopyDetector, *, talent_id: int | None, image_id: int) -> None:
    """Remove one portfolio image: its row (and the findings naming it), its file, its
    entries in the index. ``talent_id``: the image must be hers (None: any talent's)."""
    with copies.db.session() as session:
        row = session.get(PortfolioImage, image_id)
        if row is None or (talent_id is not None and row.talent_id != talent_id):
            raise PortfolioImageNotFoundError(f"No portfolio image {image_id} for this talent.")
        stored = row.stored_path
        session.delete(row)
        bump_revisions(session, {PORTFOLIO_REVISION})
    copies.store.remove(stored)
    copies.ensure_current()
