"""Alembic migrations are the only way the schema is made: they produce exactly the models'
schema, keep every row through an upgrade, adopt pre-migration databases only when they are
what revision 0001 made, and start-up upgrades embedded SQLite but never a server database.

Run on SQLite, and again on PostgreSQL by ``make test`` (scripts/with-postgres.sh).
The tests never name today's tables or columns: they hold for every later revision."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Integer, MetaData, Table, inspect, select, text
from sqlalchemy.engine import Connection
from typer.testing import CliRunner

from indexer.db import Base, Database
from indexer.settings import PROJECT_ROOT
from service.cli import app
from service.core.errors import (
    SchemaBehindError,
    SchemaNotAdoptableError,
    SchemaRevisionUnknownError,
)
from service.migrations import schema, startup
from tests.conftest import TEST_DATABASE_URL, drop_everything

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`

ROWS_PER_TABLE = 3


@pytest.fixture
def empty_url(tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all: a new SQLite file, or the emptied PostgreSQL one
    (``empty_shared_database`` migrates it again for the next test)."""
    if TEST_DATABASE_URL is None:
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    drop_everything(TEST_DATABASE_URL)
    yield TEST_DATABASE_URL
    drop_everything(TEST_DATABASE_URL)


@contextmanager
def connect(url: str) -> Iterator[Connection]:
    database = Database(url)
    try:
        with database.engine.begin() as connection:
            yield connection
    finally:
        database.dispose()


def table_names(url: str) -> set[str]:
    with connect(url) as connection:
        return set(inspect(connection).get_table_names())


def signature(url: str) -> dict[str, schema.TableSignature]:
    with connect(url) as connection:
        return schema.schema_signature(
            connection, set(inspect(connection).get_table_names()) - {"alembic_version"}
        )


def revision_of(url: str) -> str | None:
    return schema.schema_state(url).current


# --- (a) the migrations make exactly the models' schema --------------------------------------
def test_upgrade_from_empty_makes_exactly_the_models_schema(empty_url: str) -> None:
    outcome = schema.upgrade(empty_url)
    assert (outcome.before, outcome.after) == (None, schema.head_revision())
    assert schema.differences(empty_url) == []
    assert table_names(empty_url) == set(Base.metadata.tables) | {"alembic_version"}


def test_migrated_schema_has_the_same_keys_and_indexes_as_create_all(
    empty_url: str, tmp_path: Path
) -> None:
    """A second, independent comparison: columns, nullability, primary, foreign and unique
    keys and indexes, as the database reports them, against what ``create_all`` makes."""
    schema.upgrade(empty_url)
    migrated = signature(empty_url)
    if TEST_DATABASE_URL is None:
        reference_url = f"sqlite:///{tmp_path / 'create_all.db'}"
    else:
        drop_everything(empty_url)
        reference_url = empty_url
    reference = Database(reference_url)
    reference.create_all()
    reference.dispose()
    assert migrated == signature(reference_url)


def test_sqlite_tables_use_autoincrement_exactly_where_the_models_do(tmp_path: Path) -> None:
    """Alembic's comparison cannot see AUTOINCREMENT (ids never reused) on SQLite."""
    migrated_url = f"sqlite:///{tmp_path / 'migrated.db'}"
    schema.upgrade(migrated_url)
    reference = Database(f"sqlite:///{tmp_path / 'create_all.db'}")
    reference.create_all()
    reference.dispose()

    def autoincrement(url: str) -> dict[str, bool]:
        with connect(url) as connection:
            rows = connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
            ).all()
            return {
                name: "AUTOINCREMENT" in sql.upper()
                for name, sql in rows
                if name not in {"alembic_version", "sqlite_sequence"}
            }

    assert autoincrement(migrated_url) == autoincrement(reference.url)


def test_a_schema_that_drifted_from_the_models_is_reported(empty_url: str) -> None:
    schema.upgrade(empty_url)
    table = sorted(Base.metadata.tables)[0]
    with connect(empty_url) as connection:
        connection.execute(text(f"ALTER TABLE {table} ADD COLUMN stray_column INTEGER"))
    found = schema.differences(empty_url)
    assert [(d[0], d[2], d[3].name) for d in found] == [("remove_column", table, "stray_column")]


# --- (b) every row survives an upgrade --------------------------------------------------------
def _value(table: Table, column_name: str, row: int) -> Any:
    """A value of the column's type for row ``row`` (1-based); equal rows of a foreign key and
    the key it references, distinct rows everywhere else (so unique constraints hold)."""
    column = table.c[column_name]
    for foreign_key in column.foreign_keys:
        referred = foreign_key.column
        assert isinstance(referred.table, Table)
        return _value(referred.table, referred.name, row)
    if isinstance(column.type, JSON):
        return {"row": row, "items": [row, "x", None], "nested": {"ok": True}}
    kind = column.type.python_type
    if kind is bool:
        return row % 2 == 0
    if kind is int:
        return row if column.primary_key else row * 1000 + len(column_name)
    if kind is float:
        return row + 0.25
    if kind is str:
        text_value = f"{column_name}-{row}-ü"
        length = getattr(column.type, "length", None)
        return text_value[-length:] if length else text_value
    if kind is datetime:
        return datetime(2025, 1, 1, 12, tzinfo=UTC) + timedelta(days=row, microseconds=row)
    if kind is bytes:
        return bytes([row, 0, 255]) * 4
    raise AssertionError(f"no test value for {table.name}.{column_name}: {column.type!r}")


def _reflect(connection: Connection) -> list[Table]:
    metadata = MetaData()
    metadata.reflect(connection)
    return [t for t in metadata.sorted_tables if t.name != "alembic_version"]


def fill_every_table(url: str) -> None:
    with connect(url) as connection:
        for table in _reflect(connection):
            connection.execute(
                table.insert(),
                [
                    {c.name: _value(table, c.name, row) for c in table.columns}
                    for row in range(1, ROWS_PER_TABLE + 1)
                ],
            )


def every_row(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, as column -> value (ordered by primary key)."""
    with connect(url) as connection:
        return {
            table.name: [
                dict(row._mapping)
                for row in connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in _reflect(connection)
        }


def kept_columns(
    before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """``after`` restricted to the tables and columns that existed ``before`` (a later
    revision may add columns; it must not lose or change a value that was there)."""
    return {
        name: [{column: row[column] for column in rows[0]} for row in after[name]]
        if rows
        else after[name]
        for name, rows in before.items()
    }


def test_every_row_survives_the_upgrade_from_the_initial_revision(empty_url: str) -> None:
    schema.upgrade(empty_url, schema.INITIAL_REVISION)
    fill_every_table(empty_url)
    before = every_row(empty_url)
    assert before and all(len(rows) == ROWS_PER_TABLE for rows in before.values())

    schema.upgrade(empty_url)

    after = every_row(empty_url)
    assert revision_of(empty_url) == schema.head_revision()
    assert kept_columns(before, after) == before


REBUILD_EVERY_TABLE = '''"""Test only: integer columns become BIGINT (SQLite: tables rebuilt)."""
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = {head!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    recreate = "always" if bind.dialect.name == "sqlite" else "never"
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        with op.batch_alter_table(table, recreate=recreate) as batch:
            for column in inspector.get_columns(table):
                if isinstance(column["type"], sa.Integer):
                    batch.alter_column(column["name"], type_=sa.BigInteger(),
                                       existing_type=column["type"],
                                       existing_nullable=column["nullable"])


def downgrade() -> None:
    raise NotImplementedError
'''


def test_every_row_survives_a_revision_that_rebuilds_every_table(
    empty_url: str, tmp_path: Path
) -> None:
    """What a key-type change does on SQLite (batch mode copies each table into a new one and
    drops the old): no row lost, and no ON DELETE CASCADE fired by the drops."""
    scripts = tmp_path / "migrations"
    shutil.copytree(schema.SCRIPT_LOCATION, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "r9999_rebuild.py").write_text(
        REBUILD_EVERY_TABLE.format(head=schema.head_revision())
    )
    config = schema.migration_config(scripts)
    schema.upgrade(empty_url, schema.INITIAL_REVISION, config=config)
    fill_every_table(empty_url)
    before = every_row(empty_url)

    outcome = schema.upgrade(empty_url, config=schema.migration_config(scripts))

    assert outcome.after == "9999"
    assert kept_columns(before, every_row(empty_url)) == before
    with connect(empty_url) as connection:
        for table in _reflect(connection):
            for column in table.columns:
                if isinstance(column.type, Integer):
                    assert column.type.python_type is int
                    assert "BIG" in str(column.type).upper(), (table.name, column.name)


def test_new_revision_is_written_from_the_models_and_closes_the_gap(
    empty_url: str, tmp_path: Path
) -> None:
    """The developer's loop: the database lacks something the models have (here: an index
    is dropped from it), `db revision` writes a migration, the upgrade makes them agree."""
    scripts = tmp_path / "migrations"
    shutil.copytree(schema.SCRIPT_LOCATION, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    schema.upgrade(empty_url)
    tables = signature(empty_url)
    table = next(name for name in sorted(tables) if tables[name][4])
    index = tables[table][4][0][0]
    with connect(empty_url) as connection:
        connection.execute(text(f"DROP INDEX {index}"))
    assert schema.differences(empty_url) != []

    written = schema.new_revision(
        empty_url, "restore an index", config=schema.migration_config(scripts)
    )

    assert written.parent == scripts / "versions"
    assert written.name == f"r{int(schema.head_revision()) + 1:04d}_restore_an_index.py"
    assert index in written.read_text()
    schema.upgrade(empty_url, config=schema.migration_config(scripts))
    assert schema.differences(empty_url) == []


# --- (c) pre-migration databases, unknown revisions, start-up, the command --------------------
def _pre_migration_database(url: str) -> None:
    """What `create_all` made before migrations: revision 0001's tables, no history."""
    schema.upgrade(url, schema.INITIAL_REVISION)
    with connect(url) as connection:
        connection.execute(text("DROP TABLE alembic_version"))


def test_pre_migration_database_is_adopted_at_the_initial_revision(empty_url: str) -> None:
    _pre_migration_database(empty_url)
    fill_every_table(empty_url)
    before = every_row(empty_url)

    outcome = schema.upgrade(empty_url)

    assert outcome.adopted
    assert (outcome.before, outcome.after) == (schema.INITIAL_REVISION, schema.head_revision())
    after = every_row(empty_url)
    assert kept_columns(before, after) == before
    assert schema.differences(empty_url) == []


def test_create_all_database_is_adopted_while_models_are_at_the_initial_revision(
    empty_url: str,
) -> None:
    """The literal case, for as long as the models are revision 0001's: a database that
    `create_all` made (as every release before migrations did) is adopted."""
    if schema.head_revision() != schema.INITIAL_REVISION:
        pytest.skip(
            "the models have moved past revision 0001: today's create_all is not a "
            "pre-migration database (the test above covers those)"
        )
    database = Database(empty_url)
    database.create_all()
    database.dispose()
    assert schema.upgrade(empty_url).adopted
    assert revision_of(empty_url) == schema.INITIAL_REVISION


def test_pre_migration_database_unlike_the_initial_revision_is_refused(empty_url: str) -> None:
    _pre_migration_database(empty_url)
    tables = signature(empty_url)
    index_name = next(name for name in sorted(tables) if tables[name][4])  # has an index
    dropped = tables[index_name][4][0][0]
    with connect(empty_url) as connection:
        connection.execute(text(f"DROP INDEX {dropped}"))

    with pytest.raises(SchemaNotAdoptableError) as refused:
        schema.upgrade(empty_url)

    assert refused.value.details["tables"] == [index_name]
    assert "alembic_version" not in table_names(empty_url)


def test_database_at_an_unknown_revision_is_refused(empty_url: str) -> None:
    schema.upgrade(empty_url)
    with connect(empty_url) as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    database = Database(empty_url)
    try:
        with pytest.raises(SchemaRevisionUnknownError, match="newer release"):
            startup.prepare_schema(database)
    finally:
        database.dispose()


def test_start_up_upgrades_embedded_sqlite_but_never_a_server_database(empty_url: str) -> None:
    database = Database(empty_url)
    try:
        if database.engine.dialect.name == "sqlite":
            startup.prepare_schema(database)
            assert revision_of(empty_url) == schema.head_revision()
        else:
            with pytest.raises(SchemaBehindError, match="twinwatch db upgrade"):
                startup.prepare_schema(database)
            assert table_names(empty_url) == set()
    finally:
        database.dispose()


def test_newest_revision_read_from_file_names_is_alembics_head() -> None:
    assert startup.shipped_head() == schema.head_revision()


def test_start_up_at_the_newest_revision_does_not_import_alembic(empty_url: str) -> None:
    schema.upgrade(empty_url)
    code = (
        "import sys; from indexer.db import Database; "
        "from service.migrations import startup; database = Database(sys.argv[1]); "
        "startup.prepare_schema(database); database.dispose(); "
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'alembic'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, empty_url],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    )
    assert result.stdout.strip() == "[]"
    assert revision_of(empty_url) == schema.head_revision()


def test_concurrent_upgrades_of_one_sqlite_file_take_turns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    outcomes: list[schema.UpgradeOutcome] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            outcomes.append(schema.upgrade(url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted((o.before or "", o.after) for o in outcomes) == sorted(
        [("", schema.head_revision())] + [(schema.head_revision(), schema.head_revision())] * 2
    )
    assert schema.differences(url) == []


def _cli(tmp_path: Path, *args: str) -> tuple[int, str]:
    env = {"TWINWATCH_DATA_DIR": str(tmp_path / "var")}
    if TEST_DATABASE_URL is not None:
        env["TWINWATCH_DATABASE_URL"] = TEST_DATABASE_URL
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_db_commands_upgrade_report_and_check(empty_url: str, tmp_path: Path) -> None:
    head = schema.head_revision()
    assert _cli(tmp_path, "db", "current") == (
        0,
        f"database: none; newest: {head} (run `twinwatch db upgrade`)\n",
    )
    code, output = _cli(tmp_path, "db", "check")
    assert code == 1 and "schema_behind" in output

    assert _cli(tmp_path, "db", "upgrade") == (0, f"database upgraded from empty to {head}\n")
    assert _cli(tmp_path, "db", "upgrade") == (0, f"database already at revision {head}\n")
    assert _cli(tmp_path, "db", "current") == (
        0,
        f"database: {head}; newest: {head} (up to date)\n",
    )
    assert _cli(tmp_path, "db", "check") == (0, "the database matches the models\n")


def test_db_check_fails_when_the_database_differs_from_the_models(
    empty_url: str, tmp_path: Path
) -> None:
    assert _cli(tmp_path, "db", "upgrade")[0] == 0
    url = TEST_DATABASE_URL or f"sqlite:///{(tmp_path / 'var' / 'twinwatch.db').resolve()}"
    table = sorted(Base.metadata.tables)[-1]
    with connect(url) as connection:
        connection.execute(text(f"ALTER TABLE {table} ADD COLUMN stray_column INTEGER"))
    code, output = _cli(tmp_path, "db", "check")
    assert code == 1
    assert "stray_column" in output and "1 differences" in output


def test_db_upgrade_command_adopts_a_pre_migration_database(empty_url: str, tmp_path: Path) -> None:
    url = TEST_DATABASE_URL or f"sqlite:///{(tmp_path / 'var' / 'twinwatch.db').resolve()}"
    (tmp_path / "var").mkdir()
    _pre_migration_database(url)
    code, output = _cli(tmp_path, "db", "upgrade")
    assert code == 0
    assert output.startswith(f"adopted the existing tables as revision {schema.INITIAL_REVISION}")
    assert revision_of(url) == schema.head_revision()


def test_commands_that_open_the_database_make_its_schema_or_refuse(
    empty_url: str, tmp_path: Path
) -> None:
    """`keys create` on a new data folder: SQLite is migrated on the spot; a server database
    that is behind is refused with one line and left untouched."""
    code, output = _cli(tmp_path, "keys", "create", "--role", "admin")
    if TEST_DATABASE_URL is None:
        assert code == 0, output
        assert (
            revision_of(f"sqlite:///{(tmp_path / 'var' / 'twinwatch.db').resolve()}")
            == schema.head_revision()
        )
    else:
        assert code == 1
        message = " ".join(output.split())  # one message, however the console wraps it
        assert message.startswith("error (schema_behind): ")
        assert message.endswith("run `twinwatch db upgrade` once, then start again")
        assert table_names(TEST_DATABASE_URL) == set()


def test_issue_7_revision_fills_new_columns_for_existing_rows(empty_url: str) -> None:
    """0002 on a database with rows: alerts name their first sighting's model pack, and a
    licence that already had approved assets stays limited to them (its old behaviour)."""
    schema.upgrade(empty_url, schema.INITIAL_REVISION)
    fill_every_table(empty_url)
    with connect(empty_url) as connection:
        expected: dict[int, str] = dict(
            connection.execute(
                text(
                    "SELECT a.alert_id, s.pack_name FROM alert_sightings a JOIN scans s "
                    "ON s.id = a.scan_id WHERE a.id IN (SELECT MIN(id) FROM alert_sightings "
                    "GROUP BY alert_id)"
                )
            ).all()
        )
        with_assets = set(
            connection.execute(text("SELECT licence_id FROM licence_assets")).scalars()
        )
    schema.upgrade(empty_url, "0002")
    with connect(empty_url) as connection:
        packs: dict[int, str] = dict(
            connection.execute(text("SELECT id, pack_name FROM alerts")).all()
        )
        scopes: dict[int, str] = dict(
            connection.execute(text("SELECT id, asset_scope FROM licences")).all()
        )
        reasons = list(connection.execute(text("SELECT reasons FROM findings")).scalars())
    assert packs == {alert: expected.get(alert, "unknown") for alert in packs}
    assert expected and with_assets
    assert all(
        scopes[i] == ("approved_assets" if i in with_assets else "any_image") for i in scopes
    )
    assert reasons and all(r in ("[]", []) for r in reasons)  # JSON text (SQLite) or list
