"""Image fingerprints for approved-asset matching: a 64-bit DCT perceptual hash (pHash).

The hash survives what publishing does to an approved asset — JPEG re-compression,
resizing, a slight crop — while unrelated photos land about 32 bits apart (random bits).
:data:`NEAR_IDENTICAL_MAX_DISTANCE` is the Hamming distance up to which two images count
as the same asset; ``tests/unit/rules/test_fingerprints.py`` measures it (see there for the
numbers).
"""

from __future__ import annotations

import re

import cv2
import numpy as np
import numpy.typing as npt

from service.rules.errors import FingerprintFormatError, FingerprintInputError

HASH_SIZE = 8  # 8x8 low-frequency DCT block -> 64 bits
DCT_SIZE = 32  # the image is reduced to 32x32 before the DCT
HEX_DIGITS = HASH_SIZE * HASH_SIZE // 4
_HEX = re.compile(f"[0-9a-fA-F]{{{HEX_DIGITS}}}")

# Measured (tests/unit/rules/test_fingerprints.py repeats it) on the 61 shared scene photos:
#   JPEG re-compression q50/q75, resize 0.25x-2x ........ <= 2 bits
#   crop 1 % / 1.5 % per side (also + resize + q75) ....... <= 6 bits
#   crop 2 % per side ..................................... p95 8, max 10
#   crop 3 % / 5 % per side ............................... max 12 / max 20
#   two different photos (1,830 pairs) .................... min 18, p1 20, p5 24, mean 31
# 8 keeps re-encoding, resizing and slight (<= 1.5 %, most 2 %) crops, and leaves 10 bits to
# the closest unrelated pair seen. It errs towards fewer matches on purpose: a false
# "approved asset" match would hide a misuse, a missed one only sends an image to review.
NEAR_IDENTICAL_MAX_DISTANCE: int = 8


def perceptual_hash(bgr: npt.NDArray[np.uint8]) -> str:
    """64-bit DCT pHash of an 8-bit BGR (or grayscale/BGRA) image as 16 hex characters.

    Grayscale, area-resample to 32x32, 2-D DCT, keep the top-left 8x8 block; the median of
    its 63 AC coefficients (DC excluded) is the threshold; bit = coefficient > median, in
    row-major order, most significant bit first.
    """
    gray = _to_gray(bgr)
    small = cv2.resize(gray, (DCT_SIZE, DCT_SIZE), interpolation=cv2.INTER_AREA)
    coefficients = cv2.dct(np.asarray(small, dtype=np.float32))[:HASH_SIZE, :HASH_SIZE]
    median = float(np.median(coefficients.ravel()[1:]))
    bits = (coefficients > median).ravel()
    return bytes(np.packbits(bits)).hex()


def is_perceptual_hash(value: object) -> bool:
    """Whether ``value`` is a perceptual hash as stored: 16 hexadecimal characters."""
    return isinstance(value, str) and _HEX.fullmatch(value) is not None


def hamming_distance(a: str, b: str) -> int:
    """Number of differing bits between two perceptual hashes (0..64)."""
    return (_parse(a) ^ _parse(b)).bit_count()


def _parse(fingerprint: str) -> int:
    if not is_perceptual_hash(fingerprint):
        shown = repr(fingerprint)
        shown = shown if len(shown) <= 40 else shown[:39] + "…"
        raise FingerprintFormatError(
            f"A perceptual hash is {HEX_DIGITS} hexadecimal characters; got {shown}."
        )
    return int(fingerprint, 16)


def _to_gray(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.size == 0:
        raise FingerprintInputError(
            "The perceptual hash needs a non-empty 8-bit image array; got "
            f"{getattr(image, 'dtype', type(image).__name__)} of shape "
            f"{getattr(image, 'shape', '?')}."
        )
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] in (3, 4):
        code = cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        return np.asarray(cv2.cvtColor(np.ascontiguousarray(image), code), dtype=np.uint8)
    raise FingerprintInputError(
        f"The perceptual hash needs an HxW, HxWx3 (BGR) or HxWx4 (BGRA) image; got shape "
        f"{image.shape}.",
        shape=list(image.shape),
    )
