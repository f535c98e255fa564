"""An upload's bound follows what it is: a video (by its first bytes) up to the video bound,
anything else up to the image bound; reading stops at the first chunk past it."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import tracemalloc
from pathlib import Path
from typing import BinaryIO, cast

import pytest
from fastapi import UploadFile

from indexer.errors import TwinwatchError, VideoTooLargeError
from indexer.formats import VIDEO_SIGNATURE_BYTES
from service.core.errors import PayloadTooLargeError
from service.scanning.uploads import CHUNK, UploadBounds, read_upload, spool_upload

BOUNDS = UploadBounds(image_bytes=3 * CHUNK, video_bytes=6 * CHUNK)
MP4_HEAD = b"\x00\x00\x00\x18ftypisom"
MKV_HEAD = b"\x1a\x45\xdf\xa3"
JPEG_HEAD = b"\xff\xd8\xff\xe0"


class EndlessUpload:
    """An upload that never ends (or ends after ``size`` bytes), counting what was read; its
    declared size is known (as Starlette's multipart parser knows it) unless it is endless
    or ``declared`` is False."""

    def __init__(self, head: bytes, size: int | None = None, *, declared: bool = True) -> None:
        self.filename = "upload.bin"
        self.head = head
        self.length = size
        self.size = size if declared else None
        self.position = 0
        self.sent = 0

    async def read(self, amount: int = -1) -> bytes:
        if amount < 0:
            assert self.length is not None, "a read to the end of an endless upload"
            amount = self.length - self.position
        left = amount if self.length is None else max(0, min(amount, self.length - self.position))
        chunk = (self.head[self.position :] + bytes(left))[:left]
        self.position += left
        self.sent += left
        return chunk

    async def seek(self, offset: int) -> None:
        self.position = offset


def read(upload: EndlessUpload, bound: int | UploadBounds = BOUNDS) -> bytes:
    return asyncio.run(read_upload(upload, max_bytes=bound))  # type: ignore[arg-type]


@pytest.mark.parametrize("declared", [True, False], ids=["form part", "size unknown"])
@pytest.mark.parametrize("head", [MP4_HEAD, MKV_HEAD])
def test_a_video_may_pass_the_image_bound_up_to_the_video_bound(
    head: bytes, declared: bool
) -> None:
    data = read(EndlessUpload(head, size=5 * CHUNK, declared=declared))
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
    assert upload.sent == VIDEO_SIGNATURE_BYTES + bound  # its head, then chunks to the first past


@pytest.mark.parametrize("head", [MP4_HEAD, JPEG_HEAD])
def test_an_upload_is_held_in_memory_once_not_as_chunks_and_their_join(
    head: bytes, tmp_path: Path
) -> None:
    """Starlette's own UploadFile over a spooled file (on disk past 1 MiB), as a request
    hands it over; the peak is traced around the read alone (inside the event loop)."""
    size = 2 * CHUNK + 7
    spooled = tempfile.SpooledTemporaryFile(max_size=CHUNK, dir=str(tmp_path))  # noqa: SIM115
    spooled.write(head + bytes(size - len(head)))
    spooled.seek(0)
    upload = UploadFile(cast(BinaryIO, spooled), size=size, filename="clip.mp4")

    async def traced() -> tuple[bytes, int]:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        data = await read_upload(upload, max_bytes=BOUNDS)
        return data, tracemalloc.get_traced_memory()[1] - before

    tracing = tracemalloc.is_tracing()  # pytest may trace already (ResourceWarnings)
    tracemalloc.start()
    try:
        data, grown = asyncio.run(traced())
    finally:
        if not tracing:
            tracemalloc.stop()
        spooled.close()
    assert len(data) == size and data.startswith(head)
    assert grown < 1.25 * size, f"peak {grown / size:.2f}x the upload"


def test_a_form_part_over_its_bound_is_refused_unread() -> None:
    upload = EndlessUpload(MP4_HEAD, size=7 * CHUNK)
    with pytest.raises(VideoTooLargeError):
        read(upload)
    assert upload.sent == VIDEO_SIGNATURE_BYTES
    with pytest.raises(PayloadTooLargeError):
        read(EndlessUpload(JPEG_HEAD, size=3 * CHUNK + 1))


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
