"""Revision 0009 on a database that already holds consent: signatures stay signed, an
uploaded document becomes the agency's attestation, and every record gets its ledger
events, chained per talent so that the verification holds right after the upgrade.

Run on SQLite, and again on PostgreSQL by ``make test`` (scripts/with-postgres.sh)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import MetaData, Table, insert, select

from indexer.db import Database
from service.core.tables.licensing import ConsentEvent, ConsentRecord
from service.licensing import consent_ledger
from service.migrations import schema
from tests.conftest import TEST_DATABASE_URL, drop_everything

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`

SIGNED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
TERMS = '{"format":"twinwatch-licence-terms/1","licence_id":1}'
TERMS_SHA256 = hashlib.sha256(TERMS.encode("utf-8")).hexdigest()


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    if TEST_DATABASE_URL is None:
        yield f"sqlite:///{tmp_path / 'consent.db'}"
        return
    drop_everything(TEST_DATABASE_URL)
    yield TEST_DATABASE_URL
    drop_everything(TEST_DATABASE_URL)


def _rows_at_0008(url: str) -> None:
    """Two talents: Ana signed and withdrew, and her agency uploaded a document; Bea signed."""
    database = Database(url)
    try:
        metadata = MetaData()
        metadata.reflect(database.engine)
        table: dict[str, Table] = dict(metadata.tables)
        with database.engine.begin() as connection:
            connection.execute(insert(table["agencies"]).values(id=1, name="A", created_at=SIGNED))
            for talent_id, name in ((1, "Ana Lima"), (2, "Bea Costa")):
                connection.execute(
                    insert(table["talents"]).values(
                        id=talent_id, agency_id=1, name=name, status="active", created_at=SIGNED
                    )
                )
                connection.execute(
                    insert(table["licences"]).values(
                        id=talent_id,
                        talent_id=talent_id,
                        licensee="Maison Verte",
                        publishers=["shop.example"],
                        channels=["*"],
                        territories=["WORLD"],
                        media=["ai_replica"],
                        ai_label_required=True,
                        valid_from=SIGNED,
                        created_at=SIGNED,
                    )
                )
            record = {
                "method": "signature",
                "terms_sha256": TERMS_SHA256,
                "terms": TERMS,
                "created_at": SIGNED,
                "document_sha256": None,
                "withdrawn_at": None,
            }
            connection.execute(
                insert(table["consent_records"]),
                [
                    {
                        **record,
                        "id": 1,
                        "licence_id": 1,
                        "talent_id": 1,
                        "signer_name": "Ana Lima",
                        "signed_at": SIGNED,
                        "withdrawn_at": SIGNED + timedelta(days=2),
                    },
                    {
                        **record,
                        "id": 2,
                        "licence_id": 1,
                        "talent_id": 1,
                        "signer_name": "Ana Lima",
                        "signed_at": SIGNED + timedelta(days=1),
                        "method": "document",
                        "document_sha256": "d" * 64,
                        "withdrawn_at": SIGNED + timedelta(days=2),
                    },
                    {
                        **record,
                        "id": 3,
                        "licence_id": 2,
                        "talent_id": 2,
                        "signer_name": "Bea Costa",
                        "signed_at": SIGNED,
                    },
                ],
            )
    finally:
        database.dispose()


def test_existing_consent_gets_its_ledger_and_documents_become_attestations(url: str) -> None:
    schema.upgrade(url, "0008")
    _rows_at_0008(url)

    schema.upgrade(url)

    database = Database(url)
    try:
        with database.session() as session:
            statuses = dict(session.execute(select(ConsentRecord.id, ConsentRecord.status)).all())
            assert statuses == {1: "signed", 2: "attested_by_agency", 3: "signed"}
            events = session.execute(
                select(ConsentEvent.talent_id, ConsentEvent.seq, ConsentEvent.kind).order_by(
                    ConsentEvent.talent_id, ConsentEvent.seq
                )
            ).all()
            assert [tuple(e) for e in events] == [
                (1, 1, "signed"),
                (1, 2, "document_attested"),
                (1, 3, "withdrawn"),
                (2, 1, "signed"),
            ]
            result = consent_ledger.verify(session)
            assert result.ok, result.broken
            assert [(c.talent_id, c.length) for c in result.chains] == [(1, 3), (2, 1)]
    finally:
        database.dispose()
