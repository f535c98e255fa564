"""Console forms that create things happen once: an idempotency record may belong to a
console session (a one-time form token) instead of an API key.

``key_id`` becomes nullable and ``session_id`` (deleted with its session) is added, unique
with the key. Existing records all belong to API keys and keep their meaning. Downgrading
drops the session-owned records first (they have no API key).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 15:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
AUTOINCREMENT = {"sqlite_autoincrement": True}  # the rebuilt table keeps never-reused ids


def upgrade() -> None:
    with op.batch_alter_table(
        "idempotency_records", schema=None, table_kwargs=AUTOINCREMENT
    ) as batch_op:
        batch_op.add_column(sa.Column("session_id", BIG_ID, nullable=True))
        batch_op.alter_column("key_id", existing_type=BIG_ID, nullable=True)
        batch_op.create_unique_constraint(
            "uq_idempotency_session", ["session_id", "idempotency_key"]
        )
        batch_op.create_foreign_key(
            "fk_idempotency_records_session_id_user_sessions",
            "user_sessions",
            ["session_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    op.execute("DELETE FROM idempotency_records WHERE key_id IS NULL")
    with op.batch_alter_table(
        "idempotency_records", schema=None, table_kwargs=AUTOINCREMENT
    ) as batch_op:
        batch_op.drop_constraint(
            "fk_idempotency_records_session_id_user_sessions", type_="foreignkey"
        )
        batch_op.drop_constraint("uq_idempotency_session", type_="unique")
        batch_op.alter_column("key_id", existing_type=BIG_ID, nullable=False)
        batch_op.drop_column("session_id")
