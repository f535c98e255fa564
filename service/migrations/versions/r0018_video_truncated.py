"""Issue 21, video: a scan records why a video was cut short (``video_truncated``: the
duration, frame or sample bound, or a broken stream), so the answer can say the video was
not read to its end. Existing rows were read whole (null).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite tables rebuilt by batch mode keep their AUTOINCREMENT (ids are never reused).
KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("scans", schema=None, table_kwargs=KEEP) as batch_op:
        batch_op.add_column(sa.Column("video_truncated", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scans", schema=None, table_kwargs=KEEP) as batch_op:
        batch_op.drop_column("video_truncated")
