"""The portfolio's blobs on both backends (issue 22): each original has its features beside
it; erasing a talent leaves neither; start-up reconciliation keeps the features of an
original a row names and removes those of one no row names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from indexer.blobs.layout import PORTFOLIO
from indexer.copies import sidecar
from indexer.copies.detector import CopyDetector, portfolio_features
from indexer.copies.kept_index import KeptCopyIndex
from indexer.copies.store import PortfolioStore
from indexer.db import Database
from indexer.imaging import DecodeLimits, open_photo
from indexer.index_manager import IndexManager
from indexer.photos import PhotoStore
from indexer.registry import PhotoInput, Registry
from indexer.settings import IndexerSettings
from service.talents.portfolio import add_images
from tests.support.fakes import FakeAnalyser, face_photo
from tests.unit.blobs.conftest import Backend


def portfolio_talent(registry: Registry, copies: CopyDetector, name: str, identity: int) -> int:
    agency = registry.ensure_agency(name="Agency")
    talent, _ = registry.ensure_talent(agency_id=agency.id, name=name)
    outcomes = add_images(
        copies,
        talent_id=talent.id,
        files=[
            PhotoInput(
                f"{name}-{n}.png", face_photo([(identity, 80)], size=320, seed=n, textured=True)
            )
            for n in range(2)
        ],
        limits=DecodeLimits(),
        max_images=10,
    )
    assert all(o.accepted and not o.already_registered for o in outcomes)
    return talent.id


def under(keys: list[str], talent_id: int) -> list[str]:
    return sorted(k for k in keys if k.startswith(f"{PORTFOLIO}/{talent_id}/"))


def test_erasing_a_talent_leaves_none_of_her_portfolio_originals_or_features(
    db: Database, settings: IndexerSettings, backend: Backend
) -> None:
    analyser = FakeAnalyser()
    portfolio = PortfolioStore(backend.store, PORTFOLIO)
    kept = KeptCopyIndex(settings.index_dir() / "copies")  # as open_runtime wires them
    registry = Registry(
        db=db,
        analyser=analyser,
        index=IndexManager(db=db, pack=analyser.pack, settings=settings),
        photos=PhotoStore(backend.store),
        settings=settings,
        other_talent_stores=[portfolio],
        erase_hooks=[kept.erase_hook],
    )
    copies = CopyDetector(db=db, store=portfolio, analyser=analyser, kept=kept)
    ada = portfolio_talent(registry, copies, "Ada", 7)
    bea = portfolio_talent(registry, copies, "Bea", 8)
    held = under(backend.everything(), ada)
    assert len(held) == 4 and sum(k.endswith(sidecar.SUFFIX) for k in held) == 2

    registry.erase_talent(talent_id=ada)

    assert under(backend.everything(), ada) == []
    assert len(under(backend.everything(), bea)) == 4
    copies.ensure_current()
    assert {image.talent_id for image in copies.index.slots.values()} <= {bea}


def test_reconciliation_keeps_the_features_of_a_kept_original_and_removes_an_orphans(
    backend: Backend,
) -> None:
    store = PortfolioStore(backend.store, PORTFOLIO, orphan_grace_s=3600)
    features = portfolio_features(open_photo(face_photo([(3, 60)], size=240)))
    for name in ("kept.png", "gone.png"):
        stored = store.save(talent_id=5, name=name, data=b"original bytes")
        store.save_features(stored, features)
    rows = {"5/kept.png"}

    assert store.reconcile(talent_ids={5}, stored_paths=rows).orphans_removed == 0  # young
    later = datetime.now(UTC) + timedelta(hours=2)
    report = store.reconcile(talent_ids={5}, stored_paths=rows, now=later)

    assert report.orphans_removed == 2  # the row-less original and its features
    assert backend.everything() == ["portfolio/5/kept.orb", "portfolio/5/kept.png"]
    assert store.read_features("5/kept.png") is not None

    store.reconcile(talent_ids=set(), stored_paths=set(), now=later)  # talent 5 erased
    assert backend.everything() == []


def test_removing_an_image_removes_its_features(backend: Backend) -> None:
    store = PortfolioStore(backend.store, PORTFOLIO)
    features = portfolio_features(open_photo(face_photo([(3, 60)], size=240)))
    stored = store.save(talent_id=5, name="a.png", data=b"original bytes")
    store.save_features(stored, features)
    store.remove(stored)
    assert backend.everything() == []


def test_features_rewritten_after_their_original_went_do_not_stay(backend: Backend) -> None:
    """A build that read the original just before her erasure deleted it rewrites nothing
    that outlives it."""
    store = PortfolioStore(backend.store, PORTFOLIO)
    features = portfolio_features(open_photo(face_photo([(3, 60)], size=240)))
    store.refresh_features("5/gone.png", features)
    assert backend.everything() == []
    stored = store.save(talent_id=5, name="kept.png", data=b"original bytes")
    store.refresh_features(stored, features)
    assert backend.everything() == ["portfolio/5/kept.orb", "portfolio/5/kept.png"]
