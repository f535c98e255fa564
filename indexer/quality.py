"""The reference-photo quality gate (enrolment only): one dominant, large, sharp face."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from indexer.engine import Face


@dataclass(frozen=True)
class QualityFigures:
    faces_found: int
    face_px: float
    detection_score: float
    blur: float


@dataclass(frozen=True)
class Refusal:
    """One reason the gate refused a photo: a stable code (``NO_FACE``, ``SEVERAL_FACES``,
    ``SMALL_FACE``, ``UNSURE_FACE``, ``BLURRED``), the figure measured and the limit it missed."""

    code: str
    measured: float | None = None
    limit: float | None = None


NO_FACE = "no_face"
SEVERAL_FACES = "several_faces"  # measured: how many faces of similar size
SMALL_FACE = "small_face"  # measured: face side in px; limit: the minimum
UNSURE_FACE = "unsure_face"  # measured: detection score; limit: the minimum
BLURRED = "blurred"  # measured: sharpness; limit: the minimum


@dataclass(frozen=True)
class QualityVerdict:
    accepted: bool
    face: Face | None
    figures: QualityFigures | None
    reasons: list[str] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)  # one per reason, same order


def sharpness(aligned_bgr: np.ndarray) -> float:
    """Variance of the Laplacian of the aligned 112x112 face (low = blurred)."""
    gray = cv2.cvtColor(aligned_bgr, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def assess_reference(
    faces: list[Face],
    *,
    min_face_px: int,
    min_detection_score: float,
    min_blur: float,
    dominance_ratio: float,
) -> QualityVerdict:
    """Accept exactly one dominant face that is large, confidently detected and sharp."""
    if not faces:
        return QualityVerdict(
            False, None, None, ["no face was found in the photo"], [Refusal(NO_FACE)]
        )
    ranked = sorted(faces, key=lambda f: -min(f.width, f.height))
    main = ranked[0]
    side = min(main.width, main.height)
    rivals = [f for f in ranked[1:] if min(f.width, f.height) >= dominance_ratio * side]
    blur = sharpness(main.aligned) if main.aligned is not None else 0.0
    figures = QualityFigures(len(faces), side, main.score, blur)
    reasons = []
    refusals = []
    if rivals:
        refusals.append(Refusal(SEVERAL_FACES, len(rivals) + 1))
        reasons.append(
            f"found {len(rivals) + 1} faces of similar size (of {len(faces)} faces "
            "in all); a reference photo must show only the talent"
        )
    if side < min_face_px:
        refusals.append(Refusal(SMALL_FACE, side, min_face_px))
        reasons.append(f"face is {side:.0f}px, smaller than the minimum {min_face_px}px")
    if main.score < min_detection_score:
        refusals.append(Refusal(UNSURE_FACE, main.score, min_detection_score))
        reasons.append(
            f"face detection score {main.score:.2f} is below {min_detection_score:.2f}"
            " (face partly hidden, turned away or not a real face)"
        )
    if blur < min_blur:
        refusals.append(Refusal(BLURRED, blur, min_blur))
        reasons.append(f"face is blurred (sharpness {blur:.0f}, minimum {min_blur:.0f})")
    return QualityVerdict(not reasons, main if not reasons else None, figures, reasons, refusals)
