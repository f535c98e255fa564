"""One setting picks where bytes live."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from indexer.blobs import FolderBlobStore, open_blob_store
from indexer.blobs.s3 import S3BlobStore
from indexer.errors import TwinwatchError
from indexer.settings import IndexerSettings
from tests.support.seaweed import S3Install


def test_without_a_url_blobs_live_in_the_data_folder(tmp_path: Path) -> None:
    store = open_blob_store(IndexerSettings(data_dir=tmp_path))
    assert isinstance(store, FolderBlobStore) and store.root == tmp_path
    store.put("photos/1/a", b"a")
    assert (tmp_path / "photos" / "1" / "a").read_bytes() == b"a"  # the layout of before


def test_a_file_url_names_another_folder(tmp_path: Path) -> None:
    store = open_blob_store(
        IndexerSettings(data_dir=tmp_path / "var", blob_store_url=f"file://{tmp_path}/blobs")
    )
    assert isinstance(store, FolderBlobStore) and store.root == tmp_path / "blobs"


def test_an_s3_url_names_a_bucket_and_prefix_at_the_endpoint(s3_install: S3Install) -> None:
    settings = IndexerSettings(
        blob_store_url=s3_install.url, blob_store_endpoint_url=s3_install.server.endpoint_url
    )
    store = open_blob_store(settings)
    assert isinstance(store, S3BlobStore)
    store.put("evidence/3/x", b"x")
    assert s3_install.objects() == ["evidence/3/x"]


def test_a_missing_bucket_is_created_only_when_asked(s3_install: S3Install) -> None:
    url = f"s3://tw-created-{s3_install.prefix}/data"
    endpoint = s3_install.server.endpoint_url
    with pytest.raises(ClientError):  # SeaweedFS answers AccessDenied, AWS NoSuchBucket
        open_blob_store(IndexerSettings(blob_store_url=url, blob_store_endpoint_url=endpoint)).put(
            "photos/1/a", b"a"
        )
    created = open_blob_store(
        IndexerSettings(
            blob_store_url=url, blob_store_endpoint_url=endpoint, blob_store_create_bucket=True
        )
    )
    created.put("photos/1/a", b"a")
    assert created.get("photos/1/a") == b"a"


@pytest.mark.parametrize("url", ["ftp://host/x", "s3:///no-bucket", "gs://bucket/x"])
def test_an_unknown_url_is_refused_at_start(url: str) -> None:
    with pytest.raises(TwinwatchError, match="TWINWATCH_BLOB_STORE_URL"):
        open_blob_store(IndexerSettings(blob_store_url=url))
