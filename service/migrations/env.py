"""Alembic's environment: runs on the connection that :mod:`service.migrations.schema` hands
over (there is no alembic.ini and no URL here), against every table of the one declarative
base (the indexer's and the service's)."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from service.migrations.schema import COMPARE_OPTIONS, target_metadata

config = context.config
connection: Connection | None = config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "twinwatch migrations run through `twinwatch db ...` (or "
        "service.migrations.schema), which pass the connection in"
    )


def _render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Migrations are frozen: the UTC column type is written as the plain type it stores."""
    from indexer.db import UtcDateTime

    if kind == "type" and isinstance(item, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


context.configure(
    connection=connection,
    target_metadata=target_metadata(),
    render_as_batch=connection.dialect.name == "sqlite",
    render_item=_render_item,
    **COMPARE_OPTIONS,
)
with context.begin_transaction():
    context.run_migrations()
