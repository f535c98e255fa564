"""The start-up schema hook, without importing Alembic when there is nothing to do.

Every process (each `twinwatch scan`, each server start) opens the database through this
hook. Nearly always the database is already at the newest revision; reading that from
``alembic_version`` takes a query, while importing Alembic to find out took 0.16 s of each
start. So the newest shipped revision is read from the file names in ``versions/``
(``rNNNN_<slug>.py``, the migrations' own file template), and only a database that is not
there goes through ``schema.prepare_schema`` (upgrade SQLite in place, refuse an external
database that is behind). ``tests/unit/core/test_migrations.py`` holds the file-name head equal to
Alembic's.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Final

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from indexer.db import Database

VERSIONS_DIRECTORY: Final = Path(__file__).resolve().parent / "versions"
REVISION_FILE: Final = re.compile(r"^r(\d{4})_\w+\.py$")


@cache
def shipped_head() -> str:
    """The newest revision shipped (revisions are numbered, each file named by its own)."""
    numbers = [
        match.group(1)
        for path in VERSIONS_DIRECTORY.iterdir()
        if (match := REVISION_FILE.match(path.name))
    ]
    if not numbers:
        raise RuntimeError(f"no migrations in {VERSIONS_DIRECTORY}")
    return max(numbers)


def recorded_revision(db: Database) -> str | None:
    """The revision the database says it is at (None: no migration history yet)."""
    try:
        with db.engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:  # no alembic_version table: a new or a pre-migrations database
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def prepare_schema(db: Database) -> None:
    """The hook for ``open_database``: nothing when the database is at the newest revision,
    else the migrations' own start-up rule (``schema.prepare_schema``)."""
    if recorded_revision(db) == shipped_head():
        return
    from service.migrations import schema  # Alembic: only when something may need doing

    schema.prepare_schema(db)
