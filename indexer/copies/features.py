"""ORB features of one image: keypoints chosen on a grid so captions and overlays cannot
take the whole budget; the mirrored image's features for portfolio images."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

U8Array = npt.NDArray[np.uint8]
F32Array = npt.NDArray[np.float32]

#: Bump when extraction changes what it returns for an image (parameters, selection), so
#: features stored by an earlier version are recomputed. 1: the first extraction (grid
#: selection in Python); 2: grid selection in NumPy (the same keypoints, in another order).
FEATURES_VERSION = 2
GRID = 4  # cells per side for keypoint selection
DESCRIPTOR_BYTES = 32
# ORB detects this many candidates per keypoint kept, the grid then picks among them
CANDIDATES_PER_KEPT = 3
PYRAMID_LEVELS = 8  # ORB's default: scale 1.2 per level
FAST_THRESHOLD = 12
EDGE_THRESHOLD = 15
PATCH_SIZE = 15
MIN_SIDE = 2 * EDGE_THRESHOLD + 1  # px: a narrower image has no keypoint away from its edges


@dataclass(frozen=True)
class FeatureLimits:
    """Bounds of one extraction: the long side it works at (shrunk to ``side``, enlarged
    to ``min_side``) and the keypoint budget."""

    side: int
    keypoints: int
    min_side: int = 0
    levels: int = PYRAMID_LEVELS  # ORB's pyramid (scale 1.2 per level)


# Query budget. At 10,000 portfolio images (bench.copies, nprobe 2, the query taken from
# the face detector's view of >= 492 px): 500 keypoints found 322 of 341 edits, 600 found
# 319 and 700 only 306 (more keypoints crowd a small view and dilute the inlier density the
# subject rule asks for). Portfolio: 700 keypoints instead of 1,000 lost 12 edits at 3,000
# images (317 vs 329), so it keeps 1,000.
# A scanned image smaller than 400 px is enlarged to 400 first: the portfolio's pyramid
# (800 px and 7 levels down to 223 px) then overlaps the query's. 10k, same set: 324 -> 332
# edits found (most of them shrunk to 0.3x), +1.1 ms extraction on the small unrelated
# images, none on the scene photos (larger already). The query's pyramid stops at 6 levels
# (640 px down to 257, inside the portfolio's): 10k, one search, 325 edits instead of 324,
# -0.4 ms of extraction per scene photo.
QUERY_LIMITS = FeatureLimits(side=640, keypoints=500, min_side=400, levels=6)
PORTFOLIO_LIMITS = FeatureLimits(side=800, keypoints=1000)


@dataclass(frozen=True)
class Features:
    """Keypoint positions (full-size pixels of the image they came from) and descriptors."""

    points: F32Array  # (n, 2)
    descriptors: U8Array  # (n, 32)
    width: int
    height: int

    @property
    def count(self) -> int:
        return int(self.points.shape[0])

    @staticmethod
    def joined(*parts: Features) -> Features:
        """The keypoints of all parts of one image's features, in order."""
        return Features(
            np.concatenate([part.points for part in parts]),
            np.concatenate([part.descriptors for part in parts]),
            parts[0].width,
            parts[0].height,
        )


def to_gray(bgr: U8Array) -> U8Array:
    if bgr.ndim == 2:
        return bgr
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


@dataclass(frozen=True)
class _Layer:
    """Keypoints chosen in one working image (the image at one size)."""

    work: U8Array  # the image ORB ran on
    orb: Any  # the cv2.ORB that detected them (its parameters describe them)
    chosen: tuple[Any, ...]  # cv2.KeyPoint
    scale: F32Array  # full-size pixels per working pixel (x, y)


@dataclass(frozen=True)
class Keypoints:
    """The keypoints chosen in an image (at one size, or two for a small scanned image),
    their descriptors computed on demand: a scan computes a sample's first and the rest
    only when the sample is not enough."""

    layers: tuple[_Layer, ...]
    width: int  # full size
    height: int

    @property
    def count(self) -> int:
        return sum(len(layer.chosen) for layer in self.layers)

    def features(self, rows: Sequence[int] | None = None) -> Features:
        """These keypoints' features (all when ``rows`` is None); rows number the layers'
        keypoints end to end."""
        wanted = range(self.count) if rows is None else rows
        parts: list[Features] = []
        first = 0
        for layer in self.layers:
            end = first + len(layer.chosen)
            picked = [layer.chosen[r - first] for r in wanted if first <= r < end]
            parts.append(self._computed(layer, picked))
            first = end
        return Features.joined(*parts)  # a Keypoints has at least one layer

    def _computed(self, layer: _Layer, picked: list[Any]) -> Features:
        if not picked:
            return _empty((self.width, self.height))
        computed, descriptors = layer.orb.compute(layer.work, picked)
        if descriptors is None or not computed:
            return _empty((self.width, self.height))
        points = _positions(computed) * layer.scale
        descriptors = np.ascontiguousarray(descriptors, dtype=np.uint8)
        return Features(points, descriptors, self.width, self.height)


def keypoints(gray: U8Array, *, limits: FeatureLimits, full_size: tuple[int, int]) -> Keypoints:
    """ORB keypoints of ``gray`` shrunk to ``limits.side``, chosen on the grid; an image
    under ``limits.min_side`` gives half its budget at its own size and half enlarged to
    ``min_side``. Their points come out in ``full_size`` (w, h) pixels."""
    longest = max(gray.shape[:2])
    layers: tuple[_Layer, ...]
    if longest < limits.min_side:
        half = limits.keypoints // 2
        layers = (
            _layer(gray, 1.0, half, limits, full_size),
            _layer(gray, limits.min_side / longest, limits.keypoints - half, limits, full_size),
        )
    else:
        factor = min(1.0, limits.side / longest)
        layers = (_layer(gray, factor, limits.keypoints, limits, full_size),)
    return Keypoints(layers, *full_size)


def _layer(
    gray: U8Array, factor: float, budget: int, limits: FeatureLimits, full_size: tuple[int, int]
) -> _Layer:
    height, width = gray.shape[:2]
    work = gray
    if factor != 1.0:
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        how = cv2.INTER_AREA if factor < 1.0 else cv2.INTER_LINEAR
        work = np.asarray(cv2.resize(gray, size, interpolation=how), dtype=np.uint8)
    orb = cv2.ORB_create(  # type: ignore[attr-defined]
        nfeatures=budget * CANDIDATES_PER_KEPT,
        fastThreshold=FAST_THRESHOLD,
        edgeThreshold=EDGE_THRESHOLD,
        nlevels=limits.levels,
    )
    orb.setPatchSize(PATCH_SIZE)
    scale = np.array([full_size[0] / work.shape[1], full_size[1] / work.shape[0]], dtype=np.float32)
    if min(work.shape[:2]) < MIN_SIDE:  # no keypoint fits (and ORB's pyramid fails on it)
        return _Layer(work, orb, (), scale)
    chosen = _on_grid(orb.detect(work, None), work.shape[1], work.shape[0], budget)
    return _Layer(work, orb, tuple(chosen), scale)


def extract(gray: U8Array, *, limits: FeatureLimits, full_size: tuple[int, int]) -> Features:
    """Every chosen keypoint's features (see :func:`keypoints`)."""
    return keypoints(gray, limits=limits, full_size=full_size).features()


def mirrored(gray: U8Array, *, limits: FeatureLimits, full_size: tuple[int, int]) -> Features:
    """Features of the horizontally flipped image, in the flipped image's coordinates."""
    return extract(np.ascontiguousarray(gray[:, ::-1]), limits=limits, full_size=full_size)


def _on_grid(keypoints: Sequence[Any], width: int, height: int, budget: int) -> list[Any]:
    """The strongest keypoints of each grid cell (an equal quota each), the remaining budget
    filled with the strongest of the rest."""
    if len(keypoints) <= budget:
        return list(keypoints)
    quota = max(1, budget // (GRID * GRID))
    points = _positions(keypoints)
    response = np.fromiter((kp.response for kp in keypoints), np.float32, len(keypoints))
    column = np.minimum(GRID - 1, (points[:, 0] * GRID / width).astype(np.int64))
    row = np.minimum(GRID - 1, (points[:, 1] * GRID / height).astype(np.int64))
    cell = row * GRID + column
    order = np.lexsort((-response, cell))  # by cell, strongest first
    sorted_cell = cell[order]
    starts = np.searchsorted(sorted_cell, sorted_cell, side="left")
    rank = np.arange(len(order)) - starts  # place within its cell
    first = order[rank < quota]
    rest = order[rank >= quota]
    rest = rest[np.argsort(-response[rest], kind="stable")][: max(0, budget - len(first))]
    chosen = np.concatenate([first, rest])[:budget]
    return [keypoints[i] for i in chosen]


def _positions(keypoints: Sequence[Any]) -> F32Array:
    converted = cv2.KeyPoint_convert(keypoints)  # type: ignore[attr-defined]
    return np.asarray(converted, dtype=np.float32).reshape(-1, 2)


def _empty(full_size: tuple[int, int]) -> Features:
    return Features(
        np.zeros((0, 2), dtype=np.float32),
        np.zeros((0, DESCRIPTOR_BYTES), dtype=np.uint8),
        *full_size,
    )
