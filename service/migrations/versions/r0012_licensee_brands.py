"""Issue 18, licences point at brands: an existing licence whose licensee is written as a
brand's name is linked to that brand (``licences.brand_id``), so that the brand's pre-checks
see it through the link alone.

Names are compared as people write them: Unicode-normalised, case-folded, punctuation and
spaces as one space ("Atelier  nord" is "Atelier Nord"; "Atelier Nord SAS" is not). A name
two brands share that way links to neither. Licences left unlinked are listed for their
agency on the console's licence page, to link by hand. No schema change: the column exists
since 0001.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 23:40:00.000000
"""

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOT_WORD = re.compile(r"[\W_]+")


def name_key(name: str) -> str:
    """service.rules.names.name_key as of this revision (a migration never changes)."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return _NOT_WORD.sub(" ", folded).strip()


def upgrade() -> None:
    connection = op.get_bind()
    brands = sa.table("brands", sa.column("id", sa.Integer), sa.column("name", sa.String))
    licences = sa.table(
        "licences",
        sa.column("id", sa.Integer),
        sa.column("licensee", sa.String),
        sa.column("brand_id", sa.Integer),
    )
    by_key: dict[str, list[int]] = {}
    for brand_id, name in connection.execute(sa.select(brands.c.id, brands.c.name)):
        by_key.setdefault(name_key(name), []).append(brand_id)
    unlinked = connection.execute(
        sa.select(licences.c.id, licences.c.licensee).where(licences.c.brand_id.is_(None))
    ).all()
    for licence_id, licensee in unlinked:
        found = by_key.get(name_key(licensee), [])
        if len(found) == 1 and name_key(licensee):
            connection.execute(
                sa.update(licences).where(licences.c.id == licence_id).values(brand_id=found[0])
            )


def downgrade() -> None:
    """Links stay: 0011 had the column and read a set link the same way."""
