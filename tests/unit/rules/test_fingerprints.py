"""Perceptual hash: definition, robustness to publishing edits, and the near-identical cut-off.

The cut-off experiment runs on photo-like images generated here and, when present, on the
shared scene photos (read in place, never copied).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from scipy.fft import dctn

from service.rules.errors import FingerprintFormatError, FingerprintInputError
from service.rules.fingerprints import (
    NEAR_IDENTICAL_MAX_DISTANCE,
    hamming_distance,
    perceptual_hash,
)

Bgr = npt.NDArray[np.uint8]
Edit = Callable[[Bgr], Bgr]


def photo_like(seed: int, *, height: int = 480, width: int = 640) -> Bgr:
    """A photo-like scene: smooth multi-scale colour noise with a few solid shapes."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width, 3), 128.0, np.float32)
    for scale, amplitude in ((8, 90.0), (32, 50.0), (128, 25.0)):
        noise = rng.normal(size=(height // scale + 2, width // scale + 2, 3)).astype(np.float32)
        img += amplitude * cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(6):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(img, centre, int(rng.integers(20, 120)), colour, -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def recompress(img: Bgr, quality: int) -> Bgr:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), dtype=np.uint8)


def resize(img: Bgr, factor: float) -> Bgr:
    method = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    return np.asarray(
        cv2.resize(img, None, fx=factor, fy=factor, interpolation=method), dtype=np.uint8
    )


def crop(img: Bgr, fraction: float) -> Bgr:
    """Cut ``fraction`` of the height/width off every side."""
    h, w = img.shape[:2]
    dy, dx = round(h * fraction), round(w * fraction)
    return img[dy : h - dy, dx : w - dx]


KEEPING_EDITS: dict[str, Edit] = {  # must stay within the cut-off, always
    "jpeg q50": lambda i: recompress(i, 50),
    "jpeg q75": lambda i: recompress(i, 75),
    "resize 0.5x": lambda i: resize(i, 0.5),
    "resize 0.25x": lambda i: resize(i, 0.25),
    "resize 2x": lambda i: resize(i, 2.0),
}
SLIGHT_CROPS: dict[str, Edit] = {  # must stay within the cut-off for nearly every image
    "crop 1%": lambda i: crop(i, 0.01),
    "crop 1.5% + 0.5x + q75": lambda i: recompress(resize(crop(i, 0.015), 0.5), 75),
}


def distances(images: list[Bgr], edit: Edit) -> list[int]:
    return [hamming_distance(perceptual_hash(img), perceptual_hash(edit(img))) for img in images]


def pair_distances(images: list[Bgr]) -> list[int]:
    hashes = [perceptual_hash(img) for img in images]
    return [hamming_distance(a, b) for a, b in itertools.combinations(hashes, 2)]


def reference_phash(bgr: Bgr) -> str:
    """The pHash definition written out independently (scipy's orthonormal DCT-II)."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float64)
    block = dctn(small, type=2, norm="ortho")[:8, :8].ravel()
    median = np.median(block[1:])
    return "".join("1" if c > median else "0" for c in block)


# --- the definition -------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_hash_follows_the_dct_phash_definition(seed: int) -> None:
    img = photo_like(seed)
    digest = perceptual_hash(img)
    assert len(digest) == 16 and digest == digest.lower()
    assert f"{int(digest, 16):064b}" == reference_phash(img)


def test_hash_is_deterministic_and_differs_between_images() -> None:
    assert perceptual_hash(photo_like(7)) == perceptual_hash(photo_like(7))
    assert perceptual_hash(photo_like(7)) != perceptual_hash(photo_like(8))


def test_grayscale_bgr_and_bgra_inputs_of_one_picture_hash_alike() -> None:
    gray = cv2.cvtColor(photo_like(3), cv2.COLOR_BGR2GRAY)
    bgr = np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    bgra = np.dstack([bgr, np.full(gray.shape, 255, np.uint8)])
    assert perceptual_hash(gray) == perceptual_hash(bgr) == perceptual_hash(bgra)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((10, 10, 5), np.uint8),
        np.zeros((2, 10, 10, 3), np.uint8),
    ],
)
def test_hash_refuses_arrays_that_are_not_8_bit_images(bad: npt.NDArray[np.generic]) -> None:
    with pytest.raises(FingerprintInputError) as info:
        perceptual_hash(bad)  # type: ignore[arg-type]
    assert info.value.code == "fingerprint_input_invalid"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("0000000000000000", "0000000000000000", 0),
        ("0000000000000000", "ffffffffffffffff", 64),
        ("8000000000000000", "0000000000000000", 1),
        ("00000000000000ff", "000000000000000f", 4),
        ("AbCdEf0123456789", "abcdef0123456789", 0),
    ],
)
def test_hamming_distance_counts_differing_bits(a: str, b: str, expected: int) -> None:
    assert hamming_distance(a, b) == expected == hamming_distance(b, a)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "0" * 15,
        "0" * 17,
        "0x" + "0" * 14,
        "g" * 16,
        "+" + "0" * 15,
        " " + "0" * 15,
        "0" * 8 + "_" + "0" * 7,
    ],
)
def test_hamming_distance_refuses_malformed_hashes(bad: str) -> None:
    with pytest.raises(FingerprintFormatError):
        hamming_distance(bad, "0" * 16)


# --- robustness on one image ----------------------------------------------------------------
@pytest.mark.parametrize("edit", [*KEEPING_EDITS, *SLIGHT_CROPS])
def test_publishing_edits_of_one_image_stay_near_identical(edit: str) -> None:
    img = photo_like(0)
    edited = {**KEEPING_EDITS, **SLIGHT_CROPS}[edit](img)
    distance = hamming_distance(perceptual_hash(img), perceptual_hash(edited))
    assert distance <= NEAR_IDENTICAL_MAX_DISTANCE, f"{edit}: {distance} bits"


def test_a_heavy_crop_is_no_longer_near_identical() -> None:
    """The cut-off is not so loose that a different framing of the scene still matches."""
    img = photo_like(0)
    distance = hamming_distance(perceptual_hash(img), perceptual_hash(crop(img, 0.15)))
    assert distance > NEAR_IDENTICAL_MAX_DISTANCE


def test_two_different_images_are_far_apart() -> None:
    assert hamming_distance(perceptual_hash(photo_like(0)), perceptual_hash(photo_like(1))) > 20


# --- the cut-off experiment -----------------------------------------------------------------
def check_cutoff(images: list[Bgr]) -> None:
    """Every re-encode/resize within the cut-off; slight crops nearly always; different images
    always beyond it and, 95 % of the time, more than 20 bits apart."""
    for name, edit in KEEPING_EDITS.items():
        found = distances(images, edit)
        assert max(found) <= NEAR_IDENTICAL_MAX_DISTANCE, f"{name}: {sorted(found)}"
    for name, edit in SLIGHT_CROPS.items():
        found = distances(images, edit)
        kept = sum(d <= NEAR_IDENTICAL_MAX_DISTANCE for d in found) / len(found)
        assert kept >= 0.9, f"{name}: {sorted(found)}"
    apart = pair_distances(images)
    assert min(apart) > NEAR_IDENTICAL_MAX_DISTANCE + 4, sorted(apart)[:10]
    assert np.percentile(apart, 5) > 20, sorted(apart)[:20]


def test_cutoff_separates_edits_from_different_generated_images() -> None:
    check_cutoff([photo_like(seed, height=360, width=480) for seed in range(100, 124)])


@pytest.mark.shared_faces
def test_cutoff_separates_edits_from_different_shared_photos(shared_faces: Path) -> None:
    paths = sorted((shared_faces / "scenes").glob("*/*.jpg"))
    if len(paths) < 10:
        pytest.skip(f"fewer than 10 scene photos under {shared_faces / 'scenes'}")
    check_cutoff(
        [
            at_most(
                1280, np.asarray(cv2.imread(str(p), cv2.IMREAD_REDUCED_COLOR_2), dtype=np.uint8)
            )
            for p in paths
        ]
    )


def at_most(side: int, img: Bgr) -> Bgr:
    """Shrink to a web-typical size (the scenes go up to 4600 px: slow to decode and edit)."""
    scale = side / max(img.shape[:2])
    return img if scale >= 1 else resize(img, scale)
