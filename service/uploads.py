"""Reading uploads with a size limit."""

from __future__ import annotations

from fastapi import UploadFile

from service.api_errors import PayloadTooLargeError

CHUNK = 1 << 20


async def read_upload(upload: UploadFile, *, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLargeError(
                f"{upload.filename or 'the upload'} is over the limit of {max_bytes:,} bytes.",
                max_bytes=max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)
