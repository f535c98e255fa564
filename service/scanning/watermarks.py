"""Invisible watermarks that open image generators embed (``invisible-watermark``'s DWT-DCT).

The Stable Diffusion reference scripts (CompVis ``scripts/txt2img.py``) and diffusers' SDXL
pipelines pass every image they produce through ``imwatermark``'s DWT-DCT embedder
(``WatermarkEncoder().encode(bgr, "dwtDct")``), with a published payload:

- Stable Diffusion v1: the bytes ``b"StableDiffusionV1"`` (136 bits);
- SDXL (diffusers' ``StableDiffusionXLWatermarker``): ``WATERMARK_MESSAGE =
  0b101100111110110010010000011110111011000110011110`` (48 bits).

The embedder takes the Haar-DWT approximation of the U channel (OpenCV's YUV), cuts it into
4x4 blocks and quantises, in block *n*, the value of largest magnitude (after the first) to
carry bit ``n mod L`` (raster order, step 36). Decoding reads every block and takes, per
bit, the majority over its blocks. We compare the decoded bits with each published payload
and report the agreement; a payload counts as found at or above its threshold
(:data:`WATERMARKS`), chosen from measurements (``bench/watermarks.py``,
``docs/benchmarks.md``): unwatermarked photos never came near it.

Each payload is decoded from the pixels the way its generator embedded it: SD v1 from 8-bit
pixels (the script hands the encoder ``uint8`` arrays), SDXL from the same pixels as
``float32`` (diffusers hands it floats in 0..255, so OpenCV's YUV conversion centres the
chroma on 0.5, not 128; decoding 8-bit pixels loses about a quarter of the bits). Even read
back losslessly, an SDXL-marked image rarely gives 48/48: quantising the largest value can
make another one the largest, so some blocks are read at the wrong place (42-48 measured).

Cost: the package's own decoder (``EmbedMaxDct.decode``) is a Python loop over the blocks
(about 6 us a block: 100 ms for a 1024x1024 image per payload, more under load), so
:func:`decode_band` applies the same rule with numpy, and ``tests/unit/scanning/test_ai_signals.py``
holds it equal to the package's decoder bit for bit. It reads at most
:data:`MAX_DECODE_BLOCKS` blocks: a larger image is read on a full-width band of rows from
its middle, block numbering kept by starting the band on a block row and rotating the
decoded bits back by the band's first block index. Anything that moves the block grid
(resizing, cropping by other than a multiple of 8 pixels, rotation) or re-compresses the
chroma (JPEG, even at quality 95) erases this watermark: its absence proves nothing.

The package is the reference decoder and the encoder the tests and benchmark use to make
watermarked images. ``invisible-watermark`` 0.2.0's ``imwatermark/__init__.py`` imports its
RivaGAN module, which imports ``torch``, and its PyPI metadata pulls ``torch`` and the GUI
build of OpenCV: it is installed with ``--no-deps`` (``make install``, the Dockerfile) next
to PyWavelets, and its DWT-DCT module (``maxDct.py``) is loaded by itself, so torch is never
imported. Reading watermarks in a scan needs only PyWavelets, OpenCV and numpy.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import sys
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pywt  # type: ignore[import-untyped]
from PIL import Image

from service.rules.generators import (
    GenerationSignal,
    SignalKind,
    SignalStrength,
    generator,
)

log = logging.getLogger(__name__)

BgrImage = npt.NDArray[np.uint8]
DWT_DCT_BLOCK = 8  # pixels: a 4x4 block of the half-resolution Haar approximation
DWT_DCT_SCALE = 36  # the package's default quantisation step for the U channel
MAX_DECODE_BLOCKS = 16_384  # blocks read per image: a 1024x1024 image whole (SDXL's size)
MIN_SIDE = 256  # the embedders skip images below 256 px (diffusers) / 256x256 pixels
_PACKAGE_MODULE = "twinwatch_imwatermark_maxdct"


def _bits_of_bytes(payload: bytes) -> tuple[int, ...]:
    return tuple(int(b) for b in np.unpackbits(np.frombuffer(payload, dtype=np.uint8)))


def _bits_of_int(message: int) -> tuple[int, ...]:
    return tuple(int(bit) for bit in bin(message)[2:])


@dataclass(frozen=True)
class Watermark:
    """A published generator watermark: its payload bits and the agreement that counts."""

    key: str  # the signal source is "watermark:<key>"
    label: str  # "SDXL invisible watermark"
    generator_key: str  # in service.rules.generators.KNOWN_GENERATORS
    bits: tuple[int, ...]
    min_matched: int  # bits that must agree for the watermark to count as found
    float_pixels: bool  # the generator hands the encoder float pixels (diffusers), not uint8

    @property
    def length(self) -> int:
        return len(self.bits)


# Thresholds (bench/watermarks.py, docs/benchmarks.md): on 5,434 unwatermarked photos (61
# scenes, 5,373 LFW) the best agreement seen was 34/48 (SDXL) and 87/136 (SD v1); natural
# images decode to near-constant bits (about 21/48 and 68/136). A random 48-bit string
# reaches 40/48 with probability 1.6e-6, a random 136-bit one 104/136 with probability
# about 1e-10. Watermarked images read back whole from PNG score 42-48 and 126-136.
WATERMARKS: tuple[Watermark, ...] = (
    Watermark(
        "sdxl",
        "SDXL invisible watermark",
        "stable_diffusion_xl",
        _bits_of_int(0b101100111110110010010000011110111011000110011110),
        min_matched=40,
        float_pixels=True,
    ),
    Watermark(
        "sd_v1",
        "Stable Diffusion v1 invisible watermark",
        "stable_diffusion",
        _bits_of_bytes(b"StableDiffusionV1"),
        min_matched=104,
        float_pixels=False,
    ),
)


@lru_cache(maxsize=1)
def _dwt_dct_module() -> ModuleType | None:
    """The package's DWT-DCT module, loaded alone (its package ``__init__`` imports torch)."""
    spec = importlib.util.find_spec("imwatermark")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        log.warning("invisible-watermark is not installed (needed to make watermarks only)")
        return None
    module_spec = importlib.util.spec_from_file_location(
        _PACKAGE_MODULE, f"{locations[0]}/maxDct.py"
    )
    if module_spec is None or module_spec.loader is None:
        log.warning("invisible-watermark has no maxDct module")
        return None
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except ImportError as exc:  # PyWavelets or OpenCV missing
        log.warning("invisible-watermark cannot be loaded (%s)", exc)
        return None
    sys.modules.setdefault(_PACKAGE_MODULE, module)
    return module


def available() -> bool:
    """Whether the package (the reference decoder and the encoder) can be loaded."""
    return _dwt_dct_module() is not None


def _embedder(length: int, watermark_bits: list[int] | None = None) -> Any:
    module = _dwt_dct_module()
    if module is None:
        raise RuntimeError("invisible-watermark is not installed")
    return module.EmbedMaxDct(watermarks=watermark_bits or [], wmLen=length)


def decode_band(bgr: npt.NDArray[Any], *, first_block: int, length: int) -> list[int]:
    """The DWT-DCT decode of ``bgr`` as bits ``0..length-1`` of the payload, given the index
    of the band's first block in the whole image.

    The package's rule (``EmbedMaxDct.decode``: U channel of OpenCV's YUV, Haar LL band, per
    4x4 block the coefficient of largest magnitude after the first, bit = its magnitude
    modulo the scale above half the scale, majority per payload bit), vectorised: the
    package's own loop costs about 6 us a block in Python. ``package_decode`` runs the
    package itself; the tests hold the two equal bit for bit.
    """
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
    rows, cols = bgr.shape[0] // 4 * 4, bgr.shape[1] // 4 * 4
    approximation = _haar_approximation(yuv[:rows, :cols, 1])
    size = DWT_DCT_BLOCK // 2
    block_rows, block_cols = approximation.shape[0] // size, approximation.shape[1] // size
    blocks = (
        approximation[: block_rows * size, : block_cols * size]
        .reshape(block_rows, size, block_cols, size)
        .transpose(0, 2, 1, 3)
        .reshape(block_rows * block_cols, size * size)
    )
    if not len(blocks):
        return [0] * length
    position = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
    magnitude = np.abs(blocks[np.arange(len(blocks)), position])
    scores = (magnitude % DWT_DCT_SCALE) > 0.5 * DWT_DCT_SCALE
    which = np.arange(len(blocks)) % length
    counts = np.bincount(which, minlength=length)
    means = np.bincount(which, weights=scores, minlength=length) / np.maximum(counts, 1)
    bits = [int(bit) for bit in means * 255 > 127]
    shift = first_block % length
    return bits[-shift:] + bits[:-shift] if shift else bits


def _haar_approximation(channel: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``pywt.dwt2(channel, "haar")[0]``, equal to it bit for bit, as two passes along
    contiguous rows (pywt's column pass over a 1024-wide image thrashes the cache: 5x
    slower). 8-bit input is computed in float64, as pywt does."""
    values = channel.astype(np.float64) if channel.dtype == np.uint8 else channel
    down_columns = pywt.dwt(np.ascontiguousarray(values.T), "haar", axis=1)[0]
    return pywt.dwt(np.ascontiguousarray(down_columns.T), "haar", axis=1)[0]  # type: ignore[no-any-return]


def package_decode(bgr: npt.NDArray[Any], length: int) -> list[int]:
    """The package's own DWT-DCT decoder on the whole image (slow; the reference)."""
    return [int(bit) for bit in _embedder(length).decode(bgr)]


def _band(bgr: BgrImage) -> tuple[BgrImage, int]:
    """A full-width band of block rows from the middle of the image, and the index of its
    first block; the whole image when it has few blocks."""
    height, width = bgr.shape[:2]
    per_row = width // DWT_DCT_BLOCK
    rows = height // DWT_DCT_BLOCK
    band_rows = max(1, min(rows, MAX_DECODE_BLOCKS // max(per_row, 1)))
    first_row = (rows - band_rows) // 2
    top = first_row * DWT_DCT_BLOCK
    return bgr[top : top + band_rows * DWT_DCT_BLOCK], first_row * per_row


def agreement(decoded: list[int], expected: tuple[int, ...]) -> int:
    return sum(1 for got, want in zip(decoded, expected, strict=True) if got == want)


@dataclass(frozen=True)
class WatermarkReading:
    watermark: Watermark
    matched: int

    @property
    def found(self) -> bool:
        return self.matched >= self.watermark.min_matched


def read_watermarks(bgr: BgrImage) -> list[WatermarkReading]:
    """Every known watermark's bit agreement on this image (empty when it is too small to
    carry one)."""
    if bgr.ndim != 3 or bgr.shape[2] != 3:
        return []
    height, width = bgr.shape[:2]
    if min(height, width) < MIN_SIDE // 2 or height * width < MIN_SIDE * MIN_SIDE:
        return []
    band, first_block = _band(np.ascontiguousarray(bgr))
    as_float = band.astype(np.float32)
    readings = []
    for watermark in WATERMARKS:
        pixels = as_float if watermark.float_pixels else band
        decoded = decode_band(pixels, first_block=first_block, length=watermark.length)
        readings.append(WatermarkReading(watermark, agreement(decoded, watermark.bits)))
    return readings


#: The IJG (libjpeg) luminance quantisation table at quality 50, which encoders scale.
_IJG_LUMINANCE_50 = (
    16,
    11,
    10,
    16,
    24,
    40,
    51,
    61,
    12,
    12,
    14,
    19,
    26,
    58,
    60,
    55,
    14,
    13,
    16,
    24,
    40,
    57,
    69,
    56,
    14,
    17,
    22,
    29,
    51,
    87,
    80,
    62,
    18,
    22,
    37,
    56,
    68,
    109,
    103,
    77,
    24,
    35,
    55,
    64,
    81,
    104,
    113,
    92,
    49,
    64,
    78,
    87,
    103,
    121,
    120,
    101,
    72,
    92,
    95,
    98,
    112,
    100,
    103,
    99,
)
#: Below this JPEG quality no watermark survived re-compression in bench.watermarks (SDXL and
#: SD v1 on 61 photos: 0-2% found at quality 90, 3-8% at 95), so the reader is not run.
MIN_JPEG_QUALITY_READ = 95


def jpeg_quality(data: bytes) -> int | None:
    """The IJG quality a JPEG's luminance table was scaled from (1-100), or None when
    ``data`` is not a JPEG with a readable table. Reads the header only."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            tables = (
                getattr(image, "quantization", None) if image.format in ("JPEG", "MPO") else None
            )
    except (OSError, ValueError, SyntaxError):
        return None
    if not tables or 0 not in tables or len(tables[0]) != 64:
        return None
    luminance: list[int] = list(tables[0])
    scale = 100.0 * sum(luminance) / sum(_IJG_LUMINANCE_50)
    quality = (200.0 - scale) / 2.0 if scale <= 100.0 else 5000.0 / scale
    return max(1, min(100, round(quality)))


def watermark_may_survive(data: bytes) -> bool:
    """Whether reading watermarks is worth its cost: any format but a JPEG re-compressed
    below ``MIN_JPEG_QUALITY_READ`` (where the payload, in the chroma that JPEG subsamples
    and quantises, is gone)."""
    quality = jpeg_quality(data)
    return quality is None or quality >= MIN_JPEG_QUALITY_READ


def watermark_signals(bgr: BgrImage) -> tuple[GenerationSignal, ...]:
    """A strong signal per known watermark found at or above its threshold."""
    try:
        readings = read_watermarks(bgr)
    except (ValueError, RuntimeError, MemoryError) as exc:  # never fail a scan over this
        log.warning("watermark reading failed: %s", type(exc).__name__)
        return ()
    return tuple(_signal(reading) for reading in readings if reading.found)


def _signal(reading: WatermarkReading) -> GenerationSignal:
    watermark = reading.watermark
    return GenerationSignal(
        kind=SignalKind.WATERMARK,
        source=f"watermark:{watermark.key}",
        generator=generator(watermark.generator_key).name,
        strength=SignalStrength.STRONG,
        detail=f"{watermark.label}, {reading.matched}/{watermark.length} bits",
        bits_matched=reading.matched,
        bits_total=watermark.length,
    )


def embed(bgr: BgrImage, watermark: Watermark) -> BgrImage:
    """``bgr`` with ``watermark`` embedded by the package's encoder, as the generators do
    (tests and benchmarks make their own watermarked images with it)."""
    pixels = bgr.astype(np.float32) if watermark.float_pixels else bgr.copy()
    encoded = _embedder(watermark.length, list(watermark.bits)).encode(pixels)
    clipped: BgrImage = np.clip(np.rint(encoded), 0, 255).astype(np.uint8)
    return clipped
