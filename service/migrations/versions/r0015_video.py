"""Issue 21, video: a scan records what it scanned (``media_kind``: image or video) and a
video's duration; a finding of a video is a face track with its time range and the time of
its best frame. Existing rows are images (null times).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 23:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite tables rebuilt by batch mode keep their AUTOINCREMENT (ids are never reused).
KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("scans", schema=None, table_kwargs=KEEP) as batch_op:
        batch_op.add_column(
            sa.Column("media_kind", sa.String(10), nullable=False, server_default="image")
        )
        batch_op.add_column(sa.Column("duration_s", sa.Float(), nullable=True))
    with op.batch_alter_table("findings", schema=None, table_kwargs=KEEP) as batch_op:
        batch_op.add_column(sa.Column("start_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("end_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("best_frame_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("findings", schema=None, table_kwargs=KEEP) as batch_op:
        batch_op.drop_column("best_frame_s")
        batch_op.drop_column("end_s")
        batch_op.drop_column("start_s")
    with op.batch_alter_table("scans", schema=None, table_kwargs=KEEP) as batch_op:
        batch_op.drop_column("duration_s")
        batch_op.drop_column("media_kind")
