"""Scan one image: decode, detect, embed, search, assign faces to talents one-to-one."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from indexer.copies.detector import CopyDetector, DerivedFinding
from indexer.engine import FaceAnalyser, PackInfo, StageTimes
from indexer.imaging import DecodedImage, DecodeLimits, FacePhoto, open_photo
from indexer.index_manager import IndexManager, TalentHit
from indexer.matching import Band, assign_one_to_one, band_for
from indexer.modelpack.manifest import Thresholds


@dataclass(frozen=True)
class Candidate:
    talent_id: int
    talent_name: str
    agency_id: int
    similarity: float
    band: Band
    embedding_id: int | None = None  # the talent's nearest reference vector (the index's id)


@dataclass(frozen=True)
class FaceFinding:
    box: tuple[float, float, float, float]
    detection_score: float
    candidates: list[Candidate]
    talent: Candidate | None  # the one-to-one assignment (band match or possible), if any

    @property
    def band(self) -> Band:
        return self.talent.band if self.talent else Band.NONE


@dataclass
class ScanTimings:
    decode_s: float = 0.0
    detect_s: float = 0.0
    embed_s: float = 0.0
    search_s: float = 0.0
    copies_s: float = 0.0  # copy detection against the portfolio index
    faces: int = 0

    def add(self, other: ScanTimings) -> None:
        self.decode_s += other.decode_s
        self.detect_s += other.detect_s
        self.embed_s += other.embed_s
        self.search_s += other.search_s
        self.copies_s += other.copies_s
        self.faces += other.faces


@dataclass(frozen=True)
class ImageScan:
    sha256: str
    width: int
    height: int
    source_format: str
    pack: PackInfo
    faces: list[FaceFinding]
    timings: ScanTimings = field(compare=False)
    # Portfolio images this image is derived from (empty without a copy detector).
    derived: tuple[DerivedFinding, ...] = ()


def scan_bytes(
    data: bytes,
    *,
    analyser: FaceAnalyser,
    index: IndexManager,
    candidates_per_face: int,
    max_pixels: int | None = None,
    limits: DecodeLimits | None = None,
    copies: CopyDetector | None = None,
) -> ImageScan:
    started = time.perf_counter()
    photo = open_photo(data, max_pixels=max_pixels, limits=limits)
    timings = ScanTimings(decode_s=time.perf_counter() - started)
    return scan_photo(
        photo,
        analyser=analyser,
        index=index,
        candidates_per_face=candidates_per_face,
        timings=timings,
        copies=copies,
    )


def scan_decoded(
    image: DecodedImage,
    *,
    analyser: FaceAnalyser,
    index: IndexManager,
    candidates_per_face: int,
    timings: ScanTimings | None = None,
) -> ImageScan:
    """Scan an image already decoded at full size (prefer :func:`scan_photo`, which
    decodes only what the models need)."""
    return scan_photo(
        FacePhoto.of_decoded(image),
        analyser=analyser,
        index=index,
        candidates_per_face=candidates_per_face,
        timings=timings,
    )


def scan_photo(
    image: FacePhoto,
    *,
    analyser: FaceAnalyser,
    index: IndexManager,
    candidates_per_face: int,
    timings: ScanTimings | None = None,
    copies: CopyDetector | None = None,
) -> ImageScan:
    """Scan an opened photo (decoded by the analyser at the sizes it needs); with a copy
    detector, also the portfolio images it is derived from."""
    timings = timings or ScanTimings()
    stage = StageTimes()
    faces = analyser.analyse(image, times=stage)
    timings.decode_s += stage.decode_s
    timings.detect_s, timings.embed_s, timings.faces = stage.detect_s, stage.embed_s, stage.faces
    started = time.perf_counter()
    hits: list[list[TalentHit]] = []
    if faces:
        index.ensure_current()
        queries = np.stack([face.embedding for face in faces])
        hits = index.search(queries, top_talents=candidates_per_face)
    findings = _findings(
        faces_boxes=[(f.box, f.score) for f in faces], hits=hits, pack=analyser.pack
    )
    timings.search_s = time.perf_counter() - started
    derived: tuple[DerivedFinding, ...] = ()
    if copies is not None:
        started = time.perf_counter()
        derived = tuple(copies.find(image, faces))
        timings.copies_s = time.perf_counter() - started
    return ImageScan(
        image.sha256,
        image.width,
        image.height,
        image.source_format,
        analyser.pack,
        findings,
        timings,
        derived,
    )


def candidates_of(hits: list[TalentHit], thresholds: Thresholds) -> list[Candidate]:
    """One face's (or track's) index hits as candidates, each with its band."""
    return [
        Candidate(
            h.talent.id,
            h.talent.name,
            h.talent.agency_id,
            h.similarity,
            band_for(h.similarity, thresholds),
            h.embedding_id,
        )
        for h in hits
    ]


def talent_report(chosen: Candidate | None) -> dict[str, Any] | None:
    """The talent a face or track was assigned to, as the JSON reports show it."""
    if chosen is None:
        return None
    return {
        "id": chosen.talent_id,
        "name": chosen.talent_name,
        "similarity": round(chosen.similarity, 4),
    }


def _findings(
    *,
    faces_boxes: list[tuple[tuple[float, float, float, float], float]],
    hits: list[list[TalentHit]],
    pack: PackInfo,
) -> list[FaceFinding]:
    thresholds = pack.thresholds
    per_face = [{hit.talent.id: hit.similarity for hit in face_hits} for face_hits in hits]
    assigned = assign_one_to_one(per_face, floor=thresholds.possible)
    findings = []
    for (box, score), face_hits, talent_id in zip(faces_boxes, hits, assigned, strict=True):
        candidates = candidates_of(face_hits, thresholds)
        chosen = next((c for c in candidates if c.talent_id == talent_id), None)
        findings.append(FaceFinding(box, score, candidates, chosen))
    return findings
