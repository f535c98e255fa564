"""Issue 22, derived images: what alterations of the talent's photos a licence allows
("none", the default, or "retouching"; face replacement is never allowed).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("licences", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "alterations_allowed",
                sa.String(length=20),
                server_default="none",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("licences", schema=None) as batch_op:
        batch_op.drop_column("alterations_allowed")
