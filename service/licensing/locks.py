"""Row locks that serialise consent acts, on both databases.

PostgreSQL locks the row itself (``SELECT ... FOR NO KEY UPDATE``: writers of the row wait,
while inserts that merely reference it, such as a scan's usage event, do not). SQLite has
one writer for the whole database, and a transaction there starts at its first write: a
no-op ``UPDATE`` of the row takes the write lock at once (waiting up to the busy timeout),
so everything read after it is the newest committed state and nobody writes before the
commit. Take the lock before reading what the decision depends on.
"""

from __future__ import annotations

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from indexer.db import Base


def lock_row(session: Session, model: type[Base], row_id: int, *, touch: str) -> None:
    """Hold ``model``'s row ``row_id`` until the transaction ends (see the module).

    ``touch`` names a plain (non-key) column that SQLite's no-op update sets to itself."""
    table = model.__table__
    assert isinstance(table, Table)
    key = table.c.id
    if session.get_bind().dialect.name == "sqlite":
        column = table.c[touch]
        session.execute(update(table).where(key == row_id).values({column: column}))
    else:
        session.execute(select(key).where(key == row_id).with_for_update(key_share=True))
