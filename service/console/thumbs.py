"""Thumbnails for the console: the one owner is :mod:`service.thumbnails` (takedown notices
use the same crops)."""

from __future__ import annotations

from service.thumbnails import FACE_MARGIN, FACE_PX, IMAGE_PX, face_thumbnail, image_thumbnail

__all__ = ["FACE_MARGIN", "FACE_PX", "IMAGE_PX", "face_thumbnail", "image_thumbnail"]
