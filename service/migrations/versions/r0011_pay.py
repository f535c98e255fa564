"""Issue 17, pay is right: a use billed on a reviewer's "same person" remembers the alert it
rests on (``usage_events.alert_id``, set null if the alert goes), so dismissing that alert as
a false match takes the use off the ledger again.

Existing usage events all come from sure (``match``) sightings and keep a null ``alert_id``.
Flat fees need no column: when one accrues is computed from the licence
(service.licensing.fees).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# SQLite tables rebuilt by batch mode keep their AUTOINCREMENT (ids are never reused).
KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("usage_events", schema=None, table_kwargs=KEEP) as batch_op:
        batch_op.add_column(sa.Column("alert_id", KEY, nullable=True))
        batch_op.create_index("ix_usage_events_alert_id", ["alert_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_usage_events_alert_id", "alerts", ["alert_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_events", schema=None, table_kwargs=KEEP) as batch_op:
        batch_op.drop_constraint("fk_usage_events_alert_id", type_="foreignkey")
        batch_op.drop_index("ix_usage_events_alert_id")
        batch_op.drop_column("alert_id")
