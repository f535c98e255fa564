"""Console roles (issue 8): a brand pre-check's stated intent, the medium (photo or
ai_replica) and the AI label the published asset will carry, kept on its scan for the
pre-check history and the clearance record. Both nullable: scans and older pre-checks
stated neither.

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-28 13:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("intended_medium", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("intended_ai_label", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_column("intended_ai_label")
        batch_op.drop_column("intended_medium")
