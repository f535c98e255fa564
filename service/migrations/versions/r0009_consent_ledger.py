"""Issue 17, consent that holds up in a dispute: the consent ledger (``consent_events``, one
hash chain per talent, and ``consent_chains``, each chain's head) and the standing of a
consent record (``status``: signed | attested_by_agency | confirmed, with who confirmed a
document and when).

Existing records: a typed-name signature stays ``signed``. An offline document the agency
uploaded becomes ``attested_by_agency``: under the new rule it is the agency's statement
until the talent confirms it in her own account or an admin verifies it, so an AI-replica
licence resting on such a document alone is not in force until then (its status reads
``awaiting_confirmation``). Each existing record gets its ledger events (its creation at
``signed_at`` and, if withdrawn, its withdrawal), marked ``"backfilled": "0009"`` in their
detail, chained per talent in time order with the same canonical serialisation as
``service.licensing.consent_ledger`` (format ``twinwatch-consent-event/1``, frozen here), so
``twinwatch consent verify`` holds after the upgrade. Licences awaiting a first signature
get no event until their terms next change.

Downgrading drops the ledger and the new columns (the records' status is lost).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 20:51:48.626852
"""

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
KEEP = {"sqlite_autoincrement": True}  # SQLite tables rebuilt by batch mode keep AUTOINCREMENT
TS = sa.DateTime(timezone=True)
GENESIS = "0" * 64


def upgrade() -> None:
    _create_ledger()
    with op.batch_alter_table("consent_records", schema=None, table_kwargs=KEEP) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=30), server_default="signed", nullable=False)
        )
        batch_op.add_column(sa.Column("confirmed_by", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("confirmed_at", TS, nullable=True))
        batch_op.add_column(sa.Column("confirmed_by_user_id", KEY, nullable=True))
        batch_op.add_column(sa.Column("confirmed_by_key_id", KEY, nullable=True))
        batch_op.create_foreign_key(
            "fk_consent_records_confirmed_by_key_id",
            "api_keys",
            ["confirmed_by_key_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            "fk_consent_records_confirmed_by_user_id",
            "users",
            ["confirmed_by_user_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.execute(
        sa.text(
            "UPDATE consent_records SET status = 'attested_by_agency' WHERE method = 'document'"
        )
    )
    _backfill()


def _create_ledger() -> None:
    op.create_table(
        "consent_chains",
        sa.Column("id", KEY, autoincrement=True, nullable=False),
        sa.Column("talent_id", KEY, nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("head_sha256", sa.String(length=64), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["talent_id"], ["talents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("talent_id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "consent_events",
        sa.Column("id", KEY, autoincrement=True, nullable=False),
        sa.Column("talent_id", KEY, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("licence_id", KEY, nullable=False),
        sa.Column("record_id", KEY, nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("terms_sha256", sa.String(length=64), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("actor_user_id", KEY, nullable=True),
        sa.Column("actor_key_id", KEY, nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_sha256", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["licence_id"], ["licences.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["record_id"], ["consent_records.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["talent_id"], ["talents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("talent_id", "seq", name="uq_consent_event_seq"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        for column in ("licence_id", "record_id", "talent_id"):
            batch_op.create_index(f"ix_consent_events_{column}", [column], unique=False)


# --- the backfill: format twinwatch-consent-event/1, frozen ---------------------------------
RECORDS = sa.table(
    "consent_records",
    *(sa.column(name, KEY) for name in ("id", "licence_id", "talent_id", "user_id", "key_id")),
    sa.column("withdrawn_by_user_id", KEY),
    *(sa.column(name, sa.String()) for name in ("method", "signer_name", "terms_sha256")),
    sa.column("terms", sa.Text()),
    sa.column("document_sha256", sa.String()),
    sa.column("signed_at", TS),
    sa.column("withdrawn_at", TS),
)
EVENTS = sa.table(
    "consent_events",
    *(sa.column(name, KEY) for name in ("talent_id", "licence_id", "record_id")),
    *(sa.column(name, KEY) for name in ("actor_user_id", "actor_key_id")),
    sa.column("seq", sa.Integer()),
    sa.column("at", TS),
    sa.column("detail", sa.JSON()),
    *(
        sa.column(name, sa.String())
        for name in ("kind", "terms_sha256", "terms", "actor_role", "prev_sha256", "sha256")
    ),
)
CHAINS = sa.table(
    "consent_chains",
    sa.column("talent_id", KEY),
    sa.column("length", sa.Integer()),
    sa.column("head_sha256", sa.String()),
    sa.column("updated_at", TS),
)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _instant(value: datetime) -> str:
    fraction = f".{value.microsecond:06d}" if value.microsecond else ""
    return value.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def _sha256(event: dict[str, Any]) -> str:
    document = {
        "format": "twinwatch-consent-event/1",
        **{k: event[k] for k in ("talent_id", "seq", "licence_id", "record_id", "kind")},
        "at": _instant(event["at"]),
        "terms_sha256": event["terms_sha256"],
        "actor": {
            "role": event["actor_role"],
            "user_id": event["actor_user_id"],
            "key_id": event["actor_key_id"],
        },
        "detail": event["detail"],
        "prev_sha256": event["prev_sha256"],
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _events_of(records: list[Any]) -> list[tuple[datetime, int, int, dict[str, Any]]]:
    """(time, order, record id, event) for each creation and each withdrawal."""
    found: list[tuple[datetime, int, int, dict[str, Any]]] = []
    withdrawals: dict[tuple[int, datetime], list[Any]] = {}
    for r in records:
        document = r.method == "document"
        found.append(
            (
                _utc(r.signed_at),
                0,
                r.id,
                {
                    "licence_id": r.licence_id,
                    "record_id": r.id,
                    "kind": "document_attested" if document else "signed",
                    "at": _utc(r.signed_at),
                    "terms_sha256": r.terms_sha256,
                    "terms": r.terms,
                    "actor_role": "agency" if document else "talent",
                    "actor_user_id": r.user_id,
                    "actor_key_id": r.key_id,
                    "detail": {
                        "document_sha256": r.document_sha256,
                        "signer_name": r.signer_name,
                        "backfilled": "0009",
                    },
                },
            )
        )
        if r.withdrawn_at is not None:
            withdrawals.setdefault((r.licence_id, _utc(r.withdrawn_at)), []).append(r)
    for (licence_id, at), group in withdrawals.items():
        last = group[-1]
        found.append(
            (
                at,
                1,
                last.id,
                {
                    "licence_id": licence_id,
                    "record_id": None,
                    "kind": "withdrawn",
                    "at": at,
                    "terms_sha256": last.terms_sha256,
                    "terms": last.terms,
                    "actor_role": "talent",
                    "actor_user_id": last.withdrawn_by_user_id,
                    "actor_key_id": None,
                    "detail": {"records": [r.id for r in group], "backfilled": "0009"},
                },
            )
        )
    return sorted(found, key=lambda item: item[:3])


def _backfill() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(RECORDS).order_by(RECORDS.c.talent_id, RECORDS.c.id)).all()
    by_talent: dict[int, list[Any]] = {}
    for row in rows:
        by_talent.setdefault(row.talent_id, []).append(row)
    for talent_id, records in by_talent.items():
        events = [event for *_, event in _events_of(records)]
        previous = GENESIS
        for seq, event in enumerate(events, start=1):
            event.update(talent_id=talent_id, seq=seq, prev_sha256=previous)
            event["sha256"] = previous = _sha256(event)
            bind.execute(sa.insert(EVENTS).values(**event))
        bind.execute(
            sa.insert(CHAINS).values(
                talent_id=talent_id,
                length=len(events),
                head_sha256=previous,
                updated_at=events[-1]["at"],
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("consent_records", schema=None, table_kwargs=KEEP) as batch_op:
        batch_op.drop_constraint("fk_consent_records_confirmed_by_user_id", type_="foreignkey")
        batch_op.drop_constraint("fk_consent_records_confirmed_by_key_id", type_="foreignkey")
        for column in (
            "confirmed_by_key_id",
            "confirmed_by_user_id",
            "confirmed_at",
            "confirmed_by",
            "status",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        for column in ("talent_id", "record_id", "licence_id"):
            batch_op.drop_index(f"ix_consent_events_{column}")
    op.drop_table("consent_events")
    op.drop_table("consent_chains")
