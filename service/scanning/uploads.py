"""Reading uploads with a size limit; staging them in the blob store."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from indexer.blobs import BlobStore
from service.core.errors import PayloadTooLargeError

CHUNK = 1 << 20


async def read_upload(upload: UploadFile, *, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLargeError(
                f"{upload.filename or 'the upload'} is over the limit of {max_bytes:,} bytes.",
                max_bytes=max_bytes,
            )
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class StagedUploads:
    files: list[tuple[str, str]]  # (upload name, the blob key it waits under)
    digest: str  # sha256 over every upload's bytes, for Idempotency-Key fingerprints


async def stage_uploads(
    uploads: list[UploadFile], *, blobs: BlobStore, folder: str, max_bytes: int
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
    upload: UploadFile, path: Path, *, max_bytes: int, digest: hashlib._Hash
) -> None:
    """Copy an upload to a local scratch file (process-local, never shared), within the limit."""
    size = 0
    with path.open("wb") as handle:
        while chunk := await upload.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLargeError(
                    f"{upload.filename or 'an upload'} is over the limit of {max_bytes:,} bytes.",
                    max_bytes=max_bytes,
                )
            digest.update(chunk)
            handle.write(chunk)
