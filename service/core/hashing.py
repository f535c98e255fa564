"""A fingerprint of a request: what makes two submissions the same (Idempotency-Key)."""

from __future__ import annotations

import hashlib


def fingerprint(*parts: bytes | str | None) -> str:
    """A hash of everything that makes up a request (fields and uploaded bytes)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else (part or b"")
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()
