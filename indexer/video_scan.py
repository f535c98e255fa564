"""Scan one video: sample it, find faces, link them into tracks, match each track once.

Each track is searched once with its fused embedding (``indexer.tracks``), banded by the
pack's thresholds like a still's face, and talents are assigned one-to-one among tracks
that are on screen at the same time (two faces side by side never get the same talent);
a talent on screen for 30 s is one track with its start and end, not 60 findings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from indexer.engine import FaceAnalyser, PackInfo, StageTimes
from indexer.imaging import FacePhoto
from indexer.index_manager import IndexManager
from indexer.matching import Band, assign_one_to_one, band_for
from indexer.scanning import Candidate, ScanTimings
from indexer.tracks import BgrImage, Track, TrackBuilder, evidence_crop
from indexer.video import VideoInfo, VideoLimits, VideoReader


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
    analyser: FaceAnalyser,
    index: IndexManager,
    limits: VideoLimits,
    candidates_per_face: int,
) -> VideoScan:
    """Decode within ``limits`` (typed 4xx errors otherwise) and scan the samples."""
    timings = ScanTimings()
    builder = TrackBuilder(analyser.pack.thresholds)
    with VideoReader(data, limits) as reader:
        for sample in reader.samples():
            stage = StageTimes()
            faces = analyser.analyse(FacePhoto.of_array(sample.bgr), times=stage)
            timings.detect_s += stage.detect_s
            timings.embed_s += stage.embed_s
            timings.faces += stage.faces
            builder.add_sample(
                sample.time_s,
                shot_start=sample.shot_start,
                faces=[(face, sample.scale) for face in faces],
                crops=[evidence_crop(sample.bgr, face.box) for face in faces],
            )
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


def _match(
    tracks: list[Track], *, analyser: FaceAnalyser, index: IndexManager, top: int
) -> list[TrackFinding]:
    if not tracks:
        return []
    index.ensure_current()
    hits = index.search(np.stack([t.embedding() for t in tracks]), top_talents=top)
    thresholds = analyser.pack.thresholds
    candidates = [
        [
            Candidate(
                h.talent.id,
                h.talent.name,
                h.talent.agency_id,
                h.similarity,
                band_for(h.similarity, thresholds),
                h.embedding_id,
            )
            for h in row
        ]
        for row in hits
    ]
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
        "talent": None
        if track.talent is None
        else {
            "id": track.talent.talent_id,
            "name": track.talent.talent_name,
            "similarity": round(track.talent.similarity, 4),
        },
        "candidates": [
            {"id": c.talent_id, "name": c.talent_name, "similarity": round(c.similarity, 4)}
            for c in track.candidates
        ],
    }
