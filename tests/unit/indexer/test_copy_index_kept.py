"""The built portfolio index kept on this machine's disk (issue 22's restarts): a process
starting afresh loads it instead of adding every descriptor to FAISS again, adds only what
is new since, and finds the same copies; an image that leaves the portfolio (removed, or
its talent erased) leaves no kept file behind; a kept index that names other files, is cut
short or is of another format is not trusted, and the index is built as before."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from indexer.blobs import FolderBlobStore
from indexer.copies import detector as detector_module
from indexer.copies import index as index_module
from indexer.copies.detector import CopyDetector
from indexer.copies.kept_index import MANIFEST, KeptCopyIndex
from indexer.copies.store import PortfolioStore, portfolio_store
from indexer.db import Database
from indexer.runtime import Runtime, open_runtime
from indexer.settings import IndexerSettings
from service.talents.portfolio import remove_image
from tests.support.fakes import FakeAnalyser
from tests.unit.indexer.test_copy_sidecars import (
    WatchedStore,
    copy_of,
    found_ids,
    lfw,
    register,
)

pytestmark = pytest.mark.shared_faces


@pytest.fixture(params=["flat", "ivf"])
def layout(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both index layouts: exact below IVF_FROM descriptors, a binary IVF from there on."""
    if request.param == "ivf":
        monkeypatch.setattr(index_module, "IVF_FROM", 2_000)
    return str(request.param)


@pytest.fixture
def store(settings: IndexerSettings) -> PortfolioStore:
    return portfolio_store(settings, FolderBlobStore(settings.data_dir))


@pytest.fixture
def kept(settings: IndexerSettings) -> KeptCopyIndex:
    return KeptCopyIndex(settings.index_dir() / "copies")


def detector(db: Database, store: PortfolioStore, kept: KeptCopyIndex | None) -> CopyDetector:
    return CopyDetector(db=db, store=store, analyser=FakeAnalyser(), kept=kept)


def built_and_kept(db: Database, store: PortfolioStore, kept: KeptCopyIndex) -> CopyDetector:
    first = detector(db, store, kept)
    first.ensure_current()
    first.keep()
    assert kept.exists()
    return first


def test_a_restart_loads_the_kept_index_reads_no_features_and_finds_the_same_copies(
    db: Database, store: PortfolioStore, kept: KeptCopyIndex, shared_faces: Path, layout: str
) -> None:
    data = lfw(shared_faces, 6)
    _talent, ids = register(db, store, data)
    first = built_and_kept(db, store, kept)
    watched = WatchedStore(store)
    restarted = detector(db, watched, kept)

    assert restarted.ensure_current()
    assert watched.features_read == [] and watched.originals_read == []
    assert restarted.index.descriptors == first.index.descriptors
    assert restarted.index.snapshot().ivf is (layout == "ivf")
    for n in (0, 4):
        assert found_ids(restarted, copy_of(data[n])) == found_ids(first, copy_of(data[n]))
        assert found_ids(restarted, copy_of(data[n])) == [ids[n]]
    query = np.random.default_rng(5).integers(0, 256, (50, 32), dtype=np.uint8)
    same = restarted.index.neighbours(query), first.index.neighbours(query)
    assert np.array_equal(same[0].labels, same[1].labels)


def test_images_added_since_it_was_kept_are_read_and_only_they(
    db: Database, store: PortfolioStore, kept: KeptCopyIndex, shared_faces: Path, layout: str
) -> None:
    data = lfw(shared_faces, 7)
    _talent, ids = register(db, store, data[:6])
    built_and_kept(db, store, kept)
    _later, [new_id] = register(db, store, data[6:], "Bea")
    watched = WatchedStore(store)
    restarted = detector(db, watched, kept)

    assert found_ids(restarted, copy_of(data[6])) == [new_id]
    assert len(watched.features_read) == 1
    assert found_ids(restarted, copy_of(data[2])) == [ids[2]]
    restarted.keep()  # changed since it was loaded: kept again, now with all seven
    again = WatchedStore(store)
    assert detector(db, again, kept).ensure_current() and again.features_read == []


def test_removing_a_portfolio_image_deletes_the_kept_index_at_once(
    db: Database, store: PortfolioStore, kept: KeptCopyIndex, shared_faces: Path
) -> None:
    data = lfw(shared_faces, 5)
    talent, ids = register(db, store, data)
    running = built_and_kept(db, store, kept)

    remove_image(running, talent_id=talent, image_id=ids[1])
    assert not kept.exists() and list(kept.folder.iterdir()) == []
    restarted = detector(db, store, kept)
    assert found_ids(restarted, copy_of(data[1])) == []
    assert found_ids(restarted, copy_of(data[3])) == [ids[3]]


@pytest.fixture
def runtime(settings: IndexerSettings, db: Database) -> Iterator[Runtime]:
    opened = open_runtime(settings, db=db, analyser=FakeAnalyser())
    yield opened
    opened.close()


def test_erasing_a_talent_deletes_the_kept_index_in_the_erasing_process(
    runtime: Runtime, shared_faces: Path
) -> None:
    """The erasure runs in another process (the CLI) than the one that kept the index: the
    wiring of open_runtime deletes the files in the erasure itself, not on a later scan."""
    data = lfw(shared_faces, 4)
    ada, _ = register(runtime.db, runtime.copies.store, data[:2])
    bea, bea_ids = register(runtime.db, runtime.copies.store, data[2:], "Bea")
    assert runtime.copies.kept is not None
    built_and_kept(runtime.db, runtime.copies.store, runtime.copies.kept)

    runtime.registry.erase_talent(talent_id=ada)
    assert not runtime.copies.kept.exists()
    assert found_ids(runtime.copies, copy_of(data[0])) == []
    assert found_ids(runtime.copies, copy_of(data[3])) == [bea_ids[1]]
    runtime.close()  # a clean shutdown keeps the caught-up index: Bea's only
    restarted = detector(runtime.db, runtime.copies.store, runtime.copies.kept)
    assert restarted.ensure_current()
    assert {image.talent_id for image in restarted.index.slots.values()} == {bea}


def _retarget_one(kept: KeptCopyIndex) -> None:
    """The kept index says one image came from another stored file (an older database)."""
    manifest = json.loads((kept.folder / MANIFEST).read_text())
    path = kept.folder / f"{manifest['generation']}.npz"
    with np.load(path) as held:
        arrays = dict(held)
    arrays["stored_path"] = np.asarray(
        ["elsewhere/old.jpg", *arrays["stored_path"][1:].tolist()], dtype=str
    )
    with path.open("wb") as out:
        np.savez(out, **arrays)


def _cut_short(kept: KeptCopyIndex) -> None:
    manifest = json.loads((kept.folder / MANIFEST).read_text())
    path = kept.folder / f"{manifest['generation']}.faissbin"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _other_format(kept: KeptCopyIndex) -> None:
    manifest = json.loads((kept.folder / MANIFEST).read_text())
    (kept.folder / MANIFEST).write_text(json.dumps({**manifest, "format": "copy-index-0"}))


def _generation_is_a_path(kept: KeptCopyIndex) -> None:
    manifest = json.loads((kept.folder / MANIFEST).read_text())
    outside = f"../{manifest['generation']}"
    for suffix in (".faissbin", ".npz"):  # the files it names exist there, and are not read
        source = kept.folder / f"{manifest['generation']}{suffix}"
        (kept.folder / f"{outside}{suffix}").write_bytes(source.read_bytes())
    (kept.folder / MANIFEST).write_text(json.dumps({**manifest, "generation": outside}))


@pytest.mark.parametrize(
    ("spoil", "read_again"),
    [(_retarget_one, 1), (_cut_short, 5), (_other_format, 5), (_generation_is_a_path, 5)],
    ids=["names another file", "cut short", "another format", "a path for a generation"],
)
def test_a_kept_index_that_cannot_be_trusted_is_not_used_for_what_it_cannot_vouch_for(
    db: Database,
    store: PortfolioStore,
    kept: KeptCopyIndex,
    shared_faces: Path,
    layout: str,
    spoil: object,
    read_again: int,
) -> None:
    data = lfw(shared_faces, 5)
    _talent, ids = register(db, store, data)
    built_and_kept(db, store, kept)
    assert callable(spoil)
    spoil(kept)
    watched = WatchedStore(store)
    restarted = detector(db, watched, kept)

    assert restarted.ensure_current()
    assert len(watched.features_read) == read_again
    assert restarted.index.images == len(data)
    for n in range(len(data)):
        assert found_ids(restarted, copy_of(data[n])) == [ids[n]]


def test_keeping_never_raises_and_a_process_that_never_built_keeps_nothing(
    db: Database, store: PortfolioStore, tmp_path: Path, shared_faces: Path
) -> None:
    register(db, store, lfw(shared_faces, 2))
    blocked = tmp_path / "a-file-where-the-folder-goes"
    blocked.write_text("")
    unwritable = detector(db, store, KeptCopyIndex(blocked))
    unwritable.ensure_current()
    unwritable.keep()  # logged, not raised: the next start builds it instead
    idle = detector(db, store, KeptCopyIndex(tmp_path / "idle"))
    idle.keep()
    assert not (tmp_path / "idle").exists()


def test_a_change_after_the_build_is_kept_again_soon_without_a_shutdown(
    db: Database,
    store: PortfolioStore,
    kept: KeptCopyIndex,
    shared_faces: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process killed later (no clean shutdown) still leaves a recent index: a removal
    deletes the kept files at once, and the index without it is kept again shortly after."""
    monkeypatch.setattr(detector_module, "KEEP_AFTER_S", 0.2)
    data = lfw(shared_faces, 4)
    talent, ids = register(db, store, data)
    running = built_and_kept(db, store, kept)

    remove_image(running, talent_id=talent, image_id=ids[0])
    assert not kept.exists()
    deadline = time.monotonic() + 30
    while not kept.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    loaded = kept.load()
    assert loaded is not None and set(loaded.stored_paths) == set(ids[1:])
    running.close()  # nothing pending: the shutdown's keep finds nothing changed
    assert running._keep_timer is None
