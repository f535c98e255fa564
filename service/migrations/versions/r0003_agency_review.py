"""Agency review: the best-matching reference photo per finding, and the faces a reviewer
said are "not the same person" (face rejections).

``findings.reference_image_id`` is empty for findings recorded before this revision (the
console falls back to the talent's clearest kept photo for them). ``face_rejections``
keeps fingerprints and a relative face box, never an embedding; rows go with the talent.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 13:37:24.412233
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REFERENCE_FK = "findings_reference_image_id_fkey"
AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    op.create_table(
        "face_rejections",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("talent_id", BIG_ID, nullable=False),
        sa.Column("image_sha256", sa.String(length=64), nullable=False),
        sa.Column("image_phash", sa.String(length=16), nullable=True),
        sa.Column("box", sa.JSON(), nullable=False),
        sa.Column("alert_id", BIG_ID, nullable=True),
        sa.Column("user_id", BIG_ID, nullable=True),
        sa.Column("key_id", BIG_ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["talent_id"], ["talents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("face_rejections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_face_rejections_image_sha256"), ["image_sha256"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_face_rejections_talent_id"), ["talent_id"], unique=False
        )

    # batch mode rebuilds the table on SQLite: keep its AUTOINCREMENT (ids never reused)
    with op.batch_alter_table("findings", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column("reference_image_id", BIG_ID, nullable=True))
        batch_op.create_foreign_key(
            REFERENCE_FK,
            "reference_images",
            ["reference_image_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("findings", schema=None, table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_constraint(REFERENCE_FK, type_="foreignkey")
        batch_op.drop_column("reference_image_id")

    with op.batch_alter_table("face_rejections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_face_rejections_talent_id"))
        batch_op.drop_index(batch_op.f("ix_face_rejections_image_sha256"))

    op.drop_table("face_rejections")
