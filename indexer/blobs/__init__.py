"""The blob store (:mod:`indexer.blobs.base`) and its two backends, chosen by URL:
none or ``file:///path`` → a local folder (default: the data folder), ``s3://bucket/prefix``
→ an S3-compatible store (endpoint from ``blob_store_endpoint_url``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from indexer.blobs.base import (
    BlobInfo,
    BlobKeyError,
    BlobNotFoundError,
    BlobStore,
    check_key,
    check_prefix,
)
from indexer.blobs.folder import FolderBlobStore
from indexer.errors import ErrorCategory, TwinwatchError
from indexer.settings import IndexerSettings

__all__ = [
    "BlobInfo",
    "BlobKeyError",
    "BlobNotFoundError",
    "BlobStore",
    "FolderBlobStore",
    "check_key",
    "check_prefix",
    "open_blob_store",
]


class BlobStoreUrlError(TwinwatchError, ValueError):
    code = "invalid_blob_store_url"
    category = ErrorCategory.INVALID


def open_blob_store(settings: IndexerSettings) -> BlobStore:
    """The backend the settings name (the one place a process picks where bytes live)."""
    url = settings.blob_store_url
    if not url:
        return FolderBlobStore(settings.data_dir)
    parts = urlsplit(url)
    if parts.scheme == "file":
        return FolderBlobStore(Path(unquote(parts.path)))
    if parts.scheme == "s3" and parts.netloc:
        from indexer.blobs.s3 import S3BlobStore  # boto3 only where S3 is used

        store = S3BlobStore(
            bucket=parts.netloc,
            prefix=parts.path,
            endpoint_url=settings.blob_store_endpoint_url,
            region=settings.blob_store_region,
        )
        if settings.blob_store_create_bucket:
            store.ensure_bucket()
        return store
    raise BlobStoreUrlError(
        f"TWINWATCH_BLOB_STORE_URL must be file:///path or s3://bucket/prefix, not {url!r}."
    )
