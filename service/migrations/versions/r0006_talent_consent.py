"""Issue 9, the talent's own view and consent: talent users and keys (one talent each,
erased with the talent), the agency's ``requires_talent_consent`` flag on licences (false
for existing ones), and consent records (a typed-name signature or an offline signed
document, with the sha256 of the exact terms signed; erased with the talent).

Existing AI-replica licences have no consent record after this revision, so they are not
in force until the talent signs them (the rule of service.licensing.consent).

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-28 13:38:07.759308
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# SQLite tables rebuilt by batch mode keep their AUTOINCREMENT (ids are never reused).
KEEP = {"sqlite_autoincrement": True}


def upgrade() -> None:
    op.create_table(
        "consent_records",
        sa.Column("id", KEY, autoincrement=True, nullable=False),
        sa.Column("licence_id", KEY, nullable=False),
        sa.Column("talent_id", KEY, nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("signer_name", sa.String(length=200), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("terms_sha256", sa.String(length=64), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("user_id", KEY, nullable=True),
        sa.Column("key_id", KEY, nullable=True),
        sa.Column("document_path", sa.String(length=500), nullable=True),
        sa.Column("document_sha256", sa.String(length=64), nullable=True),
        sa.Column("document_media_type", sa.String(length=50), nullable=True),
        sa.Column("document_bytes", sa.Integer(), nullable=True),
        sa.Column("document_name", sa.String(length=300), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by_user_id", KEY, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["licence_id"], ["licences.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["talent_id"], ["talents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["withdrawn_by_user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.create_index("ix_consent_records_licence_id", ["licence_id"], unique=False)
        batch_op.create_index("ix_consent_records_talent_id", ["talent_id"], unique=False)

    for table in ("api_keys", "users"):
        with op.batch_alter_table(table, schema=None, table_kwargs=KEEP) as batch_op:
            batch_op.add_column(sa.Column("talent_id", KEY, nullable=True))
            batch_op.create_index(f"ix_{table}_talent_id", ["talent_id"], unique=False)
            batch_op.create_foreign_key(
                f"fk_{table}_talent_id", "talents", ["talent_id"], ["id"], ondelete="CASCADE"
            )

    with op.batch_alter_table("licences", schema=None, table_kwargs=KEEP) as batch_op:
        batch_op.add_column(
            sa.Column(
                "requires_talent_consent", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("licences", schema=None, table_kwargs=KEEP) as batch_op:
        batch_op.drop_column("requires_talent_consent")
    for table in ("users", "api_keys"):
        op.execute(sa.text(f"DELETE FROM {table} WHERE talent_id IS NOT NULL"))
        with op.batch_alter_table(table, schema=None, table_kwargs=KEEP) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_talent_id", type_="foreignkey")
            batch_op.drop_index(f"ix_{table}_talent_id")
            batch_op.drop_column("talent_id")
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_records_talent_id")
        batch_op.drop_index("ix_consent_records_licence_id")
    op.drop_table("consent_records")
