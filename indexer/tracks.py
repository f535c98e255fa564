"""Face tracks: faces in consecutive video samples linked by position and embedding.

Within one shot a face joins the open track whose last box it overlaps most
(``POSITION_IOU``); it is embedded only when the track needs it: while the track has
fewer than ``FUSED_SAMPLES`` embeddings, when the face is clearly better (quality:
detection score times face size, capped at the aligned crop's size) than the worst of
them (by ``QUALITY_GAIN``), and at
least every ``REVERIFY_S`` (an embedding unlike the track's, under ``LINK_FRACTION`` of the
pack's ``possible`` threshold, starts a new track instead). Other faces are embedded and
join the open track they resemble most: within a shot and near it with that same
similarity, across a cut or a gap only with a ``match``-band one. A track not seen for
``MAX_GAP_S``, or not continued in the first sample after a cut, is closed. Each track
keeps its best embeddings for one fused search, and its best frame's crop for evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from indexer.boxes import Box, iou
from indexer.modelpack.manifest import Thresholds

FloatArray = npt.NDArray[np.float32]
BgrImage = npt.NDArray[np.uint8]
POSITION_IOU = 0.3  # in-shot position links: the boxes overlap at least this much
LINK_FRACTION = 0.5  # in-shot similarity links: cosine >= this x the pack's ``possible``
LINK_DISTANCE = 1.5  # in-shot similarity links: centre moved by at most this many widths
MAX_GAP_S = 1.0  # a track not seen for longer is closed
REVERIFY_S = 4.0  # a position-linked track is embedded again at least this often
FUSED_SAMPLES = 3  # embeddings fused per track, best quality first
QUALITY_GAIN = 0.05  # a face is embedded again when this much better than the worst fused
QUALITY_FACE_PX = 112.0  # faces this wide or wider count fully (the aligned crop's size)
EVIDENCE_JPEG_QUALITY = 90
CROP_CONTEXT = 0.4  # evidence crop: the box plus this fraction of its side on every side


@dataclass(frozen=True)
class Sighting:
    """One face in one sample, in the source video's pixel coordinates."""

    time_s: float
    box: Box
    score: float

    @property
    def quality(self) -> float:
        width = self.box[2] - self.box[0]
        return self.score * min(1.0, width / QUALITY_FACE_PX)


@dataclass
class Track:
    latest: Sighting | None = None
    embedding_now: FloatArray | None = field(default=None, repr=False)  # the latest one
    embedded_at: float = 0.0
    samples: int = 0  # samples the face was seen in
    best: Sighting | None = None
    best_crop: BgrImage | None = field(default=None, repr=False)
    # The best sample while the track is open, then that frame as a JPEG at the video's own
    # size (the evidence that proves the match: boxes are in the video's pixels).
    best_frame: tuple[BgrImage, float] | None = field(default=None, repr=False)
    best_frame_jpeg: bytes | None = field(default=None, repr=False)
    fused: list[tuple[float, FloatArray]] = field(default_factory=list, repr=False)
    start_s: float = 0.0
    end_s: float = 0.0
    missed_at: float | None = None  # the first sample since ``latest`` without the face
    missed_at_cut: bool = False

    @property
    def last(self) -> Sighting:
        assert self.latest is not None
        return self.latest

    @property
    def vector(self) -> FloatArray:
        """The latest embedding (every track starts from an embedded face)."""
        assert self.embedding_now is not None
        return self.embedding_now

    def wants_embedding(self, sighting: Sighting) -> bool:
        if len(self.fused) < FUSED_SAMPLES or sighting.time_s - self.embedded_at >= REVERIFY_S:
            return True
        return sighting.quality > self.fused[-1][0] + QUALITY_GAIN

    def add(
        self,
        sighting: Sighting,
        embedding: FloatArray | None,
        crop: BgrImage,
        frame: tuple[BgrImage, float],
    ) -> None:
        self.latest, self.samples, self.missed_at = sighting, self.samples + 1, None
        if self.best is None or sighting.quality > self.best.quality:
            self.best, self.best_crop, self.best_frame = sighting, crop, frame
        if embedding is not None:
            self.embedding_now, self.embedded_at = embedding, sighting.time_s
            fused = [*self.fused, (sighting.quality, embedding)]
            self.fused = sorted(fused, key=lambda item: -item[0])[:FUSED_SAMPLES]

    def miss(self, time_s: float, *, cut: bool) -> None:
        if self.missed_at is None:
            self.missed_at, self.missed_at_cut = time_s, cut

    def close(self, duration_s: float) -> None:
        """The end: the cut after the last sighting, else half-way to the next sample,
        else (seen in the last sample) the video's end."""
        self._keep_best_frame()
        last = self.last.time_s
        if self.missed_at is None:
            self.end_s = max(last, duration_s)
        elif self.missed_at_cut:
            self.end_s = self.missed_at
        else:
            self.end_s = (last + self.missed_at) / 2

    def _keep_best_frame(self) -> None:
        if self.best_frame is None:
            return
        image, scale = self.best_frame
        height, width = image.shape[:2]
        size = (round(width / scale), round(height / scale))
        full = image if size == (width, height) else cv2.resize(image, size)
        ok, encoded = cv2.imencode(".jpg", full, [cv2.IMWRITE_JPEG_QUALITY, EVIDENCE_JPEG_QUALITY])
        self.best_frame_jpeg = encoded.tobytes() if ok else None
        self.best_frame = None  # an open track holds one sample; a closed one its JPEG

    def embedding(self) -> FloatArray:
        """Quality-weighted mean of the best embeddings, unit length."""
        weights = np.array([max(quality, 1e-3) for quality, _ in self.fused], np.float32)
        stacked = np.stack([vector for _, vector in self.fused])
        mean = (weights[:, None] * stacked).sum(axis=0)
        fused: FloatArray = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        return fused


@dataclass(frozen=True)
class SampleFaces:
    """The faces detected in one sample, and how to embed or crop them on demand."""

    time_s: float
    shot_start: bool
    sightings: list[Sighting]
    embed: Callable[[list[int]], FloatArray]  # embeddings of the faces at these positions
    crop: Callable[[int], BgrImage]  # the evidence crop of the face at this position
    frame: BgrImage = field(repr=False)  # the sample
    scale: float = 1.0  # sample pixels per video pixel


class TrackBuilder:
    """Feed samples in time order; ``finish`` returns every track with its time range.

    A track starts at the first sample it was seen in when that sample began a shot, else
    half-way from the sample before; it ends likewise (see :meth:`Track.close`)."""

    def __init__(self, thresholds: Thresholds) -> None:
        self.link_min = LINK_FRACTION * thresholds.possible
        self.relink_min = thresholds.match
        self.open: list[Track] = []
        self.closed: list[Track] = []
        self.embedded = 0  # faces embedded so far
        self._previous_time: float | None = None

    def add_sample(self, sample: SampleFaces) -> None:
        sightings = sample.sightings
        linked = self._by_position(sample)
        wanted = [
            p for p, s in enumerate(sightings) if p not in linked or linked[p].wants_embedding(s)
        ]
        vectors = dict(zip(wanted, sample.embed(wanted), strict=True)) if wanted else {}
        self.embedded += len(wanted)
        for position, track in list(linked.items()):
            vector = vectors.get(position)
            if vector is not None and float(track.vector @ vector) < self.link_min:
                del linked[position]  # someone else now stands where the track was
        linked.update(self._by_similarity(sample, vectors, linked))
        self._close_unseen(sample, continued={id(t) for t in linked.values()})
        for position, sighting in enumerate(sightings):
            track = linked.get(position) or Track()
            if track.latest is None:
                track.start_s = self._start_of(sample.time_s, sample.shot_start)
                self.open.append(track)
            frame = (sample.frame, sample.scale)
            track.add(sighting, vectors.get(position), sample.crop(position), frame)
        self._previous_time = sample.time_s

    def finish(self, duration_s: float) -> list[Track]:
        for track in self.open:
            track.close(duration_s)
        self.closed.extend(self.open)
        self.open = []
        return sorted(self.closed, key=lambda t: (t.start_s, t.end_s))

    def _close_unseen(self, sample: SampleFaces, *, continued: set[int]) -> None:
        for track in list(self.open):
            if id(track) in continued:
                continue
            track.miss(sample.time_s, cut=sample.shot_start)
            if sample.shot_start or sample.time_s - track.last.time_s > MAX_GAP_S:
                track.close(sample.time_s)
                self.open.remove(track)
                self.closed.append(track)

    def _start_of(self, time_s: float, shot_start: bool) -> float:
        if shot_start or self._previous_time is None:
            return time_s
        return (self._previous_time + time_s) / 2

    def _by_position(self, sample: SampleFaces) -> dict[int, Track]:
        if sample.shot_start:
            return {}
        pairs = [
            (overlap, position, number)
            for position, sighting in enumerate(sample.sightings)
            for number, track in enumerate(self.open)
            if sample.time_s - track.last.time_s <= MAX_GAP_S
            and (overlap := iou(track.last.box, sighting.box)) >= POSITION_IOU
        ]
        return self._greedy(pairs, taken=set())

    def _by_similarity(
        self, sample: SampleFaces, vectors: dict[int, FloatArray], linked: dict[int, Track]
    ) -> dict[int, Track]:
        taken = {id(track) for track in linked.values()}
        pairs: list[tuple[float, int, int]] = []
        for position, sighting in enumerate(sample.sightings):
            if position in linked:
                continue
            for number, track in enumerate(self.open):
                similarity = float(track.vector @ vectors[position])
                if similarity >= self._needed(track, sighting, shot_start=sample.shot_start):
                    pairs.append((similarity, position, number))
        return self._greedy(pairs, taken=taken)

    def _greedy(self, pairs: list[tuple[float, int, int]], *, taken: set[int]) -> dict[int, Track]:
        chosen: dict[int, Track] = {}
        for _, position, number in sorted(pairs, reverse=True):
            track = self.open[number]
            if position not in chosen and id(track) not in taken:
                chosen[position] = track
                taken.add(id(track))
        return chosen

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


def evidence_crop(image: BgrImage, box: tuple[float, float, float, float]) -> BgrImage:
    """The face with some context, cut from a sample (box in the sample's coordinates)."""
    x1, y1, x2, y2 = box
    margin = CROP_CONTEXT * max(x2 - x1, y2 - y1)
    height, width = image.shape[:2]
    left, top = max(0, int(x1 - margin)), max(0, int(y1 - margin))
    right, bottom = min(width, int(x2 + margin) + 1), min(height, int(y2 + margin) + 1)
    crop: BgrImage = image[top:bottom, left:right].copy()
    return crop
