"""Reading uploads with a size limit; staging them in the blob store.

A scanned file's bound depends on what it is (:class:`UploadBounds`): a video (told by its
first bytes, ``indexer.formats.looks_like_video``) may be up to ``video_max_bytes``, any
other file up to ``max_upload_bytes``. No upload is held (or spooled) beyond its bound."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from indexer.blobs import BlobStore
from indexer.errors import TwinwatchError, VideoTooLargeError
from indexer.formats import VIDEO_SIGNATURE_BYTES, looks_like_video, size_bound
from service.core.errors import PayloadTooLargeError
from service.core.settings import ServiceSettings

CHUNK = 1 << 20


@dataclass(frozen=True)
class UploadBounds:
    """Largest accepted file: ``video_bytes`` for a video, ``image_bytes`` for anything else."""

    image_bytes: int
    video_bytes: int

    @classmethod
    def of(cls, settings: ServiceSettings) -> UploadBounds:
        return cls(image_bytes=settings.max_upload_bytes, video_bytes=settings.video_max_bytes)


class _Meter:
    """Counts an upload's bytes and refuses it at the first chunk over its bound (a plain
    ``int`` bound for any file, or :class:`UploadBounds` chosen by the first bytes)."""

    def __init__(self, name: str, bound: int | UploadBounds) -> None:
        self.name = name
        self.bound = bound
        self.size = 0
        self.head = b""
        self.video: bool | None = None if isinstance(bound, UploadBounds) else False

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.video is None and len(self.head) < VIDEO_SIGNATURE_BYTES:
            self.head += chunk[: VIDEO_SIGNATURE_BYTES - len(self.head)]
        if self.size > self._limit(settled=False):
            raise self._refusal()

    def finish(self) -> None:
        if self.size > self._limit(settled=True):
            raise self._refusal()

    def _limit(self, *, settled: bool) -> int:
        bound = self.bound
        if isinstance(bound, int):
            return bound
        if self.video is None and (len(self.head) >= VIDEO_SIGNATURE_BYTES or settled):
            self.video = looks_like_video(self.head)
        return size_bound(
            image_bytes=bound.image_bytes, video_bytes=bound.video_bytes, video=self.video
        )

    def _refusal(self) -> TwinwatchError:
        limit = self._limit(settled=True)
        if self.video:
            return VideoTooLargeError(
                f"{self.name} is a video over the limit of {limit:,} bytes.", max_bytes=limit
            )
        return PayloadTooLargeError(
            f"{self.name} is over the limit of {limit:,} bytes.", max_bytes=limit
        )


async def read_upload(upload: UploadFile, *, max_bytes: int | UploadBounds) -> bytes:
    """The upload's bytes, refused (413: ``payload_too_large``, or ``video_too_large`` for a
    video under :class:`UploadBounds`) when they pass the bound, which its first bytes
    choose. A form part (its size known) over the bound is refused unread; else it is read
    again from the start in one read: one copy in memory, not chunks and their join (a
    512 MiB video peaked at twice its size). An upload of unknown size is read in chunks
    and refused at the first one past the bound."""
    meter = _Meter(upload.filename or "the upload", max_bytes)
    head = await upload.read(VIDEO_SIGNATURE_BYTES)
    meter.add(head)
    if upload.size is None:
        return await _read_chunks(upload, meter, head)
    meter.size = upload.size
    meter.finish()
    await upload.seek(0)
    data = await upload.read(upload.size)
    meter.size = len(data)
    meter.finish()
    return data


async def _read_chunks(upload: UploadFile, meter: _Meter, head: bytes) -> bytes:
    chunks = [head]
    while chunk := await upload.read(CHUNK):
        meter.add(chunk)
        chunks.append(chunk)
    meter.finish()
    return b"".join(chunks)


@dataclass(frozen=True)
class StagedUploads:
    files: list[tuple[str, str]]  # (upload name, the blob key it waits under)
    digest: str  # sha256 over every upload's bytes, for Idempotency-Key fingerprints


async def stage_uploads(
    uploads: list[UploadFile], *, blobs: BlobStore, folder: str, max_bytes: int | UploadBounds
) -> StagedUploads:
    """Store each upload as its own blob under ``folder`` (a prefix ending in ``/``): each is
    spooled to a local temp file (never all in memory), then put durably. On any failure the
    folder's blobs are deleted."""
    digest = hashlib.sha256()
    staged: list[tuple[str, str]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="twinwatch-upload-") as scratch:
            spool = Path(scratch) / "upload"
            for position, upload in enumerate(uploads):
                await spool_upload(upload, spool, max_bytes=max_bytes, digest=digest)
                key = f"{folder}{position}.bin"
                await run_in_threadpool(blobs.put_file, key, spool)
                staged.append((upload.filename or f"upload-{position}", key))
    except BaseException:
        await run_in_threadpool(blobs.delete_prefix, folder)
        raise
    return StagedUploads(staged, digest.hexdigest())


async def spool_upload(
    upload: UploadFile, path: Path, *, max_bytes: int | UploadBounds, digest: hashlib._Hash
) -> None:
    """Copy an upload to a local scratch file (process-local, never shared), within the limit."""
    meter = _Meter(upload.filename or "an upload", max_bytes)
    with path.open("wb") as handle:
        while chunk := await upload.read(CHUNK):
            meter.add(chunk)
            digest.update(chunk)
            handle.write(chunk)
    meter.finish()
