"""Thumbnails: face crops and reduced copies, never the full image (the console shows them;
takedown notices carry them as evidence)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from indexer.imaging import decode_image

FACE_PX = 200
IMAGE_PX = 720
FACE_MARGIN = 0.35


def face_thumbnail(
    data: bytes, box: Sequence[float], *, max_pixels: int, size: int = FACE_PX
) -> bytes:
    """The face inside ``box`` (x1, y1, x2, y2 in upright image pixels) with some margin."""
    rgb = _upright_rgb(data, max_pixels=max_pixels)
    height, width = rgb.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    pad_x, pad_y = (x2 - x1) * FACE_MARGIN, (y2 - y1) * FACE_MARGIN
    left, top = max(0, int(x1 - pad_x)), max(0, int(y1 - pad_y))
    right, bottom = min(width, int(x2 + pad_x) + 1), min(height, int(y2 + pad_y) + 1)
    if right <= left or bottom <= top:
        left, top, right, bottom = 0, 0, width, height
    return _jpeg(Image.fromarray(rgb[top:bottom, left:right]), size)


def image_thumbnail(data: bytes, *, max_pixels: int, size: int = IMAGE_PX) -> bytes:
    return _jpeg(Image.fromarray(_upright_rgb(data, max_pixels=max_pixels)), size)


def _upright_rgb(data: bytes, *, max_pixels: int) -> np.ndarray:
    return np.ascontiguousarray(decode_image(data, max_pixels=max_pixels).bgr[:, :, ::-1])


def _jpeg(image: Image.Image, size: int) -> bytes:
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
