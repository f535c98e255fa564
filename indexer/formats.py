"""The image formats twinwatch accepts: one table, and every user calls it.

Formats are Pillow's names (what ``Image.format`` reports). Pillow opens multi-picture
camera JPEGs through the JPEG opener and reports them as MPO, so MPO is a JPEG here.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

#: Formats we decode; anything else is refused before decoding.
ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP")

#: The media type of each format Pillow may report for an accepted file.
MEDIA_TYPES: dict[str, str] = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
    "BMP": "image/bmp",
}

GENERIC_MEDIA_TYPE = "application/octet-stream"


def media_type(fmt: str | None) -> str | None:
    """``image/...`` for an accepted format, else None."""
    return MEDIA_TYPES.get(fmt or "")


def _suffixes() -> frozenset[str]:
    Image.init()
    return frozenset(
        suffix for suffix, fmt in Image.registered_extensions().items() if fmt in MEDIA_TYPES
    )


#: File name suffixes (lower case, with the dot) of the accepted formats, as Pillow
#: registers them: .jpg, .jpeg, .jpe, .jfif, .png, .apng, .webp, .gif, .tif, .tiff, .bmp, ...
IMAGE_SUFFIXES: frozenset[str] = _suffixes()


def is_image_file(path: Path) -> bool:
    """A regular file whose suffix names an accepted format (for folder walks)."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
