"""Edits of a photo of known kind, for copy-detection tests and the bench: crops to a share
of the area, rescaling, re-encoding, colour and contrast, mirroring, overlays, borders, and
another person's face cloned onto the face."""

from __future__ import annotations

import math

import cv2
import numpy as np

from indexer.engine import FaceAnalyser

Box = tuple[float, float, float, float]


def jpeg(bgr: np.ndarray, quality: int = 90) -> bytes:
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return bytes(encoded.tobytes())


def decode(data: bytes) -> np.ndarray:
    return np.asarray(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))


def largest_face(analyser: FaceAnalyser, bgr: np.ndarray) -> Box | None:
    faces = analyser.analyse(bgr)
    return max(faces, key=lambda f: f.width * f.height).box if faces else None


def crop_area(
    bgr: np.ndarray, share: float, centre: tuple[float, float] | None = None
) -> np.ndarray:
    """A crop of ``share`` of the area, same aspect, around ``centre`` (kept inside)."""
    h, w = bgr.shape[:2]
    cw, ch = round(w * math.sqrt(share)), round(h * math.sqrt(share))
    cx, cy = centre or (w / 2, h / 2)
    left = int(min(max(0, cx - cw / 2), w - cw))
    top = int(min(max(0, cy - ch / 2), h - ch))
    return bgr[top : top + ch, left : left + cw].copy()


def rescale(bgr: np.ndarray, factor: float) -> np.ndarray:
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    return np.asarray(cv2.resize(bgr, None, fx=factor, fy=factor, interpolation=interpolation))


def recolour(bgr: np.ndarray) -> np.ndarray:
    """A warm, contrasty, less saturated restyle."""
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV).astype(np.int16)
    hsv[..., 0] = (hsv[..., 0] + 12) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * 0.7, 0, 255)
    shifted = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)
    return np.asarray(cv2.convertScaleAbs(shifted, alpha=1.35, beta=-25))


def mirror(bgr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(bgr[:, ::-1])


def caption(bgr: np.ndarray) -> np.ndarray:
    """A caption bar across the bottom fifth with large text."""
    out = bgr.copy()
    h, w = out.shape[:2]
    cv2.rectangle(out, (0, int(h * 0.8)), (w, h), (20, 20, 20), -1)
    scale = max(0.5, w / 500)
    cv2.putText(
        out,
        "NEW SEASON -50%",
        (int(w * 0.05), int(h * 0.93)),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        max(1, int(scale * 2)),
    )
    return out


def logo(bgr: np.ndarray) -> np.ndarray:
    """A half-transparent brand mark in the top-right corner."""
    out = bgr.copy()
    h, w = out.shape[:2]
    size = max(24, min(h, w) // 5)
    mark = out.copy()
    cv2.circle(mark, (w - size, size), size // 2 + 4, (0, 0, 200), -1)
    cv2.putText(
        mark,
        "TW",
        (w - size - size // 3, size + size // 6),
        cv2.FONT_HERSHEY_SIMPLEX,
        size / 40,
        (255, 255, 255),
        max(1, size // 20),
    )
    return np.asarray(cv2.addWeighted(mark, 0.7, out, 0.3, 0))


def letterbox(bgr: np.ndarray) -> np.ndarray:
    h, w = bgr.shape[:2]
    return np.asarray(
        cv2.copyMakeBorder(
            bgr, h // 6, h // 6, w // 20, w // 20, cv2.BORDER_CONSTANT, value=(0, 0, 0)
        )
    )


def paste_face(bgr: np.ndarray, box: Box, donor: np.ndarray, donor_box: Box) -> np.ndarray:
    """``donor``'s face cloned onto the face at ``box`` (OpenCV seamless cloning)."""
    x1, y1, x2, y2 = (int(v) for v in box)
    dx1, dy1, dx2, dy2 = (int(v) for v in donor_box)
    h, w = bgr.shape[:2]
    x1, y1, x2, y2 = max(1, x1), max(1, y1), min(w - 2, x2), min(h - 2, y2)
    face = cv2.resize(donor[dy1:dy2, dx1:dx2], (x2 - x1, y2 - y1), interpolation=cv2.INTER_CUBIC)
    mask = np.zeros(face.shape[:2], np.uint8)
    cv2.ellipse(
        mask,
        ((x2 - x1) // 2, (y2 - y1) // 2),
        ((x2 - x1) // 2 - 1, (y2 - y1) // 2 - 1),
        0,
        0,
        360,
        255,
        -1,
    )
    centre = ((x1 + x2) // 2, (y1 + y2) // 2)
    return np.asarray(cv2.seamlessClone(face, bgr, mask, centre, cv2.NORMAL_CLONE))


def face_centre(box: Box | None, bgr: np.ndarray) -> tuple[float, float]:
    if box is None:
        return (bgr.shape[1] / 2, bgr.shape[0] / 2)
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
