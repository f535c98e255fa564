"""Re-embed kept reference photos with another model pack (`twinwatch index migrate`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, select

from indexer.boxes import iou
from indexer.db import Database, Embedding, ReferenceImage, bump_revisions
from indexer.engine import Face, FaceAnalyser
from indexer.errors import TwinwatchError
from indexer.imaging import open_photo
from indexer.photos import PhotoStore
from indexer.pooling import ordered_map

log = logging.getLogger(__name__)


@dataclass
class MigrateReport:
    pack: str
    embedded: int = 0
    already_done: int = 0
    no_stored_photo: int = 0
    failed: int = 0


def migrate_references(
    *,
    db: Database,
    photos: PhotoStore,
    target: FaceAnalyser,
    max_pixels: int,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> MigrateReport:
    """Embed every kept reference photo with ``target``; the stored face box picks the face.

    Photos are decoded and analysed on ``workers`` threads; the database is written from
    the calling thread, in reference order.
    """
    pack = target.pack
    report = MigrateReport(pack=f"{pack.name}@{pack.version}")
    with db.session() as session:
        done = set(
            session.scalars(
                select(Embedding.reference_image_id).where(
                    Embedding.pack_name == pack.name, Embedding.pack_version == pack.version
                )
            )
        )
        references = list(session.scalars(select(ReferenceImage).order_by(ReferenceImage.id)))

    def analyse(reference: ReferenceImage) -> list[Face] | None:  # on a pool worker
        if reference.id in done or reference.stored_path is None:
            return None
        return _analyse(photos, target, reference, max_pixels)

    results = ordered_map(analyse, references, workers=workers)
    for position, (reference, faces) in enumerate(zip(references, results, strict=True), start=1):
        if reference.id in done:
            report.already_done += 1
        elif reference.stored_path is None:
            report.no_stored_photo += 1
        elif faces is None:
            report.failed += 1
        else:
            _record(db, target, reference, faces, report)
        if progress is not None:
            progress(position, len(references))
    return report


def _analyse(
    photos: PhotoStore, target: FaceAnalyser, reference: ReferenceImage, max_pixels: int
) -> list[Face] | None:
    assert reference.stored_path is not None
    try:
        image = open_photo(photos.read(reference.stored_path), max_pixels=max_pixels)
        return target.analyse(image)
    except (OSError, TwinwatchError) as exc:
        log.warning("reference %d could not be re-embedded: %s", reference.id, exc)
        return None


def _record(
    db: Database,
    target: FaceAnalyser,
    reference: ReferenceImage,
    faces: list[Face],
    report: MigrateReport,
) -> None:
    box = (reference.face_x1, reference.face_y1, reference.face_x2, reference.face_y2)
    face = _same_face(faces, box)
    if face is None:
        log.warning(
            "reference %d: %s finds no face where the original was", reference.id, target.pack.name
        )
        report.failed += 1
        return
    with db.session() as session:
        session.execute(
            delete(Embedding).where(  # an older version of the same pack
                Embedding.reference_image_id == reference.id,
                Embedding.pack_name == target.pack.name,
            )
        )
        session.add(
            Embedding(
                reference_image_id=reference.id,
                talent_id=reference.talent_id,
                pack_name=target.pack.name,
                pack_version=target.pack.version,
                dim=target.pack.embedding_size,
                vector=np.ascontiguousarray(face.embedding, "<f4").tobytes(),
            )
        )
        bump_revisions(session, {target.pack.name})
    report.embedded += 1


def _same_face(faces: list[Face], box: tuple[float, float, float, float]) -> Face | None:
    best, best_iou = None, 0.3
    for face in faces:
        shared = iou(face.box, box)
        if shared >= best_iou:
            best, best_iou = face, shared
    return best
