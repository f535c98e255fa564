"""The blob store: the one owner of every byte that is not a database row (staged uploads,
reference photos, alert evidence, consent documents).

Keys are relative, ``/``-separated paths (``photos/<talent_id>/<sha256>``,
``evidence/<talent_id>/<alert_id>-<sha256>``, ``job-uploads/<batch>/<n>.bin``, ...): the
folder backend keeps them as files under the data folder (the layout of earlier releases),
the S3 backend as objects under a bucket prefix. A ``put`` returns only once the bytes are
durable, so a database row that names a key is committed after its bytes exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from indexer.errors import ErrorCategory, TwinwatchError

_KEY = re.compile(r"^[A-Za-z0-9_.=-]+(/[A-Za-z0-9_.=-]+)*$")


class BlobNotFoundError(TwinwatchError, FileNotFoundError):
    """No blob under this key."""

    code = "blob_not_found"
    category = ErrorCategory.NOT_FOUND


class BlobKeyError(TwinwatchError, ValueError):
    """A key that is not a plain relative path (empty parts, ``..``, odd characters)."""

    code = "invalid_blob_key"
    category = ErrorCategory.INVALID


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    modified: datetime  # timezone-aware (UTC)


def check_key(key: str) -> str:
    """The key itself, or :class:`BlobKeyError` (never a path out of the store)."""
    if not _KEY.match(key) or any(part in {".", ".."} for part in key.split("/")):
        raise BlobKeyError(f"Not a blob key: {key[:200]!r}.")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: a key followed by ``/`` (a folder), never empty."""
    if not prefix.endswith("/"):
        raise BlobKeyError(f"A blob prefix ends with '/': {prefix[:200]!r}.")
    check_key(prefix[:-1])
    return prefix


class BlobStore(Protocol):
    """What every backend does; :func:`indexer.blobs.open_blob_store` picks one."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` durably under ``key`` (replacing what was there)."""

    def put_file(self, key: str, source: Path) -> None:
        """Store a local file's bytes durably under ``key`` (streamed, never all in memory)."""

    def get(self, key: str) -> bytes:
        """The blob's bytes; :class:`BlobNotFoundError` if there is none."""

    def open(self, key: str) -> BinaryIO:
        """A stream of the blob's bytes (close it); :class:`BlobNotFoundError` if none."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the blob (no error if there is none)."""

    def delete_prefix(self, prefix: str) -> int:
        """Remove every blob under ``prefix`` (ending in ``/``); returns how many went."""

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        """Every blob under ``prefix`` (ending in ``/``), in key order."""

    def describe(self) -> str:
        """Where the bytes live, for logs and the admin's status page."""
