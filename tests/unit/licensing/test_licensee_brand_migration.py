"""Revision 0012 on a database that already holds free-text licences: each licence whose
licensee is a brand's name as people write it (case, spaces, punctuation aside) is linked to
that brand; a legal form, a look-alike, or a name two brands share links nothing, and those
licences stay unlinked (the agency's licence page lists them). The migration's frozen copy of
the name rule agrees with ``service.rules.names``.

Run on SQLite, and again on PostgreSQL by ``make test`` (scripts/with-postgres.sh)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import MetaData, Table, insert, select

from indexer.db import Database
from service.core.tables.licensing import Licence
from service.migrations import schema
from service.rules.names import name_key
from tests.conftest import TEST_DATABASE_URL, drop_everything

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
BRANDS = {1: "Atelier Nord", 2: "H&M", 3: "Maison Verte", 4: "Maison-Verte"}
LICENSEES = {
    1: "atelier  NORD",  # Atelier Nord
    2: "Atelier Nord SAS",  # a legal form: not linked
    3: "H & M",  # H&M
    4: "Maison Verte",  # two brands write that way: neither
    5: "Zara",  # no such brand
    6: "Ateliér Nord",  # another letter: not linked
}


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    if TEST_DATABASE_URL is None:
        yield f"sqlite:///{tmp_path / 'licensees.db'}"
        return
    drop_everything(TEST_DATABASE_URL)
    yield TEST_DATABASE_URL
    drop_everything(TEST_DATABASE_URL)


def _rows_at_0011(url: str) -> None:
    database = Database(url)
    try:
        metadata = MetaData()
        metadata.reflect(database.engine)
        table: dict[str, Table] = dict(metadata.tables)
        with database.engine.begin() as connection:
            connection.execute(insert(table["agencies"]).values(id=1, name="A", created_at=AT))
            connection.execute(
                insert(table["talents"]).values(
                    id=1, agency_id=1, name="Ana Lima", status="active", created_at=AT
                )
            )
            for brand_id, name in BRANDS.items():
                connection.execute(
                    insert(table["brands"]).values(id=brand_id, name=name, created_at=AT)
                )
            for licence_id, licensee in LICENSEES.items():
                connection.execute(
                    insert(table["licences"]).values(
                        id=licence_id,
                        talent_id=1,
                        licensee=licensee,
                        publishers=["shop.example"],
                        channels=["*"],
                        territories=["WORLD"],
                        media=["photo"],
                        ai_label_required=True,
                        valid_from=AT,
                        created_at=AT,
                    )
                )
    finally:
        database.dispose()


def test_free_text_licensees_are_linked_to_the_brand_of_that_name_and_no_other(
    url: str,
) -> None:
    schema.upgrade(url, "0011")
    _rows_at_0011(url)

    schema.upgrade(url)

    database = Database(url)
    try:
        with database.session() as session:
            rows = session.execute(select(Licence.id, Licence.brand_id, Licence.licensee)).all()
            links = {licence_id: brand_id for licence_id, brand_id, _ in rows}
            names = {licence_id: licensee for licence_id, _, licensee in rows}
    finally:
        database.dispose()
    assert links == {1: 1, 2: None, 3: 2, 4: None, 5: None, 6: None}
    assert names == LICENSEES  # the name on the licence is never rewritten


def test_the_migrations_name_rule_is_the_services() -> None:
    frozen = importlib.import_module("service.migrations.versions.r0012_licensee_brands")
    for name in (*BRANDS.values(), *LICENSEES.values(), "", "  ", "Ｈ＆Ｍ", "Straße_Nord"):
        assert frozen.name_key(name) == name_key(name), name


@pytest.mark.parametrize(
    ("written", "brand", "same"),
    [
        ("atelier  NORD", "Atelier Nord", True),
        ("H & M", "H&M", True),
        ("Ｈ＆Ｍ", "H&M", True),  # full-width letters (NFKC)
        ("Atelier Nord SAS", "Atelier Nord", False),
        ("Maison-Verte", "Maison Verte", True),
        ("Ateliér Nord", "Atelier Nord", False),
    ],
)
def test_names_are_compared_as_people_write_them(written: str, brand: str, same: bool) -> None:
    assert (name_key(written) == name_key(brand)) is same
