"""Scan one video: sample it, find faces, link them into tracks, match each track once.

Each track is searched once with its fused embedding (``indexer.tracks``), banded by the
pack's thresholds like a still's face, and talents are assigned one-to-one among tracks
that are on screen at the same time (two faces side by side never get the same talent);
a talent on screen for 30 s is one track with its start and end, not 60 findings.
"""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from indexer.engine import PackInfo
from indexer.errors import TooManyFacesError, UnsupportedVideoTypeError
from indexer.index_manager import IndexManager
from indexer.matching import Band, assign_one_to_one
from indexer.modelpack.detectors import RawDetections
from indexer.pooling import prefetched
from indexer.scanning import Candidate, ScanTimings, candidates_of, talent_report
from indexer.tracks import (
    BgrImage,
    FloatArray,
    SampleFaces,
    Sighting,
    Track,
    TrackBuilder,
    evidence_crop,
)
from indexer.video import Sample, VideoInfo, VideoLimits, VideoReader

PREFETCH_SAMPLES = 4  # samples decoded ahead of the models (each ~1.5 MB at 960x540)


@runtime_checkable
class VideoAnalyser(Protocol):
    """What video scanning needs from an engine: detection and embedding apart, so a face
    that a track already knows is not embedded again (``indexer.tracks``)."""

    pack: PackInfo
    max_faces: int

    def detect_coarse(self, image: BgrImage) -> RawDetections: ...

    def embed_detected(self, image: BgrImage, found: RawDetections) -> FloatArray: ...


@dataclass(frozen=True)
class TrackFinding:
    start_s: float
    end_s: float
    best_frame_s: float
    box: tuple[float, float, float, float]  # at the best frame, in the video's pixels
    detection_score: float
    samples: int
    candidates: list[Candidate]
    talent: Candidate | None
    best_crop: BgrImage | None = field(default=None, repr=False, compare=False)
    best_frame_jpeg: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def band(self) -> Band:
        return self.talent.band if self.talent else Band.NONE


@dataclass(frozen=True)
class VideoScan:
    sha256: str
    info: VideoInfo
    duration_s: float
    samples: int
    frames_decoded: int
    truncated: str | None
    pack: PackInfo
    tracks: list[TrackFinding]
    timings: ScanTimings = field(compare=False)

    @property
    def width(self) -> int:
        return self.info.width

    @property
    def height(self) -> int:
        return self.info.height


def scan_video(
    data: bytes,
    *,
    analyser: object,
    index: IndexManager,
    limits: VideoLimits,
    candidates_per_face: int,
) -> VideoScan:
    """Decode within ``limits`` (typed 4xx errors otherwise) and scan the samples.

    ``analyser`` is the loaded engine (a :class:`VideoAnalyser`); an engine without separate
    detection and embedding (a test fake) cannot scan videos."""
    if not isinstance(analyser, VideoAnalyser):
        raise UnsupportedVideoTypeError("This engine cannot scan videos.")
    timings = ScanTimings()
    builder = TrackBuilder(analyser.pack.thresholds)
    with (
        VideoReader(data, limits) as reader,
        closing(prefetched(reader.samples(), PREFETCH_SAMPLES)) as samples,
    ):
        for sample in samples:
            builder.add_sample(_faces_in(sample, analyser, timings))
        timings.faces = builder.embedded
        duration = reader.duration_s
        timings.decode_s = reader.stats.decode_s
        tracks = builder.finish(duration)
        started = time.perf_counter()
        findings = _match(tracks, analyser=analyser, index=index, top=candidates_per_face)
        timings.search_s = time.perf_counter() - started
        return VideoScan(
            sha256=reader.sha256,
            info=reader.info,
            duration_s=round(duration, 3),
            samples=reader.stats.samples,
            frames_decoded=reader.stats.frames_decoded,
            truncated=reader.stats.truncated,
            pack=analyser.pack,
            tracks=findings,
            timings=timings,
        )


def _faces_in(sample: Sample, analyser: VideoAnalyser, timings: ScanTimings) -> SampleFaces:
    """Detect now; embed and crop later, only the faces the tracks ask for."""
    started = time.perf_counter()
    found = analyser.detect_coarse(sample.bgr)
    timings.detect_s += time.perf_counter() - started
    if len(found.scores) > analyser.max_faces:
        raise TooManyFacesError(
            f"A frame at {sample.time_s:.1f} s has {len(found.scores)} faces; the limit is "
            f"{analyser.max_faces}.",
            faces=len(found.scores),
            max_faces=analyser.max_faces,
        )
    boxes = found.boxes.astype(np.float64)
    sightings = [
        Sighting(sample.time_s, _box(box / sample.scale), float(score))
        for box, score in zip(boxes, found.scores, strict=True)
    ]

    def embed(positions: list[int]) -> FloatArray:
        embedding = time.perf_counter()
        chosen = RawDetections(
            found.boxes[positions], found.scores[positions], found.landmarks[positions]
        )
        vectors = analyser.embed_detected(sample.bgr, chosen)
        timings.embed_s += time.perf_counter() - embedding
        return vectors

    def crop(position: int) -> BgrImage:
        return evidence_crop(sample.bgr, _box(boxes[position]))

    return SampleFaces(
        sample.time_s, sample.shot_start, sightings, embed, crop, sample.bgr, sample.scale
    )


def _box(values: Any) -> tuple[float, float, float, float]:
    return (float(values[0]), float(values[1]), float(values[2]), float(values[3]))


def _match(
    tracks: list[Track], *, analyser: VideoAnalyser, index: IndexManager, top: int
) -> list[TrackFinding]:
    if not tracks:
        return []
    index.ensure_current()
    hits = index.search(np.stack([t.embedding() for t in tracks]), top_talents=top)
    thresholds = analyser.pack.thresholds
    candidates = [candidates_of(row, thresholds) for row in hits]
    assigned = _assign_concurrent(tracks, candidates, floor=thresholds.possible)
    return [
        _finding(track, row, talent_id)
        for track, row, talent_id in zip(tracks, candidates, assigned, strict=True)
    ]


def _assign_concurrent(
    tracks: list[Track], candidates: list[list[Candidate]], *, floor: float
) -> list[int | None]:
    """One-to-one assignment within each group of tracks whose time ranges overlap."""
    assigned: list[int | None] = [None] * len(tracks)
    order = sorted(range(len(tracks)), key=lambda i: tracks[i].start_s)
    group: list[int] = []
    group_end = -1.0
    for position in [*order, -1]:
        if position == -1 or tracks[position].start_s >= group_end:
            rows = [{c.talent_id: c.similarity for c in candidates[i]} for i in group]
            for member, talent in zip(group, assign_one_to_one(rows, floor=floor), strict=True):
                assigned[member] = talent
            group, group_end = [], -1.0
        if position != -1:
            group.append(position)
            group_end = max(group_end, tracks[position].end_s)
    return assigned


def _finding(track: Track, candidates: list[Candidate], talent_id: int | None) -> TrackFinding:
    best = track.best
    assert best is not None
    return TrackFinding(
        start_s=round(track.start_s, 3),
        end_s=round(track.end_s, 3),
        best_frame_s=round(best.time_s, 3),
        box=best.box,
        detection_score=best.score,
        samples=track.samples,
        candidates=candidates,
        talent=next((c for c in candidates if c.talent_id == talent_id), None),
        best_crop=track.best_crop,
        best_frame_jpeg=track.best_frame_jpeg,
    )


def video_report(path: object, scan: VideoScan) -> dict[str, Any]:
    """A video's record in ``twinwatch scan --json``."""
    return {
        "path": str(path),
        "kind": "video",
        "sha256": scan.sha256,
        "width": scan.width,
        "height": scan.height,
        "format": scan.info.media_type,
        "codec": scan.info.codec,
        "duration_s": scan.duration_s,
        "samples": scan.samples,
        "truncated": scan.truncated,
        "tracks": [track_report(track) for track in scan.tracks],
    }


def track_report(track: TrackFinding) -> dict[str, Any]:
    return {
        "start_s": track.start_s,
        "end_s": track.end_s,
        "best_frame_s": track.best_frame_s,
        "box": [round(v, 1) for v in track.box],
        "detection_score": round(track.detection_score, 3),
        "band": track.band.value,
        "talent": talent_report(track.talent),
        "candidates": [
            {"id": c.talent_id, "name": c.talent_name, "similarity": round(c.similarity, 4)}
            for c in track.candidates
        ],
    }
