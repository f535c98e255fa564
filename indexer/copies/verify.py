"""Geometric verification of one candidate: a similarity transform (scale, rotation,
translation) from the original to the scanned image by RANSAC, then what it says: which
region of the original the scanned image shows, how much of its area, and where the
original's face went."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from indexer.boxes import Box
from indexer.copies.features import F32Array
from indexer.copies.index import Candidate

RANSAC_PX = 6.0
MIN_SCALE, MAX_SCALE = 0.05, 20.0
MIN_SPREAD = 0.08  # inliers must span this share of the original's shorter side
# ... and this many pixels of the scanned image on each axis. A chance consensus between two
# photos of one shoot (scenes/Jack img16 vs img17, 500 query keypoints) mapped 14 inliers
# spread over 275 x 330 px of the original onto 19 x 16 px of the scan (scale 0.052):
# keypoints that close are one spot seen at several pyramid levels, not a shrunken copy.
MIN_SCAN_SPREAD_PX = 24.0
FACE_VISIBLE = 0.5  # share of the mapped face box inside the scanned image


@dataclass(frozen=True)
class VerifyRules:
    min_inliers: int = 12  # inliers on the talent herself (face, hair, body)
    # of the scanned image's keypoints where the talent's region landed, the share that are
    # inliers: a copy keeps most of them; a shared backdrop (another photo in front of the
    # same press wall) matches around the talent, never on her (measured <= 0.034 vs >= 0.056)
    min_density: float = 0.05
    # Another photo of the same face (same pose) aligns eyes, nose and lips under one
    # similarity too; a copy's inliers are the same pixels, so their descriptors are far
    # closer (median Hamming ~11-16 of 256 bits for edits, 24 for the same face in another
    # photo). Matches whose density is below ``sure_density`` must be that close.
    max_median_hamming: float = 20.0
    sure_density: float = 0.15


@dataclass(frozen=True)
class Placement:
    """Where a portfolio image sits in a scanned image."""

    image_id: int
    talent_id: int
    mirrored: bool
    inliers: int
    scale: float  # scanned pixels per original pixel
    rotation_deg: float
    area_share: float  # share of the original's area the scanned image shows
    region: list[tuple[float, float]]  # the shown region, in the original's pixels
    face_in_scan: Box | None  # the original's face box mapped into the scanned image
    face_present: bool


def verify(
    candidate: Candidate, *, query_points: F32Array, scan_size: tuple[int, int], rules: VerifyRules
) -> Placement | None:
    """The candidate's placement if the geometry holds and covers the talent, else None
    (``query_points``: every keypoint of the scanned image)."""
    image = candidate.image
    if len(candidate.image_points) < rules.min_inliers:
        return None
    matrix, mask = cv2.estimateAffinePartial2D(
        candidate.image_points,
        candidate.query_points,
        method=cv2.RANSAC,
        ransacReprojThreshold=RANSAC_PX,
        maxIters=500,
        confidence=0.995,
    )
    if matrix is None or mask is None:
        return None
    inlier_mask = mask.ravel().astype(bool)
    inliers = candidate.image_points[inlier_mask]
    if len(inliers) < rules.min_inliers or not _spread_enough(inliers, image.width, image.height):
        return None
    scan_span = np.ptp(candidate.query_points[inlier_mask], axis=0)
    if float(scan_span.min()) < MIN_SCAN_SPREAD_PX:
        return None
    scale = float(math.hypot(matrix[0, 0], matrix[1, 0]))
    if not MIN_SCALE <= scale <= MAX_SCALE:
        return None
    subject = subject_box(image.face_box, image.width, image.height)
    on_subject = int(_inside(inliers, subject).sum())
    if on_subject < rules.min_inliers:
        return None
    landed = _mapped_box(matrix, subject)
    density = on_subject / max(1, int(_inside(query_points, landed).sum()))
    close = float(np.median(candidate.distances[inlier_mask])) <= rules.max_median_hamming
    if density < rules.min_density or (density < rules.sure_density and not close):
        return None
    region = _shown_region(matrix, scan_size, image.width, image.height)
    area = float(cv2.contourArea(region)) if len(region) >= 3 else 0.0
    face_in_scan, face_present = _mapped_face(matrix, image.face_box, scan_size)
    return Placement(
        image.image_id,
        image.talent_id,
        image.mirrored,
        int(inlier_mask.sum()),
        scale,
        math.degrees(math.atan2(matrix[1, 0], matrix[0, 0])),
        min(1.0, area / float(image.width * image.height)),
        _unmirror(region, image.width, image.mirrored),
        face_in_scan,
        face_present,
    )


def subject_box(face: Box | None, width: int, height: int) -> Box:
    """The talent's own region around her face: hair, neck, shoulders, torso (the whole
    image when the original has no face), so a shared backdrop alone never counts."""
    if face is None:
        return (0.0, 0.0, float(width), float(height))
    x1, y1, x2, y2 = face
    w, h = x2 - x1, y2 - y1
    return (
        max(0.0, x1 - 0.8 * w),
        max(0.0, y1 - 0.4 * h),
        min(width, x2 + 0.8 * w),
        min(height, y2 + 3.0 * h),
    )


def _mapped_box(matrix: np.ndarray, box: Box) -> Box:
    x1, y1, x2, y2 = box
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float32)
    mapped = cv2.transform(corners.reshape(-1, 1, 2), matrix).reshape(-1, 2)
    return (
        float(mapped[:, 0].min()),
        float(mapped[:, 1].min()),
        float(mapped[:, 0].max()),
        float(mapped[:, 1].max()),
    )


def _inside(points: F32Array, box: Box) -> np.ndarray:
    x, y = points[:, 0], points[:, 1]
    return (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])


def _spread_enough(points: F32Array, width: int, height: int) -> bool:
    span = points.max(axis=0) - points.min(axis=0)
    return bool(min(span) >= MIN_SPREAD * min(width, height))


def _shown_region(
    matrix: np.ndarray, scan_size: tuple[int, int], width: int, height: int
) -> np.ndarray:
    """The scanned image's frame mapped back into the original, clipped to the original."""
    inverse = cv2.invertAffineTransform(matrix)
    sw, sh = scan_size
    corners = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], dtype=np.float32).reshape(-1, 1, 2)
    back = cv2.transform(corners, inverse).reshape(-1, 2).astype(np.float32)
    frame = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    area, region = cv2.intersectConvexConvex(_convex(back), frame)
    if area <= 0 or region is None:
        return np.zeros((0, 2), dtype=np.float32)
    return np.asarray(region, dtype=np.float32).reshape(-1, 2)


def _convex(points: np.ndarray) -> np.ndarray:
    return np.asarray(cv2.convexHull(points.astype(np.float32)), dtype=np.float32).reshape(-1, 2)


def _mapped_face(
    matrix: np.ndarray, face: Box | None, scan_size: tuple[int, int]
) -> tuple[Box | None, bool]:
    if face is None:
        return None, False
    x1, y1, x2, y2 = face
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float32).reshape(-1, 1, 2)
    mapped = cv2.transform(corners, matrix).reshape(-1, 2).astype(np.float32)
    box = _mapped_box(matrix, face)
    quad = _convex(mapped)
    whole = float(cv2.contourArea(quad))
    sw, sh = scan_size
    frame = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], dtype=np.float32)
    shown, _ = cv2.intersectConvexConvex(quad, frame)
    return box, whole > 0 and float(shown) / whole >= FACE_VISIBLE


def _unmirror(region: np.ndarray, width: int, mirrored: bool) -> list[tuple[float, float]]:
    return [(round(float(width - x if mirrored else x), 1), round(float(y), 1)) for x, y in region]
