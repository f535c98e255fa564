"""Safe image decoding.

Every image that enters twinwatch passes through :func:`decode_image`: it checks the
format, the pixel count, the side length, the aspect ratio and the memory decoding would
take, all from the header *before* the raster is decoded (decompression bombs, 1x60000
strips), takes the first frame of animations and multi-page files, honours EXIF
orientation, and normalises every mode (grayscale, palette, CMYK, 16-bit, alpha) to 8-bit
BGR for the models without float copies of the raster.

The face pipeline (CLI, batch jobs, the API, enrolment, migration, calibration) opens an
image with :func:`open_photo` instead: the header is checked once, and the raster is
decoded only at the sizes asked for. A JPEG decodes at 1/2, 1/4 or 1/8 of its size for
almost the price of its entropy decoding (libjpeg's DCT scaling, "draft mode"), so
detection decodes the smallest reduction that still covers the detector's input, and
alignment a finer one only when a face needs it (see ``indexer.engine``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import time
import warnings

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

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


JPEG_REDUCTIONS = (8, 4, 2, 1)  # libjpeg's DCT scaling: 1/8, 1/4, 1/2 of the size, or full
_ORIENTATION_TAG = 0x0112
# EXIF orientation -> (upright x runs backwards over the stored raster, upright y does).
# Pillow's exif_transpose: 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise,
# 7 transverse, 8 rotate 90 counter-clockwise (tests/unit/indexer/test_imaging.py checks every one).
_BACKWARD_AXES = {
    2: (True, False),
    3: (True, True),
    4: (False, True),
    6: (True, False),
    7: (True, True),
    8: (False, True),
}
_SWAPPED_AXES = frozenset({5, 6, 7, 8})
_JPEG_END = b"\xff\xd9"
_CV2_REDUCED = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def _setting_default(name: str) -> int | float:
    default = IndexerSettings.model_fields[name].default
    assert isinstance(default, int | float)
    return default


@dataclasses.dataclass(frozen=True)
class DecodeLimits:
    """The bounds checked from the header before decoding (owned by ``IndexerSettings``)."""

    max_pixels: int = int(_setting_default("max_image_pixels"))
    max_side: int = int(_setting_default("max_image_side"))
    max_aspect_ratio: float = float(_setting_default("max_image_aspect_ratio"))
    max_decode_bytes: int = int(_setting_default("max_decode_bytes"))

    @classmethod
    def of(cls, settings: IndexerSettings) -> DecodeLimits:
        return cls(
            settings.max_image_pixels,
            settings.max_image_side,
            settings.max_image_aspect_ratio,
            settings.max_decode_bytes,
        )


@dataclasses.dataclass(frozen=True)
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


def decode_image(
    data: bytes, *, max_pixels: int | None = None, limits: DecodeLimits | None = None
) -> DecodedImage:
    """Decode ``data`` into an upright 8-bit BGR array, refusing unsafe or unsupported input.

    ``limits`` defaults to the settings' defaults; ``max_pixels``, when given, overrides
    its pixel limit.
    """
    photo = open_photo(data, max_pixels=max_pixels, limits=limits)
    bgr = photo.view(1).bgr
    return DecodedImage(
        bgr=bgr,
        sha256=photo.sha256,
        source_format=photo.source_format,
        source_mode=photo.source_mode,
        width=int(bgr.shape[1]),
        height=int(bgr.shape[0]),
        byte_size=photo.byte_size,
    )


@dataclasses.dataclass(frozen=True)
class ImageView:
    """A photo decoded at 1/``reduction`` of its size (1: full size), upright, 8-bit BGR.

    Pixel ``v`` of the view covers full-size pixels ``[v*r, (v+1)*r)``, shifted by
    ``offset`` (full-size px) on an axis that EXIF orientation reversed over a raster whose
    size is not a multiple of ``r``. Points map with pixel centres: see ``to_full``.
    """

    bgr: BgrImage
    reduction: int
    offset: tuple[float, float] = (0.0, 0.0)

    def to_full(self, points: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(..., 2) x, y points from this view to full-size coordinates."""
        if self.reduction == 1 and self.offset == (0.0, 0.0):
            return points
        offset = np.asarray(self.offset, np.float32)
        result: npt.NDArray[np.float32] = ((points + 0.5) * self.reduction - 0.5 + offset).astype(
            np.float32
        )
        return result

    def from_full(self, points: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(..., 2) x, y points from full-size coordinates to this view's."""
        if self.reduction == 1 and self.offset == (0.0, 0.0):
            return points
        offset = np.asarray(self.offset, np.float32)
        result: npt.NDArray[np.float32] = ((points - offset + 0.5) / self.reduction - 0.5).astype(
            np.float32
        )
        return result


@dataclasses.dataclass(frozen=True)
class _Header:
    source_format: str
    source_mode: str
    width: int  # upright
    height: int
    orientation: int
    reducible: bool  # a single-scan JPEG: libjpeg can decode it at 1/2, 1/4, 1/8


class FacePhoto:
    """One image for the face pipeline: its header checked once (by :func:`open_photo`),
    its raster decoded on demand at the JPEG reductions asked for, each at most once.

    Not thread-safe: one photo belongs to one worker at a time.
    """

    def __init__(
        self, data: bytes, header: _Header, *, views: dict[int, ImageView] | None = None
    ) -> None:
        self._data = data
        self._header = header
        self._views: dict[int, ImageView] = dict(views or {})
        self.decode_s = 0.0  # seconds spent decoding so far
        self._sha256: str | None = None

    @classmethod
    def of_array(cls, bgr: BgrImage) -> FacePhoto:
        """An already decoded image (full size only)."""
        height, width = bgr.shape[:2]
        return cls(
            b"",
            _Header("raw", "BGR", int(width), int(height), 1, False),
            views={1: ImageView(bgr, 1)},
        )

    @classmethod
    def of_decoded(cls, decoded: DecodedImage, data: bytes = b"") -> FacePhoto:
        """A photo already decoded at full size by :func:`decode_image`."""
        header = _Header(
            decoded.source_format, decoded.source_mode, decoded.width, decoded.height, 1, False
        )
        photo = cls(data, header, views={1: ImageView(decoded.bgr, 1)})
        photo._sha256 = decoded.sha256
        return photo

    @property
    def width(self) -> int:
        return self._header.width

    @property
    def height(self) -> int:
        return self._header.height

    @property
    def source_format(self) -> str:
        return self._header.source_format

    @property
    def source_mode(self) -> str:
        return self._header.source_mode

    @property
    def byte_size(self) -> int:
        return len(self._data)

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            raw = self._data or self.view(1).bgr.tobytes()
            self._sha256 = hashlib.sha256(raw).hexdigest()
        return self._sha256

    def reduction_for(self, length_px: float, min_px: float) -> int:
        """The largest reduction keeping a full-size length of ``length_px`` at ``min_px``
        or more (1 when the image cannot be decoded reduced)."""
        if not self._header.reducible:
            return 1
        return next((r for r in JPEG_REDUCTIONS if length_px / r >= min_px), 1)

    def view(self, reduction: int) -> ImageView:
        """The image decoded at 1/``reduction`` (decoded once, then kept)."""
        if not self._header.reducible:
            reduction = 1
        if reduction not in JPEG_REDUCTIONS:
            raise ValueError(f"reduction {reduction} is not one of {JPEG_REDUCTIONS}")
        view = self._views.get(reduction)
        if view is None:
            started = time.perf_counter()
            view = self._decode(reduction)
            self.decode_s += time.perf_counter() - started
            self._views[reduction] = view
        return view

    def coarsest_decoded(self) -> ImageView:
        """The smallest view decoded so far (decoding the full size if none was)."""
        if not self._views:
            return self.view(1)
        return self._views[max(self._views)]

    def _decode(self, reduction: int) -> ImageView:
        header = self._header
        bgr = self._decode_jpeg_fast(reduction) if _fast_path(header, self._data) else None
        if bgr is None:
            bgr = _decode_pillow(self._data, reduction if header.reducible else 1)
        height, width = bgr.shape[:2]
        if (width, height) == (header.width, header.height) or reduction == 1:
            # The raster is the truth for the full size (a header and its EXIF may disagree).
            self._header = dataclasses.replace(header, width=width, height=height)
            return ImageView(bgr, 1)
        if (width, height) != (-(-header.width // reduction), -(-header.height // reduction)):
            raise ImageDecodeError(
                f"The {header.source_format} image decoded to {width}x{height}, not the "
                f"{header.width}x{header.height} its header declares."
            )
        backward = _BACKWARD_AXES.get(header.orientation, (False, False))
        offset = (
            float(header.width - width * reduction) if backward[0] else 0.0,
            float(header.height - height * reduction) if backward[1] else 0.0,
        )
        return ImageView(bgr, reduction, offset)

    def _decode_jpeg_fast(self, reduction: int) -> BgrImage | None:
        """libjpeg-turbo through OpenCV straight to BGR: the same pixels as Pillow's decode
        (tests/unit/indexer/test_imaging.py), without Pillow's copies and channel swap. None:
        let Pillow decode (and report) it."""
        flags = _CV2_REDUCED[reduction] | cv2.IMREAD_IGNORE_ORIENTATION
        bgr = cv2.imdecode(np.frombuffer(self._data, np.uint8), flags)
        if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
            return None
        return np.asarray(bgr, dtype=np.uint8)


def open_photo(
    data: bytes, *, max_pixels: int | None = None, limits: DecodeLimits | None = None
) -> FacePhoto:
    """Check ``data``'s header against ``limits`` (as :func:`decode_image` does) and return
    the photo, not yet decoded."""
    if not data:
        raise ImageDecodeError("The upload is empty: no image bytes were received.")
    limits = limits or DecodeLimits()
    if max_pixels is not None:
        limits = DecodeLimits(
            max_pixels, limits.max_side, limits.max_aspect_ratio, limits.max_decode_bytes
        )
    img = _open_checked(data, limits)
    try:
        orientation = _orientation(img)
        width, height = img.size
        if orientation in _SWAPPED_AXES:
            width, height = height, width
        header = _Header(
            str(img.format),
            img.mode,
            width,
            height,
            orientation,
            img.format == "JPEG" and isinstance(img, ImageFile.ImageFile) and len(img.tile) == 1,
        )
    finally:
        img.close()
    return FacePhoto(data, header)


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
    except (OSError, ValueError, SyntaxError, EOFError, KeyError, TypeError):
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def _fast_path(header: _Header, data: bytes) -> bool:
    """A plain colour JPEG, stored upright and complete (a truncated file goes to Pillow,
    which refuses it instead of filling in grey)."""
    return (
        header.reducible
        and header.source_mode == "RGB"
        and header.orientation == 1
        and data.rstrip(b"\x00\r\n ").endswith(_JPEG_END)
    )


def _decode_pillow(data: bytes, reduction: int) -> BgrImage:
    img = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    source_format = str(img.format)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)
            if reduction > 1:
                img.draft(
                    img.mode, (max(1, img.width // reduction), max(1, img.height // reduction))
                )
            img.load()
            ImageOps.exif_transpose(img, in_place=True)
        rgb = _to_rgb8(img)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageDecodeError(
            f"The {source_format} image is corrupt or truncated: {exc}."
        ) from exc
    finally:
        img.close()
    bgr: BgrImage = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    return bgr


def _open_checked(data: bytes, limits: DecodeLimits) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError as exc:
        raise UnsupportedImageTypeError(
            f"The data is not an image in a supported format ({', '.join(ACCEPTED_FORMATS)})."
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
            width=width,
            height=height,
            max_pixels=limits.max_pixels,
        )
    if max(width, height) > limits.max_side:
        raise ImageTooLargeError(
            f"The image is {size}: its longer side is over the limit of {limits.max_side:,} "
            "pixels; it was refused before decoding.",
            width=width,
            height=height,
            max_side=limits.max_side,
        )
    if max(width, height) > limits.max_aspect_ratio * min(width, height):
        raise ImageTooLargeError(
            f"The image is {size}: its aspect ratio is over the limit of "
            f"{limits.max_aspect_ratio:g}:1; it was refused before decoding.",
            width=width,
            height=height,
            max_aspect_ratio=limits.max_aspect_ratio,
        )
    needed = decode_bytes(width, height, mode)
    if needed > limits.max_decode_bytes:
        raise ImageTooLargeError(
            f"Decoding the {size} {mode} image would take about {needed // 2**20:,} MiB, over "
            f"the budget of {limits.max_decode_bytes // 2**20:,} MiB; it was refused before "
            "decoding.",
            width=width,
            height=height,
            mode=mode,
            max_decode_bytes=limits.max_decode_bytes,
        )


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
        block = values[start : start + rows].astype(np.float32) * np.float32(scale)
        rgb[start : start + rows] = np.clip(block, 0, 255).astype(np.uint8)[:, :, None]
    return rgb
