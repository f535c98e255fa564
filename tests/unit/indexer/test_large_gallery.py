"""Large galleries: the IVF-PQ index with exact re-rank, its files, the background build
that swaps in while scans go on, and incremental catch-up between processes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pytest

from indexer.db import Database
from indexer.index_manager import IndexManager
from indexer.photos import reference_photos
from indexer.registry import PhotoInput, Registry
from indexer.settings import IndexerSettings
from indexer.vector_index import IndexFiles, PqParams, VectorIndex, vectors_checksum
from tests.conftest import make_settings
from tests.support.fakes import FakeAnalyser, face_photo, identity_vector

PARAMS = PqParams(lists=4, subquantizers=8, rerank=32)


def unit_vectors(count: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dim)).astype(np.float32)
    normalised: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return normalised


def pq_index(tmp_path: Path, ids: np.ndarray, vectors: np.ndarray) -> VectorIndex:
    return VectorIndex.build_pq(
        vectors,
        iter([(ids, vectors)]),
        dim=vectors.shape[1],
        params=PARAMS,
        nprobe=4,
        store_path=tmp_path / "store.f32",
    )


# --- the index -------------------------------------------------------------------------------
def test_ivfpq_orders_candidates_by_their_exact_similarity(tmp_path: Path) -> None:
    vectors = unit_vectors(2000)
    ids = np.arange(5000, 7000, dtype=np.int64)
    index = pq_index(tmp_path, ids, vectors)
    sims, found = index.search(vectors[:50], 5)
    assert index.kind == "ivfpq"
    assert (found[:, 0] == ids[:50]).all()
    assert np.allclose(sims[:, 0], 1.0, atol=1e-6)  # exact, not the PQ estimate
    expected = np.einsum("ij,ikj->ik", vectors[:50], vectors[found - 5000])
    assert np.allclose(sims, expected, atol=1e-6)
    assert (np.diff(sims, axis=1) <= 0).all()


def test_ivfpq_reads_back_exact_vectors_and_erases_removed_rows(tmp_path: Path) -> None:
    vectors = unit_vectors(1000)
    ids = np.arange(1000, dtype=np.int64) * 3
    index = pq_index(tmp_path, ids, vectors)
    got_ids, got_vectors = index.contents()
    assert (got_ids == ids).all() and np.array_equal(got_vectors, vectors)

    assert index.remove(ids[:10]) == 10
    _, found = index.search(vectors[:10], 5)
    assert not np.isin(found, ids[:10]).any()
    assert index.count == 990 and len(index.ids()) == 990
    on_disk = np.fromfile(tmp_path / "store.f32", dtype="<f4").reshape(-1, 32)
    assert not on_disk[:10].any()  # erased from the file, not only forgotten


def test_ivfpq_takes_new_vectors_without_a_rebuild(tmp_path: Path) -> None:
    vectors = unit_vectors(1100)
    index = pq_index(tmp_path, np.arange(1000, dtype=np.int64), vectors[:1000])
    index.add(np.arange(1000, 1100, dtype=np.int64), vectors[1000:])
    _, found = index.search(vectors[1000:], 1)
    assert (found[:, 0] == np.arange(1000, 1100)).all()


def test_ivfpq_files_round_trip_with_their_exact_store(tmp_path: Path) -> None:
    files = IndexFiles(tmp_path / "index", "pack")
    vectors = unit_vectors(1000)
    ids = np.arange(1000, dtype=np.int64)
    index = VectorIndex.build_pq(
        vectors,
        iter([(ids[:900], vectors[:900])]),
        dim=32,
        params=PARAMS,
        nprobe=4,
        store_path=files.new_store_path(),
    )
    files.save(index, pack_version="1", revision=1, checksum="x")
    index.add(ids[900:], vectors[900:])
    files.save(index, pack_version="1", revision=2, checksum="y")
    manifest = files.read_manifest()
    assert manifest is not None and manifest.kind == "ivfpq" and manifest.store_file

    loaded = files.load(manifest, nprobe=4, rerank=32)
    assert loaded.count == 1000
    assert vectors_checksum(*loaded.contents()) == vectors_checksum(ids, vectors)
    assert (loaded.search(vectors, 1)[1][:, 0] == ids).all()
    names = sorted(p.name for p in files.directory.iterdir())
    assert len([n for n in names if n.endswith(".faiss")]) == 1  # revision 1's file is gone
    assert len([n for n in names if n.endswith(".f32")]) == 1
    assert not [n for n in names if n.startswith(".")]


def test_index_kind_follows_gallery_size_and_shrinks_only_below_half(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, index_approximate_min_vectors=100, index_pq_min_vectors=1000)
    assert [settings.index_kind_for(n) for n in (99, 100, 999, 1000)] == [
        "flat",
        "ivf",
        "ivf",
        "ivfpq",
    ]
    assert settings.index_kind_for(500, "ivfpq") == "ivfpq"
    assert settings.index_kind_for(499, "ivfpq") == "ivf"
    assert settings.index_kind_for(50, "ivf") == "ivf"
    assert settings.index_kind_for(49, "ivf") == "flat"


# --- the manager -----------------------------------------------------------------------------
TALENTS = 24  # PQ training needs at least 16 vectors (4-bit codes)


def pq_settings(base: IndexerSettings, data_dir: Path | None = None) -> IndexerSettings:
    return base.model_copy(
        update={
            "data_dir": data_dir or base.data_dir,
            "database_url": base.resolved_database_url(),
            "index_pq_min_vectors": TALENTS,
            "index_pq_lists": 2,
            "index_pq_subquantizers": 4,
            "index_pq_nprobe": 2,
            "index_pq_rerank": 16,
        }
    )


def enrol(registry: Registry, identities: range) -> None:
    agency = registry.ensure_agency(name="Agency")
    for identity in identities:
        talent = registry.create_talent(agency_id=agency.id, name=f"T{identity}")
        photo = PhotoInput(f"{identity}.png", face_photo([(identity, 100)]))
        [outcome] = registry.enrol_photos(talent_id=talent.id, photos=[photo])
        assert outcome.accepted, outcome


def best_talent(manager: IndexManager, identity: int) -> str:
    [hits] = manager.search(identity_vector(identity)[None], top_talents=1)
    return hits[0].talent.name


@pytest.fixture
def pq_registry(db: Database, settings: IndexerSettings) -> Registry:
    analyser, large = FakeAnalyser(), pq_settings(settings)
    registry = Registry(
        db=db,
        analyser=analyser,
        index=IndexManager(db=db, pack=analyser.pack, settings=large),
        photos=reference_photos(large),
        settings=large,
    )
    registry.recover()
    return registry


class BlockedBuild:
    """Holds ``VectorIndex.build_pq`` until released, so a test can act during a build."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        real = VectorIndex.build_pq

        def blocked(*args: Any, **kwargs: Any) -> VectorIndex:
            self.started.set()
            assert self.release.wait(30)
            return real(*args, **kwargs)

        monkeypatch.setattr(VectorIndex, "build_pq", blocked)


@pytest.fixture
def blocked_build(monkeypatch: pytest.MonkeyPatch) -> Iterator[BlockedBuild]:
    build = BlockedBuild(monkeypatch)
    yield build
    build.release.set()


def test_scans_during_a_background_build_answer_from_the_old_index_until_the_swap(
    pq_registry: Registry, blocked_build: BlockedBuild
) -> None:
    manager = pq_registry.index
    enrol(pq_registry, range(100, 100 + TALENTS - 1))  # one short of the PQ size: exact
    assert manager.stats()["kind"] == "flat"

    enrol(pq_registry, range(200, 201))  # reaches it: a build starts in the background
    assert blocked_build.started.wait(30)
    for identity in (100, 110, 200):  # the old index answers, whole, while the build waits
        assert manager.stats()["kind"] == "flat"
        assert best_talent(manager, identity) == f"T{identity}"
    blocked_build.release.set()
    [build] = [t for t in threading.enumerate() if t.name.startswith("index-build-")]
    build.join(30)

    assert manager.stats()["kind"] == "ivfpq"
    assert [best_talent(manager, i) for i in (100, 110, 200)] == ["T100", "T110", "T200"]
    assert manager.verify().ok


def test_a_change_committed_during_a_build_is_in_the_index_that_is_swapped_in(
    pq_registry: Registry, blocked_build: BlockedBuild
) -> None:
    manager = pq_registry.index
    enrol(pq_registry, range(100, 100 + TALENTS))
    blocked_build.release.set()
    [build] = [t for t in threading.enumerate() if t.name.startswith("index-build-")]
    build.join(30)
    blocked_build.release.clear()
    blocked_build.started.clear()

    rebuild = manager.rebuild_in_background()
    assert blocked_build.started.wait(30)
    enrol(pq_registry, range(230, 231))  # applied to the old index meanwhile
    blocked_build.release.set()
    rebuild.join(30)

    assert best_talent(manager, 230) == "T230"
    assert manager.stats()["vectors"] == TALENTS + 1
    assert manager.verify().ok


def test_another_process_catches_up_by_applying_the_changes_not_by_rebuilding(
    pq_registry: Registry,
    settings: IndexerSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enrol(pq_registry, range(100, 100 + TALENTS + 4))
    pq_registry.index.rebuild()  # an ivfpq index in this process
    other = IndexManager(
        db=pq_registry.db,
        pack=pq_registry.analyser.pack,
        settings=pq_settings(settings, tmp_path / "other-process"),
    )
    assert other.open().kind == "ivfpq"

    def no_rebuild(*_: object) -> None:
        raise AssertionError("caught up by a rebuild")

    monkeypatch.setattr(other, "_build", no_rebuild)
    monkeypatch.setattr(other, "open", no_rebuild)
    enrol(pq_registry, range(240, 242))  # the first process adds two talents ...
    [talent] = [t for t in pq_registry.list_talents() if t.name == "T100"]
    pq_registry.erase_talent(talent_id=talent.id)  # ... and erases one

    other.ensure_current()
    assert [best_talent(other, i) for i in (240, 241, 101)] == ["T240", "T241", "T101"]
    assert best_talent(other, 100) != "T100"
    report = other.verify()
    assert report.ok, report.problems
    assert other.stats()["revision"] == pq_registry.index.stats()["revision"]


def join_builds() -> None:
    for thread in threading.enumerate():
        if thread.name.startswith("index-build-"):
            thread.join(30)


def test_an_intact_ivfpq_index_is_loaded_from_its_files_not_rebuilt(
    pq_registry: Registry, settings: IndexerSettings
) -> None:
    enrol(pq_registry, range(100, 100 + TALENTS + 2))
    join_builds()
    assert pq_registry.index.stats()["kind"] == "ivfpq"

    reopened = IndexManager(
        db=pq_registry.db, pack=pq_registry.analyser.pack, settings=pq_settings(settings)
    )
    report = reopened.open()
    assert (report.action, report.kind, report.count) == ("loaded", "ivfpq", TALENTS + 2)
    assert best_talent(reopened, 125) == "T125"


def test_a_restarted_process_catches_its_saved_index_up_instead_of_rebuilding(
    pq_registry: Registry, settings: IndexerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    enrol(pq_registry, range(100, 100 + TALENTS + 2))
    join_builds()
    enrol(pq_registry, range(240, 242))  # saved at this revision by the first process
    saved = pq_registry.index.files.read_manifest()
    assert saved is not None and saved.kind == "ivfpq"
    erased = IndexFiles(pq_registry.index.files.directory, saved.pack_name)
    stale_copy = {p.name: p.read_bytes() for p in erased.directory.iterdir() if p.is_file()}
    enrol(pq_registry, range(243, 245))  # then the database moves on without that index
    for path in erased.directory.iterdir():  # ... as if this process stopped before these
        if path.is_file():
            path.unlink()
    for name, data in stale_copy.items():
        (erased.directory / name).write_bytes(data)

    restarted = IndexManager(
        db=pq_registry.db, pack=pq_registry.analyser.pack, settings=pq_settings(settings)
    )

    def no_rebuild(*_: object) -> NoReturn:
        raise AssertionError("caught up by a rebuild")

    monkeypatch.setattr(restarted, "_build", no_rebuild)
    report = restarted.open()
    assert (report.action, report.kind, report.count) == ("caught up", "ivfpq", TALENTS + 6)
    assert [best_talent(restarted, i) for i in (240, 243, 244)] == ["T240", "T243", "T244"]
    assert restarted.verify().ok
