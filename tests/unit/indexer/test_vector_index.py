from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.vector_index import (
    IndexFiles,
    VectorIndex,
    updated_checksum,
    vectors_checksum,
)


def unit_vectors(count: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dim)).astype(np.float32)
    normalised: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return normalised


@pytest.mark.parametrize("approximate_min", [1_000_000, 100])
def test_search_finds_each_vector_as_its_own_nearest(approximate_min: int) -> None:
    vectors = unit_vectors(500)
    ids = np.arange(1000, 1500, dtype=np.int64)
    index = VectorIndex.build(ids, vectors, dim=32, approximate_min=approximate_min, nprobe=64)
    assert index.kind == ("flat" if approximate_min > 500 else "ivf")
    sims, found = index.search(vectors[:50], 3)
    assert (found[:, 0] == ids[:50]).all()
    assert np.allclose(sims[:, 0], 1.0, atol=1e-5)


@pytest.mark.parametrize("approximate_min", [1_000_000, 100])
def test_contents_read_back_every_vector_bit_for_bit(approximate_min: int) -> None:
    vectors = unit_vectors(300)
    ids = np.arange(300, dtype=np.int64) * 7
    index = VectorIndex.build(ids, vectors, dim=32, approximate_min=approximate_min, nprobe=8)
    got_ids, got_vectors = index.contents()
    order = np.argsort(got_ids)
    assert (got_ids[order] == ids).all()
    assert np.array_equal(got_vectors[order], vectors)


@pytest.mark.parametrize("approximate_min", [1_000_000, 100])
def test_removed_ids_are_never_returned(approximate_min: int) -> None:
    vectors = unit_vectors(400)
    ids = np.arange(400, dtype=np.int64)
    index = VectorIndex.build(ids, vectors, dim=32, approximate_min=approximate_min, nprobe=64)
    assert index.remove(ids[:10]) == 10
    _, found = index.search(vectors[:10], 5)
    assert not np.isin(found, ids[:10]).any()
    assert index.count == 390


def test_checksum_is_order_independent_and_incremental() -> None:
    vectors = unit_vectors(20)
    ids = np.arange(20, dtype=np.int64)
    full = vectors_checksum(ids, vectors)
    assert vectors_checksum(ids[::-1], vectors[::-1]) == full
    partial = vectors_checksum(ids[:15], vectors[:15])
    assert updated_checksum(partial, added=(ids[15:], vectors[15:])) == full
    assert updated_checksum(full, removed=(ids[15:], vectors[15:])) == partial
    tampered = vectors.copy()
    tampered[3, 0] += 1e-6
    assert vectors_checksum(ids, tampered) != full


def test_saved_index_loads_back_identically(tmp_path: Path) -> None:
    vectors = unit_vectors(50)
    ids = np.arange(50, dtype=np.int64)
    index = VectorIndex.build(ids, vectors, dim=32, approximate_min=10**6, nprobe=1)
    files = IndexFiles(tmp_path, "pack")
    manifest = files.save(
        index, pack_version="1", revision=3, checksum=vectors_checksum(ids, vectors)
    )
    assert manifest.count == 50 and manifest.revision == 3
    loaded = files.load(files.read_manifest() or manifest, nprobe=1)
    got_ids, got_vectors = loaded.contents()
    assert vectors_checksum(got_ids, got_vectors) == manifest.vectors_checksum
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_corrupted_index_file_is_detected(tmp_path: Path) -> None:
    vectors = unit_vectors(50)
    ids = np.arange(50, dtype=np.int64)
    index = VectorIndex.build(ids, vectors, dim=32, approximate_min=10**6, nprobe=1)
    files = IndexFiles(tmp_path, "pack")
    manifest = files.save(
        index, pack_version="1", revision=1, checksum=vectors_checksum(ids, vectors)
    )
    path = tmp_path / manifest.index_file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        files.load(manifest, nprobe=1)


def test_an_older_snapshot_file_is_removed_on_save(tmp_path: Path) -> None:
    vectors = unit_vectors(5)
    ids = np.arange(5, dtype=np.int64)
    index = VectorIndex.build(ids, vectors, dim=32, approximate_min=10**6, nprobe=1)
    files = IndexFiles(tmp_path, "pack")
    files.save(index, pack_version="1", revision=1, checksum="0" * 32)
    second = files.save(index, pack_version="1", revision=2, checksum="0" * 32)
    assert sorted(p.name for p in tmp_path.glob("*.faiss")) == [second.index_file]


@pytest.mark.parametrize("approximate_min", [10**6, 100])
def test_an_emptied_index_reads_back_as_empty(approximate_min: int) -> None:
    vectors = unit_vectors(200)
    ids = np.arange(200, dtype=np.int64)
    index = VectorIndex.build(ids, vectors, dim=32, approximate_min=approximate_min, nprobe=8)
    index.remove(ids)
    got_ids, got_vectors = index.contents()
    assert got_ids.shape == (0,) and got_vectors.shape == (0, 32)
    assert vectors_checksum(got_ids, got_vectors) == vectors_checksum(ids[:0], vectors[:0])
