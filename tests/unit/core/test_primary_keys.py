"""Primary keys: 64-bit everywhere, never reused after a delete (issue 7 §3, §4)."""

from __future__ import annotations

import pytest
from sqlalchemy import BigInteger, Integer, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateTable

from indexer.db import MAX_ID, Agency, Base, Database
from service.core.tables import alerts as models

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`

POSTGRESQL = postgresql.dialect()  # type: ignore[no-untyped-call]
SQLITE = sqlite.dialect()
INTEGER_KEY_TABLES = sorted(
    name
    for name, table in Base.metadata.tables.items()
    if any(isinstance(c.type, Integer) for c in table.primary_key.columns)
)


def test_every_service_table_is_registered() -> None:
    assert models.Alert.__tablename__ in INTEGER_KEY_TABLES
    assert len(INTEGER_KEY_TABLES) >= 20


def test_every_key_and_foreign_key_is_bigint_on_postgresql() -> None:
    for name in INTEGER_KEY_TABLES:
        table = Base.metadata.tables[name]
        for column in table.columns:
            if column.primary_key or column.foreign_keys:
                compiled = column.type.dialect_impl(POSTGRESQL)
                assert isinstance(compiled, BigInteger), f"{name}.{column.name}"
        ddl = str(CreateTable(table).compile(dialect=POSTGRESQL))
        assert "id BIGSERIAL" in ddl, name


def test_every_integer_key_uses_autoincrement_on_sqlite() -> None:
    for name in INTEGER_KEY_TABLES:
        ddl = str(CreateTable(Base.metadata.tables[name]).compile(dialect=SQLITE))
        assert "id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT" in ddl, name


def test_a_deleted_rows_id_is_never_handed_out_again(db: Database) -> None:
    with db.session() as session:
        first = Agency(name="first")
        second = Agency(name="second")
        session.add_all([first, second])
    with db.session() as session:
        session.execute(delete(Agency))
    with db.session() as session:
        again = Agency(name="again")
        session.add(again)
    assert again.id > second.id > first.id


def test_a_key_near_the_64_bit_limit_is_stored_and_read_back(db: Database) -> None:
    with db.session() as session:
        session.add(Agency(id=MAX_ID - 1, name="big"))
    with db.session() as session:
        assert session.get(Agency, MAX_ID - 1) is not None


def test_a_webhook_delivery_id_is_never_reused_after_its_alert_is_erased(db: Database) -> None:
    """Receivers drop duplicates by X-Twinwatch-Delivery (the delivery's id)."""
    with db.session() as session:
        agency = Agency(name="agency")
        session.add(agency)
        session.flush()
        hook = models.Webhook(agency_id=agency.id, url="https://hooks.example/tw", secret="s" * 32)
        session.add(hook)
        session.flush()
        first = models.WebhookDelivery(webhook_id=hook.id, event="alert.created", payload="{}")
        session.add(first)
    with db.session() as session:  # what erasing the talent does to its alert's deliveries
        session.execute(delete(models.WebhookDelivery))
    with db.session() as session:
        second = models.WebhookDelivery(webhook_id=hook.id, event="alert.created", payload="{}")
        session.add(second)
    assert second.id != first.id
