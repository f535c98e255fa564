"""An upload's bound follows what it is: a video (by its first bytes) up to the video bound,
anything else up to the image bound; reading stops at the first chunk past it."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from indexer.errors import TwinwatchError, VideoTooLargeError
from service.core.errors import PayloadTooLargeError
from service.scanning.uploads import CHUNK, UploadBounds, read_upload, spool_upload

BOUNDS = UploadBounds(image_bytes=3 * CHUNK, video_bytes=6 * CHUNK)
MP4_HEAD = b"\x00\x00\x00\x18ftypisom"
MKV_HEAD = b"\x1a\x45\xdf\xa3"
JPEG_HEAD = b"\xff\xd8\xff\xe0"


class EndlessUpload:
    """An upload that never ends (or ends after ``size`` bytes), counting what was read."""

    def __init__(self, head: bytes, size: int | None = None) -> None:
        self.filename = "upload.bin"
        self.head = head
        self.size = size
        self.sent = 0

    async def read(self, amount: int) -> bytes:
        left = amount if self.size is None else min(amount, self.size - self.sent)
        chunk = (self.head + bytes(left))[:left] if self.sent == 0 else bytes(left)
        self.sent += len(chunk)
        return chunk


def read(upload: EndlessUpload, bound: int | UploadBounds = BOUNDS) -> bytes:
    return asyncio.run(read_upload(upload, max_bytes=bound))  # type: ignore[arg-type]


@pytest.mark.parametrize("head", [MP4_HEAD, MKV_HEAD])
def test_a_video_may_pass_the_image_bound_up_to_the_video_bound(head: bytes) -> None:
    data = read(EndlessUpload(head, size=5 * CHUNK))
    assert len(data) == 5 * CHUNK and data.startswith(head)


@pytest.mark.parametrize(
    ("head", "error", "code", "bound"),
    [
        (MP4_HEAD, VideoTooLargeError, "video_too_large", 6 * CHUNK),
        (MKV_HEAD, VideoTooLargeError, "video_too_large", 6 * CHUNK),
        (JPEG_HEAD, PayloadTooLargeError, "payload_too_large", 3 * CHUNK),
        (b"", PayloadTooLargeError, "payload_too_large", 3 * CHUNK),
    ],
)
def test_an_endless_upload_is_refused_one_chunk_past_its_bound(
    head: bytes, error: type[TwinwatchError], code: str, bound: int
) -> None:
    upload = EndlessUpload(head)
    with pytest.raises(error) as caught:
        read(upload)
    assert caught.value.code == code
    assert caught.value.details["max_bytes"] == bound
    assert upload.sent == bound + CHUNK  # stopped at the first chunk over the bound


def test_a_plain_bound_applies_to_videos_too() -> None:
    with pytest.raises(PayloadTooLargeError):
        read(EndlessUpload(MP4_HEAD, size=2 * CHUNK), bound=CHUNK)


def test_staging_spools_a_video_within_the_video_bound(tmp_path: Path) -> None:
    spool, digest = tmp_path / "upload", hashlib.sha256()
    upload = EndlessUpload(MP4_HEAD, size=4 * CHUNK)
    asyncio.run(spool_upload(upload, spool, max_bytes=BOUNDS, digest=digest))  # type: ignore[arg-type]
    assert spool.stat().st_size == 4 * CHUNK
    with pytest.raises(VideoTooLargeError):
        endless = EndlessUpload(MP4_HEAD)
        asyncio.run(spool_upload(endless, spool, max_bytes=BOUNDS, digest=digest))  # type: ignore[arg-type]
    assert endless.sent == 7 * CHUNK
