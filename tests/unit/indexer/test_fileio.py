"""The one owner of durable writes and file hashing."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indexer import fileio


@given(st.binary(max_size=3 * fileio.CHUNK // 2))
def test_sha256_file_matches_hashing_the_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.bin"
        path.write_bytes(data)
        assert fileio.sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_a_failed_check_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    target.write_bytes(b"old")

    def refuse(path: Path) -> None:
        raise ValueError(f"{path.name} does not validate")

    with pytest.raises(ValueError, match="does not validate"):
        fileio.write_with(target, lambda handle: handle.write(b"new"), check=refuse)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_write_durably_replaces_the_file_and_syncs_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    original = fileio.fsync_dir

    def recording(path: Path) -> None:
        synced.append(path)
        original(path)

    monkeypatch.setattr(fileio, "fsync_dir", recording)
    target = tmp_path / "a.json"
    fileio.write_durably(target, b"one")
    fileio.write_durably(target, b"two")
    assert target.read_bytes() == b"two"
    assert synced == [tmp_path, tmp_path]
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_rename_durably_syncs_both_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[Path] = []
    monkeypatch.setattr(fileio, "fsync_dir", synced.append)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "photo").mkdir()
    fileio.rename_durably(tmp_path / "a" / "photo", tmp_path / "b" / "photo")
    assert (tmp_path / "b" / "photo").is_dir() and not (tmp_path / "a" / "photo").exists()
    assert synced == [tmp_path / "b", tmp_path / "a"]
