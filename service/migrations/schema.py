"""The database schema is made only by the Alembic migrations in this package.

- ``upgrade``: bring a database to a revision (default: the newest). On a database made
  before migrations existed (twinwatch's tables, no ``alembic_version``), the initial
  revision is stamped first if, and only if, its tables are exactly those of the initial
  revision; anything else is refused rather than guessed at.
- ``prepare_schema``: the start-up hook (``open_database(prepare_schema=...)``). SQLite is
  embedded (one host, no separate deploy step), so it is upgraded in place; an external
  server database must already be at the newest revision: its upgrade is the operator's
  one-shot ``twinwatch db upgrade``, and a process never races another one to make it.
- ``differences``: what ``twinwatch db check`` reports, Alembic's comparison of a database
  with the models (empty when the migrations and the models agree).

Every upgrade runs in one transaction. On SQLite that transaction is ``BEGIN IMMEDIATE``
(so two processes upgrading one file take turns) with foreign-key enforcement off, as
SQLite's own procedure for rebuilding tables requires (Alembic's batch mode drops and
recreates tables; with enforcement on, dropping a parent table would cascade-delete its
children's rows); the foreign keys are checked before the commit instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import MetaData, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool, StaticPool

from indexer.db import Base, Database
from service.core.errors import (
    SchemaBehindError,
    SchemaIntegrityError,
    SchemaNotAdoptableError,
    SchemaRevisionUnknownError,
)

log = logging.getLogger(__name__)

SCRIPT_LOCATION: Final = Path(__file__).resolve().parent
INITIAL_REVISION: Final = "0001"
# Alembic's comparison settings, shared by `env.py` (autogenerate) and `differences`.
COMPARE_OPTIONS: Final[dict[str, Any]] = {"compare_type": True, "compare_server_default": True}
# pg_advisory_xact_lock key: two `db upgrade` runs on one PostgreSQL database take turns.
_PG_LOCK_KEY: Final = 0x7477_6D69  # "twmi"


def target_metadata() -> MetaData:
    """Every table: the indexer's and the service's, on one declarative base."""
    import service.core.tables  # noqa: F401  (registers the service's tables)

    return Base.metadata


def migration_config(script_location: Path = SCRIPT_LOCATION) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    return config


@dataclass(frozen=True)
class UpgradeOutcome:
    before: str | None
    after: str | None
    adopted: bool  # a pre-migrations database was stamped with the initial revision


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


@cache
def _shipped_scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(migration_config())


def _scripts(config: Config | None) -> ScriptDirectory:
    """The revisions (those shipped are read once per process: they cannot change)."""
    if config is None or config.get_main_option("script_location") == str(SCRIPT_LOCATION):
        return _shipped_scripts()
    return ScriptDirectory.from_config(config)


def head_revision(config: Config | None = None) -> str:
    head = _scripts(config).get_current_head()
    if head is None:
        raise RuntimeError("the migrations have no head revision")
    return head


def migration_engine(url: str) -> Engine:
    """An engine for running migrations (not the application's: see the module docstring)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, poolclass=NullPool)
    in_memory = parsed.database in (None, "", ":memory:")
    engine = create_engine(url, poolclass=StaticPool if in_memory else NullPool)
    event.listen(engine, "connect", _sqlite_migration_connection)
    event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine


def _sqlite_migration_connection(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@contextmanager
def _locked_transaction(url: str) -> Iterator[Connection]:
    engine = migration_engine(url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}
                )
            yield connection
    finally:
        engine.dispose()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def schema_state(url: str, config: Config | None = None) -> SchemaState:
    engine = migration_engine(url)
    try:
        with engine.connect() as connection:
            current = current_revision(connection)
    finally:
        engine.dispose()
    return SchemaState(current=current, head=head_revision(config))


def upgrade(url: str, revision: str = "head", *, config: Config | None = None) -> UpgradeOutcome:
    """Upgrade the database at ``url`` to ``revision``, in one transaction."""
    config = config or migration_config()
    with _locked_transaction(url) as connection:
        config.attributes["connection"] = connection
        before = current_revision(connection)
        adopted = before is None and _has_twinwatch_tables(connection)
        if adopted:
            _adopt(connection, config)
        else:
            _require_known(before, config)
        if revision == "head" and before == head_revision(config):
            return UpgradeOutcome(before, before, adopted=False)
        try:
            command.upgrade(config, revision)
        except CommandError as exc:
            raise SchemaRevisionUnknownError(str(exc), revision=revision) from exc
        if connection.dialect.name == "sqlite":
            _check_foreign_keys(connection)
        after = current_revision(connection)
    log.info(
        "database schema upgraded",
        extra={"from_revision": before, "to_revision": after, "adopted": adopted},
    )
    return UpgradeOutcome(INITIAL_REVISION if adopted else before, after, adopted)


def require_head(url: str, config: Config | None = None) -> None:
    """Refuse to run on a database that is not at the newest revision."""
    state = schema_state(url, config)
    if state.up_to_date:
        return
    _require_known(state.current, config or migration_config())
    raise SchemaBehindError(
        f"the database schema is at revision {state.current or 'none'}, this twinwatch needs "
        f"{state.head}: run `twinwatch db upgrade` once, then start again",
        current=state.current,
        head=state.head,
    )


def prepare_schema(db: Database) -> None:
    """The start-up hook: upgrade embedded SQLite, require an external database at head."""
    if db.engine.dialect.name == "sqlite":
        upgrade(db.url)
    else:
        require_head(db.url)


def differences(url: str) -> list[Any]:
    """Alembic's differences between the database and the models (empty: they agree)."""
    engine = migration_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts=dict(COMPARE_OPTIONS))
            return list(compare_metadata(context, target_metadata()))
    finally:
        engine.dispose()


# --- pre-migration databases ----------------------------------------------------------------
def _has_twinwatch_tables(connection: Connection) -> bool:
    return bool(set(inspect(connection).get_table_names()) & set(target_metadata().tables))


def _require_known(revision: str | None, config: Config) -> None:
    if revision is None:
        return
    try:
        _scripts(config).get_revision(revision)
    except CommandError as exc:
        raise SchemaRevisionUnknownError(
            f"the database schema is at revision {revision}, which this twinwatch does not "
            "know (was it upgraded by a newer release?)",
            current=revision,
        ) from exc


def _adopt(connection: Connection, config: Config) -> None:
    """Stamp the initial revision on a database made by ``create_all`` before migrations,
    after checking that its tables are exactly the initial revision's."""
    expected = initial_signature()
    found = schema_signature(connection, set(expected))
    if found != expected:
        changed = sorted(name for name in expected if found.get(name) != expected[name])
        raise SchemaNotAdoptableError(
            "the database has twinwatch tables but no migration history, and they are not "
            f"those of revision {INITIAL_REVISION} (differing: {', '.join(changed)}); "
            "upgrade it with the release that made it, or start from an empty database",
            tables=changed,
        )
    command.stamp(config, INITIAL_REVISION)
    log.info("pre-migration database adopted", extra={"revision": INITIAL_REVISION})


TableSignature = tuple[tuple[Any, ...], ...]


def schema_signature(connection: Connection, tables: set[str]) -> dict[str, TableSignature]:
    """Tables' columns, nullability, keys, unique sets and indexes: what identifies a schema
    on any database (types are left out: each dialect reflects them in its own words)."""
    inspector = inspect(connection)
    present = set(inspector.get_table_names())
    signature: dict[str, TableSignature] = {}
    for table in sorted(tables & present):
        columns = tuple(
            sorted((c["name"], bool(c["nullable"])) for c in inspector.get_columns(table))
        )
        primary = tuple(inspector.get_pk_constraint(table)["constrained_columns"])
        foreign = tuple(
            sorted(
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                )
                for fk in inspector.get_foreign_keys(table)
            )
        )
        indexes = [ix for ix in inspector.get_indexes(table) if not ix.get("duplicates_constraint")]
        uniques = {
            tuple(sorted(u["column_names"])) for u in inspector.get_unique_constraints(table)
        }
        uniques |= {
            tuple(sorted(str(c) for c in ix["column_names"])) for ix in indexes if ix["unique"]
        }
        plain = tuple(
            sorted(
                (str(ix["name"]), tuple(str(c) for c in ix["column_names"]))
                for ix in indexes
                if not ix["unique"]
            )
        )
        signature[table] = (columns, primary, foreign, tuple(sorted(uniques)), plain)
    return signature


@cache
def initial_signature() -> dict[str, TableSignature]:
    """The initial revision's schema, made in a scratch in-memory SQLite database."""
    engine = migration_engine("sqlite://")
    try:
        config = migration_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, INITIAL_REVISION)
            return schema_signature(
                connection, set(inspect(connection).get_table_names()) - {"alembic_version"}
            )
    finally:
        engine.dispose()


def _check_foreign_keys(connection: Connection) -> None:
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if violations:
        tables = sorted({str(row[0]) for row in violations})
        raise SchemaIntegrityError(
            f"the upgrade would leave {len(violations)} rows with dangling foreign keys (in "
            f"{', '.join(tables)}); nothing was changed",
            tables=tables,
        )


def new_revision(url: str, message: str, *, config: Config | None = None) -> Path:
    """Write the next migration (``rNNNN_<slug>.py``), autogenerated from the differences
    between the database at ``url`` (which must be at the newest revision) and the models.
    Read and edit it before committing: Alembic cannot tell a rename from a drop and add."""
    config = config or migration_config()
    require_head(url, config)
    next_id = f"{int(head_revision(config)) + 1:04d}"
    with _locked_transaction(url) as connection:
        config.attributes["connection"] = connection
        scripts = command.revision(config, message=message, autogenerate=True, rev_id=next_id)
    script = scripts[0] if isinstance(scripts, list) else scripts
    if script is None:
        raise RuntimeError("Alembic wrote no revision")
    return Path(script.path)
