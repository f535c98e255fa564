"""Issue 18, review states agree: a decided alert (dismissed as a false match, licensed
elsewhere, confirmed as a violation) never needs review (service.alerts.states.needs_review).
Alerts decided before this rule kept ``needs_review`` true; this clears it. Data only; the
downgrade leaves the rows as they are (the old value cannot be told from the new).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 23:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DECIDED = ("dismissed_false_match", "licensed_elsewhere", "confirmed_violation")


def upgrade() -> None:
    alerts = sa.table(
        "alerts", sa.column("status", sa.String), sa.column("needs_review", sa.Boolean)
    )
    op.execute(alerts.update().where(alerts.c.status.in_(DECIDED)).values(needs_review=sa.false()))


def downgrade() -> None:
    pass
