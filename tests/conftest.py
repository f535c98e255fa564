from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.db import Base, Database
from indexer.engine import FaceEngine, load_engine
from indexer.index_manager import IndexManager
from indexer.photos import PhotoStore
from indexer.registry import Registry
from indexer.settings import PROJECT_ROOT, IndexerSettings
from tests.fakes import FakeAnalyser

# The real model pack is pulled once by `make test` into the default cache (var/models).
MODEL_CACHE = IndexerSettings().resolved_model_cache_dir().resolve()
SHARED_FACES = Path(os.environ.get("TWINWATCH_SHARED_FACES",
                                   PROJECT_ROOT.parent / "shared" / "faces"))


# Set by scripts/with-postgres.sh: the same tests then run on a real PostgreSQL server.
TEST_DATABASE_URL = os.environ.get("TWINWATCH_TEST_DATABASE_URL")


def make_settings(tmp_path: Path, **overrides: object) -> IndexerSettings:
    values: dict[str, object] = {"data_dir": tmp_path / "var", "model_cache_dir": MODEL_CACHE,
                                 "database_url": TEST_DATABASE_URL}
    values.update(overrides)
    return IndexerSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def empty_shared_database() -> Iterator[None]:
    """On a shared PostgreSQL test database, every test starts from an empty schema."""
    if TEST_DATABASE_URL is None:
        yield
        return
    from service import models  # noqa: F401  (all tables)

    database = Database(TEST_DATABASE_URL)
    Base.metadata.drop_all(database.engine)
    database.dispose()
    yield


@pytest.fixture
def settings(tmp_path: Path) -> IndexerSettings:
    return make_settings(tmp_path)


@pytest.fixture
def db(settings: IndexerSettings) -> Iterator[Database]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.resolved_database_url())
    database.create_all()
    yield database
    database.dispose()


@pytest.fixture
def fake_registry(db: Database, settings: IndexerSettings) -> Registry:
    analyser = FakeAnalyser()
    index = IndexManager(db=db, pack=analyser.pack, settings=settings)
    registry = Registry(db=db, analyser=analyser, index=index,
                        photos=PhotoStore(settings.photos_dir()), settings=settings)
    registry.recover()
    return registry


@pytest.fixture(scope="session")
def real_engine() -> FaceEngine:
    """The default model pack, loaded once for the whole run (pulled by `make test`)."""
    return load_engine(IndexerSettings(model_cache_dir=MODEL_CACHE))


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    if not (SHARED_FACES / "README.md").is_file():
        pytest.skip(f"shared face photos not found at {SHARED_FACES} (set "
                    "TWINWATCH_SHARED_FACES to their folder to run these tests)")
    return SHARED_FACES
