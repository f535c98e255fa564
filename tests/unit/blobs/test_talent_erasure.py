"""Per-talent stores in the blob store: erasure leaves nothing behind, a crash in the middle
is finished by start-up reconciliation, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from indexer.blobs.layout import CONSENT_DOCUMENTS, EVIDENCE
from indexer.db import Database
from indexer.index_manager import IndexManager
from indexer.photos import PhotoStore
from indexer.registry import PhotoInput, Registry
from indexer.settings import IndexerSettings
from tests.support.fakes import FakeAnalyser, face_photo
from tests.unit.blobs.conftest import Backend

pytestmark = pytest.mark.postgres


def open_registry(db: Database, settings: IndexerSettings, backend: Backend) -> Registry:
    """One process: the registry with kept photos, and two more per-talent stores (the
    service's evidence and consent documents) in the same blob store."""
    analyser = FakeAnalyser()
    registry = Registry(
        db=db,
        analyser=analyser,
        index=IndexManager(db=db, pack=analyser.pack, settings=settings),
        photos=PhotoStore(backend.store),
        settings=settings,
        other_talent_stores=[
            PhotoStore(backend.store, EVIDENCE),
            PhotoStore(backend.store, CONSENT_DOCUMENTS),
        ],
    )
    registry.recover()
    return registry


def enrol(registry: Registry, name: str, identity: int) -> int:
    agency = registry.ensure_agency(name="Agency")
    talent, _ = registry.ensure_talent(agency_id=agency.id, name=name)
    outcomes = registry.enrol_photos(
        talent_id=talent.id,
        photos=[
            PhotoInput(f"{name}-{n}.png", face_photo([(identity, 100)], seed=n)) for n in range(2)
        ],
    )
    assert all(o.accepted for o in outcomes)
    for store in registry.other_talent_stores:
        store.save(talent_id=talent.id, name=f"kept-{name}", data=b"evidence bytes")
    return talent.id


def owned_by(keys: list[str], talent_id: int) -> list[str]:
    return [k for k in keys if k.split("/")[1] == str(talent_id)]


def test_erasing_a_talent_leaves_none_of_her_blobs(
    db: Database, settings: IndexerSettings, backend: Backend
) -> None:
    registry = open_registry(db, settings, backend)
    ada, bea = enrol(registry, "Ada", 7), enrol(registry, "Bea", 8)
    assert len(owned_by(backend.everything(), ada)) == 4  # 2 photos, evidence, a document

    registry.erase_talent(talent_id=ada)

    assert owned_by(backend.everything(), ada) == []
    assert len(owned_by(backend.everything(), bea)) == 4


def test_a_failed_erasure_transaction_keeps_every_blob(
    db: Database, settings: IndexerSettings, backend: Backend
) -> None:
    registry = open_registry(db, settings, backend)
    ada = enrol(registry, "Ada", 7)
    before = backend.everything()

    def power_cut(_session: object, _talent_id: int) -> None:
        raise RuntimeError("power cut")

    registry.erase_hooks.append(power_cut)
    with pytest.raises(RuntimeError):
        registry.erase_talent(talent_id=ada)
    assert backend.everything() == before
    assert registry.photos.read(registry.photos.talent_keys(ada)[0].split("/", 1)[1])


def test_an_erasure_cut_after_its_commit_is_finished_by_reconciliation(
    db: Database, settings: IndexerSettings, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = open_registry(db, settings, backend)
    ada, bea = enrol(registry, "Ada", 7), enrol(registry, "Bea", 8)

    def killed(self: PhotoStore, pending: object) -> int:
        raise SystemExit("killed after the commit, before the blobs went")

    monkeypatch.setattr(PhotoStore, "finish_erase", killed)
    with pytest.raises(SystemExit):
        registry.erase_talent(talent_id=ada)
    assert len(owned_by(backend.everything(), ada)) == 4  # the crash left them
    monkeypatch.undo()

    open_registry(db, settings, backend)  # a restarted process reconciles
    for store in registry.other_talent_stores:  # (the service reconciles its own stores)
        store.reconcile(talent_ids={bea}, stored_paths=set())

    assert owned_by(backend.everything(), ada) == []
    # Bea's blobs stay: her photos have rows; her evidence has none but is younger than the
    # grace period (a row naming it may be about to commit in another process).
    assert len(owned_by(backend.everything(), bea)) == 4


def test_reconciliation_spares_a_young_unreferenced_blob_and_removes_an_old_one(
    backend: Backend,
) -> None:
    store = PhotoStore(backend.store, EVIDENCE, orphan_grace_s=3600)
    store.save(talent_id=5, name="pending-commit", data=b"x")
    store.save(talent_id=5, name="kept", data=b"y")

    report = store.reconcile(talent_ids={5}, stored_paths={"5/kept"})
    assert report.orphans_removed == 0  # another process may be committing its row now

    later = datetime.now(UTC) + timedelta(hours=2)
    report = store.reconcile(talent_ids={5}, stored_paths={"5/kept"}, now=later)
    assert report.orphans_removed == 1
    assert backend.everything() == ["evidence/5/kept"]


def test_a_folder_moved_aside_by_an_earlier_release_is_restored_or_erased(
    backend: Backend,
) -> None:
    """Earlier releases moved the talent's folder to ``.erasing/`` before the commit."""
    store = PhotoStore(backend.store)
    backend.store.put("photos/.erasing/5.1a2b3c4d/kept", b"talent 5 still exists")
    backend.store.put("photos/.erasing/6.5e6f7a8b/gone", b"talent 6 was erased")

    report = store.reconcile(talent_ids={5}, stored_paths={"5/kept"})

    assert report.erased == 1
    assert backend.everything() == ["photos/5/kept"]
    assert store.read("5/kept") == b"talent 5 still exists"
