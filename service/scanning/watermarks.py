"""Invisible watermarks that open image generators embed, decoded with ``invisible-watermark``.

The Stable Diffusion reference scripts (CompVis ``scripts/txt2img.py``) and diffusers' SDXL
pipelines pass every image they produce through ``imwatermark``'s DWT-DCT embedder
(``WatermarkEncoder().encode(bgr, "dwtDct")``), with a published payload:

- Stable Diffusion v1: the bytes ``b"StableDiffusionV1"`` (136 bits);
- SDXL (diffusers' ``StableDiffusionXLWatermarker``): ``WATERMARK_MESSAGE =
  0b101100111110110010010000011110111011000110011110`` (48 bits).

The embedder quantises one DCT coefficient of every 4x4 block of the Haar-DWT approximation
of the U channel; block *n* carries bit ``n mod L`` in raster order. Decoding reads every
block and takes, per bit, the majority over its blocks. We compare the decoded bits with
each published payload and report the agreement; a payload counts as found at or above its
threshold (:data:`WATERMARKS`), chosen from measurements (``bench/watermarks.py``,
``docs/benchmarks.md``): unwatermarked photos never came near it.

Each payload is decoded from the pixels the way its generator embedded it: SD v1 from 8-bit
pixels (the script hands the encoder ``uint8`` arrays), SDXL from the same pixels as
``float32`` (diffusers hands it floats in 0..255, so OpenCV's YUV conversion centres the
chroma on 0.5, not 128; decoding 8-bit pixels loses about a quarter of the bits).

The package: ``invisible-watermark`` 0.2.0's ``imwatermark/__init__.py`` imports its RivaGAN
module, which imports ``torch`` at import time, and its PyPI metadata pulls ``torch`` and the
GUI build of OpenCV. twinwatch installs it with ``--no-deps`` (``make install``, the
Dockerfile) next to PyWavelets and loads the package's DWT-DCT module (``maxDct.py``) by
itself, so torch is never imported. When the package is missing, watermark reading is off
(logged once) and everything else works.

Cost: decoding is a Python loop over 4x4 blocks, so it runs on a bounded, full-width band of
rows (:data:`MAX_DECODE_BLOCKS` blocks); block numbering is kept by starting the band on a
block row and rotating the decoded bits back by the band's first block index. Anything that
moves the block grid (resizing, cropping by other than a multiple of 8 pixels, rotation)
erases this watermark: its absence proves nothing.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from service.rules.generators import (
    GenerationSignal,
    SignalKind,
    SignalStrength,
    generator,
)

log = logging.getLogger(__name__)

BgrImage = npt.NDArray[np.uint8]
DWT_DCT_BLOCK = 8  # pixels: a 4x4 block of the half-resolution Haar approximation
MAX_DECODE_BLOCKS = 4096  # blocks decoded per image (a full-width band of rows)
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


# Thresholds: measured on unwatermarked photos (61 scenes + LFW; bench/watermarks.py),
# the best agreement seen was far below these; a random 48-bit string reaches 44/48 with
# probability 1.2e-10, a random 136-bit one 120/136 with probability < 1e-19.
WATERMARKS: tuple[Watermark, ...] = (
    Watermark("sdxl", "SDXL invisible watermark", "stable_diffusion_xl",
              _bits_of_int(0b101100111110110010010000011110111011000110011110), min_matched=44,
              float_pixels=True),
    Watermark("sd_v1", "Stable Diffusion v1 invisible watermark", "stable_diffusion",
              _bits_of_bytes(b"StableDiffusionV1"), min_matched=120,
              float_pixels=False),
)


@lru_cache(maxsize=1)
def _dwt_dct_module() -> ModuleType | None:
    """The package's DWT-DCT module, loaded alone (its package ``__init__`` imports torch)."""
    spec = importlib.util.find_spec("imwatermark")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        log.warning("invisible-watermark is not installed: generator watermarks are not read")
        return None
    module_spec = importlib.util.spec_from_file_location(
        _PACKAGE_MODULE, f"{locations[0]}/maxDct.py")
    if module_spec is None or module_spec.loader is None:
        log.warning("invisible-watermark has no maxDct module: watermarks are not read")
        return None
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except ImportError as exc:  # PyWavelets or OpenCV missing
        log.warning("invisible-watermark cannot be loaded (%s): watermarks are not read", exc)
        return None
    sys.modules.setdefault(_PACKAGE_MODULE, module)
    return module


def available() -> bool:
    """Whether watermark reading is on (the package and PyWavelets are installed)."""
    return _dwt_dct_module() is not None


def _embedder(length: int, watermark_bits: list[int] | None = None) -> Any:
    module = _dwt_dct_module()
    if module is None:
        raise RuntimeError("invisible-watermark is not installed")
    return module.EmbedMaxDct(watermarks=watermark_bits or [], wmLen=length)


def decode_band(bgr: npt.NDArray[Any], *, first_block: int, length: int) -> list[int]:
    """The package's DWT-DCT decode of ``bgr`` as bits ``0..length-1`` of the payload, given
    the index of the band's first block in the whole image."""
    bits = [int(bit) for bit in _embedder(length).decode(bgr)]
    shift = first_block % length
    return bits[-shift:] + bits[:-shift] if shift else bits


def _band(bgr: BgrImage) -> tuple[BgrImage, int]:
    """A full-width band of block rows from the middle of the image, and the index of its
    first block; the whole image when it has few blocks."""
    height, width = bgr.shape[:2]
    per_row = width // DWT_DCT_BLOCK
    rows = height // DWT_DCT_BLOCK
    band_rows = max(1, min(rows, MAX_DECODE_BLOCKS // max(per_row, 1)))
    first_row = (rows - band_rows) // 2
    top = first_row * DWT_DCT_BLOCK
    return bgr[top:top + band_rows * DWT_DCT_BLOCK], first_row * per_row


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
    """Every known watermark's bit agreement on this image (empty when reading is off or the
    image is too small to carry one)."""
    if not available() or bgr.ndim != 3 or bgr.shape[2] != 3:
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
        kind=SignalKind.WATERMARK, source=f"watermark:{watermark.key}",
        generator=generator(watermark.generator_key).name, strength=SignalStrength.STRONG,
        detail=f"{watermark.label}, {reading.matched}/{watermark.length} bits",
        bits_matched=reading.matched, bits_total=watermark.length)


def embed(bgr: BgrImage, watermark: Watermark) -> BgrImage:
    """``bgr`` with ``watermark`` embedded by the package's encoder, as the generators do
    (tests and benchmarks make their own watermarked images with it)."""
    pixels = bgr.astype(np.float32) if watermark.float_pixels else bgr.copy()
    encoded = _embedder(watermark.length, list(watermark.bits)).encode(pixels)
    clipped: BgrImage = np.clip(np.rint(encoded), 0, 255).astype(np.uint8)
    return clipped
