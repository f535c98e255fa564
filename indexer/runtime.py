"""Builds the indexer's long-lived objects once, from one settings object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from indexer.blobs import BlobStore, open_blob_store
from indexer.copies.detector import CopyDetector, reconcile_portfolio
from indexer.copies.kept_index import KeptCopyIndex
from indexer.copies.store import portfolio_store
from indexer.db import Database
from indexer.engine import FaceAnalyser, load_engine
from indexer.index_manager import IndexManager
from indexer.photos import PhotoStore, reference_photos
from indexer.registry import Registry
from indexer.settings import IndexerSettings


@dataclass
class Runtime:
    settings: IndexerSettings
    db: Database
    engine: FaceAnalyser
    index: IndexManager
    registry: Registry
    copies: CopyDetector

    def close(self) -> None:
        self.copies.close()
        self.db.dispose()


# Makes (or checks) the schema of a just-opened database. The indexer on its own makes its
# tables from the models; the service passes its Alembic upgrade (service.migrations), the
# only way the schema of a twinwatch deployment is made.
SchemaPreparer = Callable[[Database], None]


def create_tables(db: Database) -> None:
    """The indexer's standalone schema (benchmarks, library use): its tables from the models."""
    db.create_all()


def open_database(
    settings: IndexerSettings, *, prepare_schema: SchemaPreparer = create_tables
) -> Database:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url())
    try:
        prepare_schema(db)
    except BaseException:
        db.dispose()
        raise
    return db


def open_runtime(
    settings: IndexerSettings,
    *,
    pack_name: str | None = None,
    db: Database | None = None,
    analyser: FaceAnalyser | None = None,
    other_talent_stores: list[PhotoStore] | None = None,
    blobs: BlobStore | None = None,
    prepare_schema: SchemaPreparer = create_tables,
) -> Runtime:
    """Load the model pack (unless an analyser is given), open the database, recover from
    any crash, open the index. ``other_talent_stores`` hold per-talent files that erasure
    must remove too (the service's evidence); ``blobs`` is the process's blob store (default:
    the one the settings name). ``prepare_schema`` makes the schema of a
    database opened here (not of a given ``db``)."""
    engine = analyser or load_engine(settings, pack_name)
    db = db or open_database(settings, prepare_schema=prepare_schema)
    index = IndexManager(db=db, pack=engine.pack, settings=settings)
    blobs = blobs or open_blob_store(settings)
    portfolio = portfolio_store(settings, blobs)
    kept = KeptCopyIndex(settings.index_dir() / "copies")
    registry = Registry(
        db=db,
        analyser=engine,
        index=index,
        photos=reference_photos(settings, blobs),
        settings=settings,
        other_talent_stores=[portfolio, *(other_talent_stores or [])],
        erase_hooks=[kept.erase_hook],
    )
    registry.recover()
    reconcile_portfolio(db, portfolio)
    copies = CopyDetector(db=db, store=portfolio, analyser=engine, kept=kept)
    return Runtime(settings, db, engine, index, registry, copies)
