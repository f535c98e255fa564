"""A portfolio image's ORB features kept beside its original in the blob store (the
*sidecar*, ``portfolio/<talent_id>/<sha256>.orb``), so that building the copy index reads
a few kilobytes per image instead of decoding and extracting the original.

The format is a fixed little-endian header, then the arrays as raw bytes (never pickle):

    magic "TWOB" | layout u16 | descriptor bytes u16 | features version u32 |
    width u32 | height u32 | points of the original u32 | points of the mirrored u32
    then, for the original and then the mirrored image: points float32 (n, 2),
    descriptors uint8 (n, descriptor bytes)

A sidecar written by another features version (:data:`FEATURES_VERSION`), of another layout,
truncated or otherwise unreadable is refused (:class:`SidecarError`): the caller extracts
the features from the original again.
"""

from __future__ import annotations

import struct

import numpy as np

from indexer.copies.features import DESCRIPTOR_BYTES, FEATURES_VERSION, Features

SUFFIX = ".orb"
MAGIC = b"TWOB"
LAYOUT = 1
_HEADER = struct.Struct("<4sHHIIIII")
_POINT_BYTES = 2 * 4  # two float32


class SidecarError(ValueError):
    """Not a sidecar this release can use (another version, truncated, not a sidecar)."""


def sidecar_path(stored_path: str) -> str:
    """The sidecar's path (relative to the area) of an original's: ``<talent>/<sha>.orb``."""
    folder, _, name = stored_path.rpartition("/")
    stem = name.split(".", 1)[0]
    return f"{folder}/{stem}{SUFFIX}" if folder else f"{stem}{SUFFIX}"


def is_sidecar(relative: str) -> bool:
    return relative.endswith(SUFFIX)


def encode(original: Features, flipped: Features, *, version: int = FEATURES_VERSION) -> bytes:
    """The sidecar bytes of an image's features (original and mirrored, same full size)."""
    parts = [
        _HEADER.pack(
            MAGIC,
            LAYOUT,
            DESCRIPTOR_BYTES,
            version,
            original.width,
            original.height,
            original.count,
            flipped.count,
        )
    ]
    for features in (original, flipped):
        parts.append(np.ascontiguousarray(features.points, dtype="<f4").tobytes())
        parts.append(np.ascontiguousarray(features.descriptors, dtype=np.uint8).tobytes())
    return b"".join(parts)


def decode(data: bytes) -> tuple[Features, Features]:
    """The features (original, mirrored); :class:`SidecarError` if they cannot be used."""
    if len(data) < _HEADER.size:
        raise SidecarError("shorter than its header")
    magic, layout, descriptor_bytes, version, width, height, n_original, n_flipped = (
        _HEADER.unpack_from(data)
    )
    if magic != MAGIC or layout != LAYOUT:
        raise SidecarError("not a portfolio features sidecar of this layout")
    if version != FEATURES_VERSION:
        raise SidecarError(f"features version {version}, not {FEATURES_VERSION}")
    if descriptor_bytes != DESCRIPTOR_BYTES:
        raise SidecarError(f"{descriptor_bytes}-byte descriptors, not {DESCRIPTOR_BYTES}")
    per_point = _POINT_BYTES + DESCRIPTOR_BYTES
    if len(data) != _HEADER.size + (n_original + n_flipped) * per_point:
        raise SidecarError("truncated or padded")
    offset = _HEADER.size
    found = []
    for count in (n_original, n_flipped):
        points = np.frombuffer(data, dtype="<f4", count=count * 2, offset=offset)
        offset += count * _POINT_BYTES
        descriptors = np.frombuffer(
            data, dtype=np.uint8, count=count * DESCRIPTOR_BYTES, offset=offset
        )
        offset += count * DESCRIPTOR_BYTES
        found.append(
            Features(
                points.astype(np.float32).reshape(-1, 2),
                descriptors.reshape(-1, DESCRIPTOR_BYTES).copy(),
                width,
                height,
            )
        )
    return found[0], found[1]
