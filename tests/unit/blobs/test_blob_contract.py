"""The blob-store contract, on both backends (a folder; SeaweedFS's S3 gateway)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from indexer.blobs import BlobKeyError, BlobNotFoundError, BlobStore


def test_put_then_get_returns_the_same_bytes(blobs: BlobStore) -> None:
    blobs.put("photos/7/abc", b"\x00\xffjpeg")
    assert blobs.get("photos/7/abc") == b"\x00\xffjpeg"


def test_put_replaces_what_was_under_the_key(blobs: BlobStore) -> None:
    blobs.put("evidence/1/a", b"old")
    blobs.put("evidence/1/a", b"new")
    assert blobs.get("evidence/1/a") == b"new"
    assert [info.key for info in blobs.list("evidence/")] == ["evidence/1/a"]


def test_a_missing_blob_is_not_found_and_a_file_not_found(blobs: BlobStore) -> None:
    with pytest.raises(BlobNotFoundError):
        blobs.get("photos/7/none")
    with pytest.raises(FileNotFoundError):
        blobs.open("photos/7/none")


def test_open_streams_the_bytes(blobs: BlobStore) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    blobs.put("job-uploads/b1/0.bin", data)
    with blobs.open("job-uploads/b1/0.bin") as stream:
        first = stream.read(1000)
        rest = stream.read()
    assert first + rest == data


def test_put_file_stores_a_local_file(blobs: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "upload"
    source.write_bytes(b"x" * (9 * 1024 * 1024))  # above boto3's multipart threshold
    blobs.put_file("job-uploads/b1/0.bin", source)
    assert blobs.get("job-uploads/b1/0.bin") == source.read_bytes()


def test_exists_says_whether_a_blob_is_there(blobs: BlobStore) -> None:
    assert not blobs.exists("photos/1/a")
    blobs.put("photos/1/a", b"a")
    assert blobs.exists("photos/1/a")
    assert not blobs.exists("photos/1")  # a folder is not a blob


def test_delete_removes_one_blob_and_tolerates_a_missing_one(blobs: BlobStore) -> None:
    blobs.put("photos/1/a", b"a")
    blobs.put("photos/1/b", b"b")
    blobs.delete("photos/1/a")
    blobs.delete("photos/1/a")
    assert [info.key for info in blobs.list("photos/")] == ["photos/1/b"]


def test_list_gives_the_prefix_only_in_key_order_with_sizes(blobs: BlobStore) -> None:
    for key in ["photos/10/a", "photos/1/b", "photos/1/a", "evidence/1/c", "photos-x/1/a"]:
        blobs.put(key, key.encode())
    listed = list(blobs.list("photos/1/"))
    assert [info.key for info in listed] == ["photos/1/a", "photos/1/b"]
    assert [info.size for info in listed] == [len(b"photos/1/a")] * 2
    now = datetime.now(UTC)
    assert all(
        now - timedelta(minutes=5) < info.modified <= now + timedelta(minutes=5) for info in listed
    )
    assert [info.key for info in blobs.list("photos/")] == [
        "photos/1/a",
        "photos/1/b",
        "photos/10/a",
    ]
    assert list(blobs.list("consent-documents/")) == []


def test_delete_prefix_removes_exactly_that_folder(blobs: BlobStore) -> None:
    for key in ["photos/1/a", "photos/1/b", "photos/10/a", "evidence/1/a"]:
        blobs.put(key, b"x")
    assert blobs.delete_prefix("photos/1/") == 2
    remaining = [i.key for p in ("photos/", "evidence/") for i in blobs.list(p)]
    assert remaining == ["photos/10/a", "evidence/1/a"]
    assert blobs.delete_prefix("photos/1/") == 0


def test_delete_prefix_removes_more_than_one_listing_page(blobs: BlobStore) -> None:
    for n in range(1050):  # S3 lists and deletes 1,000 keys at a time
        blobs.put(f"job-uploads/big/{n}.img", b"i")
    assert blobs.delete_prefix("job-uploads/big/") == 1050
    assert list(blobs.list("job-uploads/")) == []


@pytest.mark.parametrize("key", ["", "/etc/passwd", "photos/../../x", "photos//a", "a b", "p/./a"])
def test_keys_that_are_not_plain_relative_paths_are_refused(blobs: BlobStore, key: str) -> None:
    with pytest.raises(BlobKeyError):
        blobs.put(key, b"x")


def test_a_prefix_must_name_a_folder(blobs: BlobStore) -> None:
    with pytest.raises(BlobKeyError):
        list(blobs.list("photos"))
