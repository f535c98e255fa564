"""ORB features of one image: keypoints chosen on a grid so captions and overlays cannot
take the whole budget; the mirrored image's features for portfolio images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

U8Array = npt.NDArray[np.uint8]
F32Array = npt.NDArray[np.float32]

GRID = 4  # cells per side for keypoint selection
DESCRIPTOR_BYTES = 32
#: Bumped whenever extraction changes what it returns: stored features of another version
#: are extracted again from the original.
FEATURES_VERSION = 1


@dataclass(frozen=True)
class FeatureLimits:
    """Bounds of one extraction: the long side it works at and the keypoint budget."""

    side: int
    keypoints: int


QUERY_LIMITS = FeatureLimits(side=640, keypoints=700)
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


def to_gray(bgr: U8Array) -> U8Array:
    if bgr.ndim == 2:
        return bgr
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


def extract(gray: U8Array, *, limits: FeatureLimits, full_size: tuple[int, int]) -> Features:
    """ORB on ``gray`` shrunk to ``limits.side``; points scaled to ``full_size`` (w, h)."""
    height, width = gray.shape[:2]
    factor = min(1.0, limits.side / max(width, height))
    work = gray
    if factor < 1.0:
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        work = np.asarray(cv2.resize(gray, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    orb = cv2.ORB_create(  # type: ignore[attr-defined]
        nfeatures=limits.keypoints * 3, fastThreshold=12, edgeThreshold=15
    )
    orb.setPatchSize(15)
    keypoints = orb.detect(work, None)
    chosen = _on_grid(list(keypoints), work.shape[1], work.shape[0], limits.keypoints)
    chosen, descriptors = orb.compute(work, chosen)
    if descriptors is None or not chosen:
        return _empty(full_size)
    scale_x = full_size[0] / work.shape[1]
    scale_y = full_size[1] / work.shape[0]
    points = np.array([kp.pt for kp in chosen], dtype=np.float32).reshape(-1, 2)
    points *= np.array([scale_x, scale_y], dtype=np.float32)
    return Features(points, np.ascontiguousarray(descriptors, dtype=np.uint8), *full_size)


def mirrored(gray: U8Array, *, limits: FeatureLimits, full_size: tuple[int, int]) -> Features:
    """Features of the horizontally flipped image, in the flipped image's coordinates."""
    return extract(np.ascontiguousarray(gray[:, ::-1]), limits=limits, full_size=full_size)


def _on_grid(keypoints: list[cv2.KeyPoint], width: int, height: int, budget: int) -> list[Any]:
    """The strongest keypoints of each grid cell (an equal quota each), the remaining budget
    filled with the strongest of the rest."""
    if len(keypoints) <= budget:
        return keypoints
    quota = max(1, budget // (GRID * GRID))
    cells: dict[tuple[int, int], list[cv2.KeyPoint]] = {}
    for kp in keypoints:
        cell = (
            min(GRID - 1, int(kp.pt[0] * GRID / width)),
            min(GRID - 1, int(kp.pt[1] * GRID / height)),
        )
        cells.setdefault(cell, []).append(kp)
    chosen: list[cv2.KeyPoint] = []
    rest: list[cv2.KeyPoint] = []
    for members in cells.values():
        members.sort(key=lambda kp: -kp.response)
        chosen.extend(members[:quota])
        rest.extend(members[quota:])
    rest.sort(key=lambda kp: -kp.response)
    chosen.extend(rest[: budget - len(chosen)])
    return chosen[:budget]


def _empty(full_size: tuple[int, int]) -> Features:
    return Features(
        np.zeros((0, 2), dtype=np.float32),
        np.zeros((0, DESCRIPTOR_BYTES), dtype=np.uint8),
        *full_size,
    )
