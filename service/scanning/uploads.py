"""Reading uploads with a size limit."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from fastapi import UploadFile

from indexer.fileio import fsync_dir, fsync_handle
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
    files: list[tuple[str, Path]]  # (upload name, where it waits on disk)
    digest: str  # sha256 over every upload's bytes, for Idempotency-Key fingerprints


async def stage_uploads(
    uploads: list[UploadFile], *, folder: Path, max_bytes: int
) -> StagedUploads:
    """Stream each upload to its own file in ``folder`` (never all of them in memory)."""
    digest = hashlib.sha256()
    staged: list[tuple[str, Path]] = []
    try:
        for position, upload in enumerate(uploads):
            if not staged:
                folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{position}.bin"
            await _stream_to(upload, path, max_bytes=max_bytes, digest=digest)
            staged.append((upload.filename or f"upload-{position}", path))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return StagedUploads(staged, digest.hexdigest())


async def _stream_to(
    upload: UploadFile, path: Path, *, max_bytes: int, digest: hashlib._Hash
) -> None:
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
        fsync_handle(handle)
    fsync_dir(path.parent)
