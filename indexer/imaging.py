"""Safe image decoding.

Every image that enters twinwatch passes through :func:`decode_image`: it checks the
format and the pixel count from the header *before* the raster is decoded (decompression
bombs), takes the first frame of animations and multi-page files, honours EXIF
orientation, and normalises every mode (grayscale, palette, CMYK, 16-bit, alpha) to
8-bit BGR for the models.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from indexer.errors import ImageDecodeError, ImageTooLargeError, UnsupportedImageTypeError
from indexer.formats import ACCEPTED_FORMATS

# Pillow's own guard raises at twice this; we check our own limit first, so raise it high.
Image.MAX_IMAGE_PIXELS = None
Image.init()  # register every plugin before ``formats=`` is used

BgrImage = npt.NDArray[np.uint8]


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


def decode_image(data: bytes, *, max_pixels: int) -> DecodedImage:
    """Decode ``data`` into an upright 8-bit BGR array, refusing unsafe or unsupported input."""
    if not data:
        raise ImageDecodeError("The upload is empty: no image bytes were received.")
    img = _open_checked(data, max_pixels=max_pixels)
    source_format, source_mode = str(img.format), img.mode
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
            upright = ImageOps.exif_transpose(img)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageDecodeError(
            f"The {source_format} image is corrupt or truncated: {exc}.") from exc
    finally:
        img.close()
    rgb = _to_rgb8(upright)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    return DecodedImage(
        bgr=bgr,
        sha256=hashlib.sha256(data).hexdigest(),
        source_format=source_format,
        source_mode=source_mode,
        width=int(bgr.shape[1]),
        height=int(bgr.shape[0]),
        byte_size=len(data),
    )


def _open_checked(data: bytes, *, max_pixels: int) -> Image.Image:
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
    if width * height > max_pixels:
        img.close()
        raise ImageTooLargeError(
            f"The image is {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{max_pixels:,}; it was refused before decoding.",
            width=width, height=height, max_pixels=max_pixels,
        )
    if getattr(img, "n_frames", 1) > 1:
        img.seek(0)
    return img


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
    values = np.asarray(img).astype(np.float64)
    top = float(values.max()) if values.size else 0.0
    if img.mode == "F":
        scale = 255.0 / top if top > 1.0 else 255.0
    elif top > 255.0:
        scale = 255.0 / 65535.0
    else:
        scale = 1.0
    gray = np.clip(values * scale, 0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)
