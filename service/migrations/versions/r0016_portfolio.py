"""Issue 22, derived images: a talent's portfolio (shoot and campaign images, kept for copy
detection, never for face matching) and the scans found derived from one.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 23:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import indexer.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    op.create_table(
        "portfolio_images",
        sa.Column("id", KEY, autoincrement=True, nullable=False),
        sa.Column("talent_id", KEY, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("face_x1", sa.Float(), nullable=True),
        sa.Column("face_y1", sa.Float(), nullable=True),
        sa.Column("face_x2", sa.Float(), nullable=True),
        sa.Column("face_y2", sa.Float(), nullable=True),
        sa.Column("stored_path", sa.String(length=500), nullable=False),
        sa.Column("created_at", indexer.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["talent_id"], ["talents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("talent_id", "sha256", name="uq_portfolio_talent_sha"),
        **KEEP,
    )
    with op.batch_alter_table("portfolio_images", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portfolio_images_talent_id"), ["talent_id"], unique=False
        )
    op.create_table(
        "derived_findings",
        sa.Column("id", KEY, autoincrement=True, nullable=False),
        sa.Column("scan_id", KEY, nullable=False),
        sa.Column("talent_id", KEY, nullable=False),
        sa.Column("portfolio_image_id", KEY, nullable=False),
        sa.Column("area_share", sa.Float(), nullable=False),
        sa.Column("scale", sa.Float(), nullable=False),
        sa.Column("rotation_deg", sa.Float(), nullable=False),
        sa.Column("mirrored", sa.Boolean(), nullable=False),
        sa.Column("inliers", sa.Integer(), nullable=False),
        sa.Column("region", sa.JSON(), nullable=False),
        sa.Column("face_present", sa.Boolean(), nullable=False),
        sa.Column("face_similarity", sa.Float(), nullable=True),
        sa.Column("face_replaced", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["portfolio_image_id"], ["portfolio_images.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["talent_id"], ["talents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        **KEEP,
    )
    with op.batch_alter_table("derived_findings", schema=None) as batch_op:
        for column in ("portfolio_image_id", "scan_id", "talent_id"):
            batch_op.create_index(
                batch_op.f(f"ix_derived_findings_{column}"), [column], unique=False
            )


def downgrade() -> None:
    op.drop_table("derived_findings")
    op.drop_table("portfolio_images")
