"""Safe image decoding.

Every image that enters twinwatch passes through :func:`decode_image`: it checks the
format, the pixel count, the side length, the aspect ratio and the memory decoding would
take, all from the header *before* the raster is decoded (decompression bombs, 1x60000
strips), takes the first frame of animations and multi-page files, honours EXIF
orientation, and normalises every mode (grayscale, palette, CMYK, 16-bit, alpha) to 8-bit
BGR for the models without float copies of the raster.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from indexer.errors import ImageDecodeError, ImageTooLargeError, UnsupportedImageTypeError
from indexer.formats import ACCEPTED_FORMATS
from indexer.settings import IndexerSettings

# Pillow's own guard raises at twice this; we check our own limit first, so raise it high.
Image.MAX_IMAGE_PIXELS = None
Image.init()  # register every plugin before ``formats=`` is used

BgrImage = npt.NDArray[np.uint8]
# Bytes per pixel Pillow holds for a decoded raster in each mode (multi-band modes take 4).
_RASTER_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_DEFAULT_RASTER_BYTES = 4
# Working copies on top of the raster: a converted Pillow image (4), the RGB array (3) and
# the BGR array (3); alpha compositing adds an RGBA copy, a background and the result.
_WORKING_BYTES_PER_PIXEL = 10
_ALPHA_BYTES_PER_PIXEL = 12
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La", "P")
_CONVERT_ROWS_PIXELS = 1 << 20  # high-depth rasters are rescaled this many pixels at a time


def _setting_default(name: str) -> int | float:
    default = IndexerSettings.model_fields[name].default
    assert isinstance(default, int | float)
    return default


@dataclass(frozen=True)
class DecodeLimits:
    """The bounds checked from the header before decoding (owned by ``IndexerSettings``)."""

    max_pixels: int = int(_setting_default("max_image_pixels"))
    max_side: int = int(_setting_default("max_image_side"))
    max_aspect_ratio: float = float(_setting_default("max_image_aspect_ratio"))
    max_decode_bytes: int = int(_setting_default("max_decode_bytes"))

    @classmethod
    def of(cls, settings: IndexerSettings) -> DecodeLimits:
        return cls(settings.max_image_pixels, settings.max_image_side,
                   settings.max_image_aspect_ratio, settings.max_decode_bytes)


@dataclass(frozen=True)
class DecodedImage:
    """An image ready for the models: 8-bit BGR, upright, plus facts about the source."""

    bgr: BgrImage
    sha256: str
    source_format: str
    source_mode: str
    width: int
    height: int
    byte_size: int


def sniff_format(data: bytes) -> str | None:
    """The image format named by the file header, without decoding; None if not an image."""
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as img:
            return str(img.format)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


def decode_image(data: bytes, *, max_pixels: int | None = None,
                 limits: DecodeLimits | None = None) -> DecodedImage:
    """Decode ``data`` into an upright 8-bit BGR array, refusing unsafe or unsupported input.

    ``limits`` defaults to the settings' defaults; ``max_pixels``, when given, overrides
    its pixel limit.
    """
    if not data:
        raise ImageDecodeError("The upload is empty: no image bytes were received.")
    limits = limits or DecodeLimits()
    if max_pixels is not None:
        limits = DecodeLimits(max_pixels, limits.max_side, limits.max_aspect_ratio,
                              limits.max_decode_bytes)
    img = _open_checked(data, limits)
    source_format, source_mode = str(img.format), img.mode
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
            ImageOps.exif_transpose(img, in_place=True)
        rgb = _to_rgb8(img)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageDecodeError(
            f"The {source_format} image is corrupt or truncated: {exc}.") from exc
    finally:
        img.close()
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    del rgb
    return DecodedImage(
        bgr=bgr,
        sha256=hashlib.sha256(data).hexdigest(),
        source_format=source_format,
        source_mode=source_mode,
        width=int(bgr.shape[1]),
        height=int(bgr.shape[0]),
        byte_size=len(data),
    )


def _open_checked(data: bytes, limits: DecodeLimits) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError as exc:
        raise UnsupportedImageTypeError(
            "The data is not an image in a supported format "
            f"({', '.join(ACCEPTED_FORMATS)})."
        ) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageDecodeError(f"The image header could not be read: {exc}.") from exc
    width, height = img.size
    if width <= 0 or height <= 0:
        img.close()
        raise ImageDecodeError(f"The image declares an empty size ({width}x{height}).")
    try:
        _check_bounds(width, height, img.mode, limits)
    except ImageTooLargeError:
        img.close()
        raise
    if getattr(img, "n_frames", 1) > 1:
        img.seek(0)
    return img


def _check_bounds(width: int, height: int, mode: str, limits: DecodeLimits) -> None:
    """Refuse, from the header alone, images too big or too flat to decode safely."""
    size = f"{width}x{height}"
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"The image is {size} = {width * height:,} pixels, over the limit of "
            f"{limits.max_pixels:,}; it was refused before decoding.",
            width=width, height=height, max_pixels=limits.max_pixels)
    if max(width, height) > limits.max_side:
        raise ImageTooLargeError(
            f"The image is {size}: its longer side is over the limit of {limits.max_side:,} "
            "pixels; it was refused before decoding.",
            width=width, height=height, max_side=limits.max_side)
    if max(width, height) > limits.max_aspect_ratio * min(width, height):
        raise ImageTooLargeError(
            f"The image is {size}: its aspect ratio is over the limit of "
            f"{limits.max_aspect_ratio:g}:1; it was refused before decoding.",
            width=width, height=height, max_aspect_ratio=limits.max_aspect_ratio)
    needed = decode_bytes(width, height, mode)
    if needed > limits.max_decode_bytes:
        raise ImageTooLargeError(
            f"Decoding the {size} {mode} image would take about {needed // 2**20:,} MiB, over "
            f"the budget of {limits.max_decode_bytes // 2**20:,} MiB; it was refused before "
            "decoding.", width=width, height=height, mode=mode,
            max_decode_bytes=limits.max_decode_bytes)


def decode_bytes(width: int, height: int, mode: str) -> int:
    """Upper estimate of the memory :func:`decode_image` needs for an image of this header."""
    per_pixel = _RASTER_BYTES.get(mode, _DEFAULT_RASTER_BYTES) + _WORKING_BYTES_PER_PIXEL
    if mode in _ALPHA_MODES:
        per_pixel += _ALPHA_BYTES_PER_PIXEL
    return width * height * per_pixel


def _to_rgb8(img: Image.Image) -> npt.NDArray[np.uint8]:
    """Normalise any Pillow mode to an HxWx3 uint8 RGB array."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _high_depth_gray_to_rgb8(img)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"), dtype=np.uint8)
    if mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8)


def _high_depth_gray_to_rgb8(img: Image.Image) -> npt.NDArray[np.uint8]:
    """16/32-bit and float gray to 8-bit RGB, a block of rows at a time (no float copy of
    the whole raster)."""
    values = np.asarray(img)
    top = float(values.max()) if values.size else 0.0
    if img.mode == "F":
        scale = 255.0 / top if top > 1.0 else 255.0
    elif top > 255.0:
        scale = 255.0 / 65535.0
    else:
        scale = 1.0
    height, width = values.shape[:2]
    rgb = np.empty((height, width, 3), np.uint8)
    rows = max(1, _CONVERT_ROWS_PIXELS // max(width, 1))
    for start in range(0, height, rows):
        block = values[start:start + rows].astype(np.float32) * np.float32(scale)
        rgb[start:start + rows] = np.clip(block, 0, 255).astype(np.uint8)[:, :, None]
    return rgb
