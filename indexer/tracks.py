"""Face tracks: faces in consecutive video samples linked by position and embedding.

A face joins the open track it resembles most when, within one shot, it lies near where
the track was last seen and its embedding is at least ``LINK_FRACTION`` of the pack's
``possible`` threshold from the track's latest one; across a cut or a gap a face joins a
track only with a ``match``-band similarity. A track not seen for ``MAX_GAP_S`` or not
continued in the first sample after a cut is closed. Each track keeps its
``FUSED_SAMPLES`` best embeddings (quality: detection score times face size, capped at the
aligned crop's size) for one search, and its best frame's crop for evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from indexer.engine import Face
from indexer.modelpack.manifest import Thresholds

FloatArray = npt.NDArray[np.float32]
BgrImage = npt.NDArray[np.uint8]
LINK_FRACTION = 0.5  # in-shot links: cosine >= this x the pack's ``possible`` threshold
LINK_DISTANCE = 1.5  # in-shot links: centre moved by at most this many face widths
MAX_GAP_S = 1.0  # a track not seen for longer is closed
FUSED_SAMPLES = 5  # embeddings fused per track, best quality first
QUALITY_FACE_PX = 112.0  # faces this wide or wider count fully (the aligned crop's size)
CROP_CONTEXT = 0.4  # evidence crop: the box plus this fraction of its side on every side


@dataclass(frozen=True)
class Sighting:
    """One face in one sample, in the source video's pixel coordinates."""

    time_s: float
    box: tuple[float, float, float, float]
    score: float
    embedding: FloatArray = field(repr=False)

    @property
    def quality(self) -> float:
        width = self.box[2] - self.box[0]
        return self.score * min(1.0, width / QUALITY_FACE_PX)


@dataclass
class Track:
    latest: Sighting | None = None
    samples: int = 0  # samples the face was seen in
    best: Sighting | None = None
    best_crop: BgrImage | None = field(default=None, repr=False)
    fused: list[Sighting] = field(default_factory=list)
    start_s: float = 0.0
    end_s: float = 0.0
    missed_at: float | None = None  # the first sample since ``latest`` without the face
    missed_at_cut: bool = False

    @property
    def last(self) -> Sighting:
        assert self.latest is not None
        return self.latest

    def add(self, sighting: Sighting, crop: BgrImage | None) -> None:
        self.latest, self.samples, self.missed_at = sighting, self.samples + 1, None
        if self.best is None or sighting.quality > self.best.quality:
            self.best, self.best_crop = sighting, crop
        self.fused = sorted([*self.fused, sighting], key=lambda s: -s.quality)[:FUSED_SAMPLES]

    def miss(self, time_s: float, *, cut: bool) -> None:
        if self.missed_at is None:
            self.missed_at, self.missed_at_cut = time_s, cut

    def close(self, duration_s: float) -> None:
        """The end: the cut after the last sighting, else half-way to the next sample,
        else (seen in the last sample) the video's end."""
        last = self.last.time_s
        if self.missed_at is None:
            self.end_s = max(last, duration_s)
        elif self.missed_at_cut:
            self.end_s = self.missed_at
        else:
            self.end_s = (last + self.missed_at) / 2

    def embedding(self) -> FloatArray:
        """Quality-weighted mean of the best embeddings, unit length."""
        weights = np.array([max(s.quality, 1e-3) for s in self.fused], np.float32)
        stacked = np.stack([s.embedding for s in self.fused])
        mean = (weights[:, None] * stacked).sum(axis=0)
        fused: FloatArray = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        return fused


class TrackBuilder:
    """Feed samples in time order; ``finish`` returns every track with its time range.

    A track starts at the first sample it was seen in when that sample began a shot, else
    half-way from the sample before; it ends likewise (see :meth:`Track.close`)."""

    def __init__(self, thresholds: Thresholds) -> None:
        self.link_min = LINK_FRACTION * thresholds.possible
        self.relink_min = thresholds.match
        self.open: list[Track] = []
        self.closed: list[Track] = []
        self._previous_time: float | None = None

    def add_sample(
        self,
        time_s: float,
        *,
        shot_start: bool,
        faces: list[tuple[Face, float]],
        crops: list[BgrImage | None],
    ) -> None:
        """``faces``: each face (in sample coordinates) and the sample's scale (sample
        pixels per source pixel); ``crops``: each face's evidence crop."""
        sightings = [_sighting(time_s, face, scale) for face, scale in faces]
        joined = self._link(sightings, shot_start=shot_start)
        continued = {id(track) for track in joined}
        for track in list(self.open):
            if id(track) in continued:
                continue
            track.miss(time_s, cut=shot_start)
            if shot_start or time_s - track.last.time_s > MAX_GAP_S:
                track.close(time_s)
                self.open.remove(track)
                self.closed.append(track)
        for track, sighting, crop in zip(joined, sightings, crops, strict=True):
            if track.latest is None:
                track.start_s = self._start_of(time_s, shot_start)
                self.open.append(track)
            track.add(sighting, crop)
        self._previous_time = time_s

    def finish(self, duration_s: float) -> list[Track]:
        for track in self.open:
            track.close(duration_s)
        self.closed.extend(self.open)
        self.open = []
        return sorted(self.closed, key=lambda t: (t.start_s, t.end_s))

    def _start_of(self, time_s: float, shot_start: bool) -> float:
        if shot_start or self._previous_time is None:
            return time_s
        return (self._previous_time + time_s) / 2

    def _link(self, sightings: list[Sighting], *, shot_start: bool) -> list[Track]:
        """The track each sighting joins (a new one when none fits), greedily by
        similarity."""
        pairs: list[tuple[float, int, int]] = []
        for position, sighting in enumerate(sightings):
            for number, track in enumerate(self.open):
                similarity = float(track.last.embedding @ sighting.embedding)
                if similarity >= self._needed(track, sighting, shot_start=shot_start):
                    pairs.append((similarity, position, number))
        chosen: dict[int, Track] = {}
        taken: set[int] = set()
        for _, position, number in sorted(pairs, reverse=True):
            if position not in chosen and number not in taken:
                chosen[position] = self.open[number]
                taken.add(number)
        return [chosen.get(p, Track()) for p in range(len(sightings))]

    def _needed(self, track: Track, sighting: Sighting, *, shot_start: bool) -> float:
        gap = sighting.time_s - track.last.time_s
        if shot_start or gap > MAX_GAP_S or not _near(track.last, sighting):
            return self.relink_min
        return self.link_min


def _near(before: Sighting, after: Sighting) -> bool:
    width = max(before.box[2] - before.box[0], after.box[2] - after.box[0], 1.0)
    dx = (before.box[0] + before.box[2] - after.box[0] - after.box[2]) / 2
    dy = (before.box[1] + before.box[3] - after.box[1] - after.box[3]) / 2
    return float(np.hypot(dx, dy)) <= LINK_DISTANCE * width


def _sighting(time_s: float, face: Face, scale: float) -> Sighting:
    x1, y1, x2, y2 = (v / scale for v in face.box)
    return Sighting(time_s, (x1, y1, x2, y2), face.score, face.embedding)


def evidence_crop(image: BgrImage, box: tuple[float, float, float, float]) -> BgrImage:
    """The face with some context, cut from a sample (box in the sample's coordinates)."""
    x1, y1, x2, y2 = box
    margin = CROP_CONTEXT * max(x2 - x1, y2 - y1)
    height, width = image.shape[:2]
    left, top = max(0, int(x1 - margin)), max(0, int(y1 - margin))
    right, bottom = min(width, int(x2 + margin) + 1), min(height, int(y2 + margin) + 1)
    crop: BgrImage = image[top:bottom, left:right].copy()
    return crop
