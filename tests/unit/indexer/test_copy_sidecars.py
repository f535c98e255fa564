"""The portfolio's features kept beside each original (issue 22): registration writes them, a
process started afresh builds its copy index from them without opening any original, a
scan that arrives while the index is built in the background waits for it, and features
of another version (or none: a portfolio registered before they were kept) are extracted
from the original again and rewritten."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from indexer.blobs import FolderBlobStore
from indexer.copies import sidecar
from indexer.copies.detector import CopyDetector, portfolio_features
from indexer.copies.features import FEATURES_VERSION, Features
from indexer.copies.index import IndexedImage
from indexer.copies.store import PortfolioStore, portfolio_store
from indexer.copies.tables import PortfolioImage
from indexer.db import Agency, Database, Talent
from indexer.imaging import DecodeLimits, open_photo
from indexer.registry import PhotoInput
from indexer.settings import IndexerSettings
from service.talents.portfolio import add_images
from tests.support import copies as edits
from tests.support.fakes import FakeAnalyser


class WatchedStore(PortfolioStore):
    """Counts reads of originals (the kept features are read through the blob store) and
    can hold the reads of kept features until released."""

    def __init__(self, store: PortfolioStore) -> None:
        super().__init__(store.blobs, store.area)
        self.originals_read: list[str] = []
        self.features_read: list[str] = []
        self.hold = threading.Event()
        self.hold.set()
        self.reading = threading.Event()

    def read(self, relative: str) -> bytes:
        self.originals_read.append(relative)
        return super().read(relative)

    def read_features(self, stored_path: str) -> tuple[Features, Features] | None:
        self.reading.set()
        assert self.hold.wait(timeout=30)
        self.features_read.append(stored_path)
        return super().read_features(stored_path)


def lfw(shared_faces: Path, count: int) -> list[bytes]:
    return [f.read_bytes() for f in sorted((shared_faces / "lfw").glob("B*/*.jpg"))[:count]]


def new_talent(db: Database, name: str = "Ada") -> int:
    """A talent of her own agency."""
    with db.session() as session:
        agency = Agency(name=f"{name}'s agency")
        session.add(agency)
        session.flush()
        talent = Talent(agency_id=agency.id, name=name)
        session.add(talent)
        session.flush()
        return talent.id


def register(
    db: Database, store: PortfolioStore, data: list[bytes], name: str = "Ada"
) -> tuple[int, list[int]]:
    """A talent with these portfolio images, registered as the service does."""
    talent_id = new_talent(db, name)
    detector = CopyDetector(db=db, store=store, analyser=FakeAnalyser())
    outcomes = add_images(
        detector,
        talent_id=talent_id,
        files=[PhotoInput(f"{name}-{n}.jpg", raw) for n, raw in enumerate(data)],
        limits=DecodeLimits(),
        max_images=100,
    )
    assert all(o.accepted and o.image_id is not None for o in outcomes)
    return talent_id, [o.image_id for o in outcomes if o.image_id is not None]


@pytest.fixture
def store(settings: IndexerSettings) -> PortfolioStore:
    return portfolio_store(settings, FolderBlobStore(settings.data_dir))


def copy_of(raw: bytes) -> bytes:
    return edits.jpeg(edits.recolour(edits.rescale(edits.decode(raw), 1.5)), 70)


def found_ids(detector: CopyDetector, raw: bytes) -> list[int]:
    photo = open_photo(raw)
    return [f.portfolio_image_id for f in detector.find(photo, [])]


def test_sidecar_round_trip_and_what_it_refuses() -> None:
    original, flipped = portfolio_features(
        open_photo(edits.jpeg(np.random.default_rng(1).integers(0, 255, (240, 320, 3), np.uint8)))
    )
    data = sidecar.encode(original, flipped)
    back, back_flipped = sidecar.decode(data)
    for a, b in ((original, back), (flipped, back_flipped)):
        assert np.array_equal(a.points, b.points) and np.array_equal(a.descriptors, b.descriptors)
        assert (a.width, a.height) == (b.width, b.height) == (320, 240)
    assert sidecar.sidecar_path("7/ab12.jpeg") == "7/ab12.orb"
    for bad in (
        sidecar.encode(original, flipped, version=FEATURES_VERSION + 1),
        data[:-1],
        data + b"\0",
        b"TWOB",
        b"\x89PNG" + data[4:],
    ):
        with pytest.raises(sidecar.SidecarError):
            sidecar.decode(bad)


@pytest.mark.shared_faces
def test_a_fresh_process_finds_a_copy_from_the_kept_features_without_opening_an_original(
    db: Database, store: PortfolioStore, shared_faces: Path
) -> None:
    data = lfw(shared_faces, 8)
    talent_id, ids = register(db, store, data)
    keys = sorted(k.split("/")[-1] for k in store.talent_keys(talent_id))
    assert sum(k.endswith(".orb") for k in keys) == len(data) == len(keys) // 2

    watched = WatchedStore(store)
    fresh = CopyDetector(db=db, store=watched, analyser=FakeAnalyser())
    assert fresh.ensure_current()
    assert found_ids(fresh, copy_of(data[3])) == [ids[3]]
    assert watched.originals_read == []
    assert len(watched.features_read) == len(data)


@pytest.mark.shared_faces
def test_a_scan_during_the_background_build_waits_for_it(
    db: Database, store: PortfolioStore, shared_faces: Path
) -> None:
    data = lfw(shared_faces, 4)
    _talent_id, ids = register(db, store, data)
    watched = WatchedStore(store)
    watched.hold.clear()
    fresh = CopyDetector(db=db, store=watched, analyser=FakeAnalyser())

    build = fresh.build_in_background()
    assert watched.reading.wait(timeout=30)  # the build has begun and is held
    assert not fresh.built
    release = threading.Timer(0.3, watched.hold.set)
    release.start()
    assert found_ids(fresh, copy_of(data[1])) == [ids[1]]  # waited, never skipped
    build.join(timeout=30)
    assert not build.is_alive() and fresh.built
    assert len(watched.features_read) == len(data)  # built once, by the background thread


@pytest.mark.shared_faces
@pytest.mark.parametrize("kept", ["another version", "none", "unreadable"])
def test_features_of_another_version_or_none_are_extracted_again_and_rewritten(
    db: Database, store: PortfolioStore, shared_faces: Path, kept: str
) -> None:
    data = lfw(shared_faces, 3)
    talent_id, ids = register(db, store, data)
    stored = sorted(k.split("/", 1)[1] for k in store.talent_keys(talent_id) if ".orb" not in k)
    old = stored[0]
    features_key = f"{store.area}/{sidecar.sidecar_path(old)}"
    if kept == "another version":
        current = sidecar.decode(store.blobs.get(features_key))
        store.blobs.put(features_key, sidecar.encode(*current, version=FEATURES_VERSION + 1))
    elif kept == "none":  # registered before features were kept
        store.blobs.delete(features_key)
    else:
        store.blobs.put(features_key, b"not features")

    watched = WatchedStore(store)
    fresh = CopyDetector(db=db, store=watched, analyser=FakeAnalyser())
    assert fresh.ensure_current()
    assert watched.originals_read == [old]  # only that one, extracted again
    assert fresh.index.images == len(data)
    assert sidecar.decode(store.blobs.get(features_key))  # rewritten at this version
    with db.session() as session:
        image = session.scalar(select(PortfolioImage.id).where(PortfolioImage.stored_path == old))
    assert image is not None
    assert image in found_ids(fresh, copy_of(data[ids.index(image)]))

    again = WatchedStore(store)
    assert CopyDetector(db=db, store=again, analyser=FakeAnalyser()).ensure_current()
    assert again.originals_read == []


@pytest.mark.shared_faces
def test_a_build_that_fails_half_way_is_redone_whole_by_the_next_scan(
    db: Database, store: PortfolioStore, shared_faces: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = lfw(shared_faces, 6)
    _talent_id, ids = register(db, store, data)
    fresh = CopyDetector(db=db, store=store, analyser=FakeAnalyser())
    monkeypatch.setattr("indexer.copies.detector.ADD_BATCH", 2)
    real_add = fresh.index.add_many
    calls = []

    def add_then_fail(items: list[tuple[IndexedImage, Features]]) -> None:
        calls.append(len(items))
        if len(calls) == 2:
            raise MemoryError("no room for the rebuild")
        real_add(items)

    fresh.index.add_many = add_then_fail  # type: ignore[method-assign]
    with pytest.raises(MemoryError):
        fresh.ensure_current()
    assert fresh.index.images == 0 and not fresh.built  # nothing half-built is kept
    assert found_ids(fresh, copy_of(data[5])) == [ids[5]]  # the next scan builds it all
    assert fresh.index.images == len(data)


@pytest.mark.parametrize("size", [(1, 1), (24, 300), (300, 300)])
def test_an_image_too_plain_or_small_to_be_found_is_refused_with_its_reason(
    db: Database, store: PortfolioStore, size: tuple[int, int]
) -> None:
    talent_id = new_talent(db)
    plain = edits.jpeg(np.full((size[1], size[0], 3), 128, np.uint8))
    detector = CopyDetector(db=db, store=store, analyser=FakeAnalyser())
    [outcome] = add_images(
        detector,
        talent_id=talent_id,
        files=[PhotoInput("plain.jpg", plain)],
        limits=DecodeLimits(),
        max_images=10,
    )
    assert not outcome.accepted and outcome.image_id is None
    assert outcome.reason is not None and "too little detail" in outcome.reason
    assert store.talent_keys(talent_id) == []  # nothing stored
