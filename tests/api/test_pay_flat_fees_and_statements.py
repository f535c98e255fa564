"""Flat fees in the ledger and monthly statements, through the real API (TestClient, a real
database, the fake analyser): when a flat fee is owed, that the ledger, its CSV and the
statements (JSON, CSV, PDF) agree, and who may read which statement."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from indexer.db import utcnow
from service.licensing.statements import StatementFormat
from tests.support.agency import bearer
from tests.support.console import ConsoleWorld
from tests.support.pay import (
    ADA,
    BEA,
    GRACE,
    csv_rows,
    get,
    ledger,
    licence,
    month_of,
    pay_world,
    sighting,
    statement,
)
from tests.support.takedowns import pdf_available, pdf_text

pytestmark = pytest.mark.postgres

NOW = utcnow()
THIS_MONTH = month_of(NOW)
FIRST_OF_THIS_MONTH = NOW.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
LAST_MONTH_DAY = FIRST_OF_THIS_MONTH - timedelta(days=10)
LAST_MONTH = month_of(LAST_MONTH_DAY)
FEE = {"flat_fee": "1000.00", "per_use": "25.00", "currency": "EUR"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with pay_world(tmp_path) as built:
        yield built


def totals_by_licence(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {t["licence_id"]: t for t in report["totals"]}


def sign(world: ConsoleWorld, who: str, licence_id: int) -> dict[str, Any]:
    terms = get(world, who, f"/v1/licences/{licence_id}/consent").json()["terms_sha256"]
    signed = world.client.post(
        f"/v1/licences/{licence_id}/consent",
        headers=bearer(world, who),
        json={"signature_name": ADA, "terms_sha256": terms},
    )
    assert signed.status_code == 201, signed.text
    return dict(signed.json())


# --- flat fees in the ledger ------------------------------------------------------------------
def test_a_flat_fee_is_owed_once_per_licence_in_the_ledger_and_its_csv(
    world: ConsoleWorld,
) -> None:
    lid = licence(world, compensation=FEE)["id"]
    alone = totals_by_licence(ledger(world))[lid]  # no use yet: the flat fee alone
    assert (alone["uses"], alone["flat_fee_owed"], alone["amount_owed"]) == (
        0,
        "1000.00",
        "1000.00",
    )

    sighting(world, seed=3)
    sighting(world, seed=4)
    report = ledger(world)
    total = totals_by_licence(report)[lid]
    assert (total["uses"], total["per_use_amount"], total["flat_fee_owed"]) == (
        2,
        "50.00",
        "1000.00",
    )
    assert total["amount_owed"] == "1050.00"
    assert report["owed"] == [
        {
            "currency": "EUR",
            "uses": 2,
            "per_use_amount": "50.00",
            "flat_fees": "1000.00",
            "amount_owed": "1050.00",
        }
    ]
    assert ledger(world, "ada")["owed"] == report["owed"]  # the talent's own Pay

    rows = csv_rows(get(world, "agency", "/v1/usage", format="csv").text)
    (licence_row,) = [r for r in rows if r["row"] == "total"]
    assert (licence_row["flat_fee"], licence_row["amount_owed"]) == ("1000.00", "1050.00")
    (owed_row,) = [r for r in rows if r["row"] == "owed"]
    assert (owed_row["currency"], owed_row["flat_fee"], owed_row["amount_owed"]) == (
        "EUR",
        "1000.00",
        "1050.00",
    )


def test_a_flat_fee_is_not_owed_before_the_licence_is_in_force(world: ConsoleWorld) -> None:
    later = licence(world, valid_from=(NOW + timedelta(days=3)).isoformat(), compensation=FEE)
    revoked = licence(world, valid_from=(NOW + timedelta(days=3)).isoformat(), compensation=FEE)
    assert (
        world.client.post(
            f"/v1/licences/{revoked['id']}/revoke",
            headers=bearer(world, "agency"),
            json={"reason": "cancelled before it began"},
        ).status_code
        == 200
    )
    expired = licence(
        world,
        valid_from=(NOW - timedelta(days=9)).isoformat(),
        valid_until=(NOW - timedelta(days=8)).isoformat(),
        compensation=FEE,
    )
    owed = totals_by_licence(ledger(world))
    assert later["id"] not in owed and revoked["id"] not in owed
    assert owed[expired["id"]]["flat_fee_owed"] == "1000.00"  # it was in force for a day


def test_a_flat_fee_needing_the_talents_consent_is_owed_from_her_signature(
    world: ConsoleWorld,
) -> None:
    lid = licence(world, compensation=FEE, requires_talent_consent=True)["id"]
    assert lid not in totals_by_licence(ledger(world))
    signed = sign(world, "ada", lid)
    total = totals_by_licence(ledger(world))[lid]
    assert total["flat_fee_owed"] == "1000.00"
    assert total["flat_fee_accrued_at"] == signed["signed_at"]
    withdrawn = world.client.post(
        f"/v1/licences/{lid}/consent/withdraw", headers=bearer(world, "ada")
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert totals_by_licence(ledger(world))[lid]["flat_fee_owed"] == "1000.00"  # earned


def test_flat_fees_are_totalled_per_currency(world: ConsoleWorld) -> None:
    licence(world, compensation={"flat_fee": "300.00", "currency": "USD"})
    licence(world, compensation={"flat_fee": "200.00", "currency": "EUR"})
    licence(world, BEA, compensation={"flat_fee": "50.00", "currency": "EUR"})
    owed = {o["currency"]: o["amount_owed"] for o in ledger(world)["owed"]}
    assert owed == {"EUR": "250.00", "USD": "300.00"}
    assert {o["currency"]: o["flat_fees"] for o in ledger(world, "ada")["owed"]} == {
        "EUR": "200.00",
        "USD": "300.00",
    }


# --- statements ---------------------------------------------------------------------------------
def two_months(world: ConsoleWorld) -> tuple[int, int]:
    """Ada: a flat-fee licence that began last month with a use then and two this month;
    Bea: a per-use licence used this month."""
    ada = licence(
        world, compensation=FEE, valid_from=(LAST_MONTH_DAY - timedelta(days=1)).isoformat()
    )
    sighting(world, seed=3, observed_at=LAST_MONTH_DAY.isoformat())
    sighting(world, seed=4, publisher="shop.example", page="/p/2")
    sighting(world, seed=5)
    bea = licence(world, BEA, compensation={"per_use": "7.50", "currency": "EUR"})
    sighting(world, BEA, seed=6)
    return ada["id"], bea["id"]


def test_the_statement_csv_totals_equal_the_ledger_for_that_month(world: ConsoleWorld) -> None:
    ada, _ = two_months(world)
    for month, first, last in (
        (THIS_MONTH, FIRST_OF_THIS_MONTH.date(), NOW.date() + timedelta(days=1)),
        (LAST_MONTH, LAST_MONTH_DAY.replace(day=1).date(), FIRST_OF_THIS_MONTH.date()),
    ):
        month_ledger = ledger(world, **{"from": first.isoformat(), "to": last.isoformat()})
        response = statement(world, "agency", month, StatementFormat.CSV)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert f"twinwatch-statement-{month}.csv" in response.headers["content-disposition"]
        rows = csv_rows(response.text)
        totals = {r["currency"]: r["amount"] for r in rows if r["row"] == "total"}
        assert totals == {o["currency"]: o["amount_owed"] for o in month_ledger["owed"]}
        uses = [r for r in rows if r["row"] == "use"]
        assert len(uses) == len(month_ledger["events"])
        licence_totals = sum(Decimal(r["amount"]) for r in rows if r["row"] == "licence_total")
        assert licence_totals == Decimal(totals["EUR"])

    this_month = csv_rows(statement(world, "agency", THIS_MONTH, StatementFormat.CSV).text)
    assert {r["amount"] for r in this_month if r["row"] == "total"} == {"57.50"}  # 2x25 + 7.50
    assert not [r for r in this_month if r["row"] == "flat_fee"]  # it fell due last month
    last_month = csv_rows(statement(world, "agency", LAST_MONTH, StatementFormat.CSV).text)
    (fee,) = [r for r in last_month if r["row"] == "flat_fee"]
    assert (fee["licence_id"], fee["amount"]) == (str(ada), "1000.00")
    assert {r["amount"] for r in last_month if r["row"] == "total"} == {"1025.00"}


def test_the_statement_lists_each_licence_with_its_terms_uses_and_totals(
    world: ConsoleWorld,
) -> None:
    ada, bea = two_months(world)
    body = statement(world, "agency", THIS_MONTH).json()
    assert body["month"] == THIS_MONTH and body["issued_for"] == "Demo Agency"
    by_licence = {item["licence_id"]: item for item in body["licences"]}
    assert set(by_licence) == {ada, bea}
    item = by_licence[ada]
    assert item["talent"] == ADA and item["licensee"] == "Maison Verte"
    assert "shop.example" in item["terms"] and "flat fee 1000.00 EUR" in item["terms"]
    assert [(u["publisher"], u["per_use"]) for u in item["uses"]] == [
        ("shop.example", "25.00"),
        ("shop.example", "25.00"),
    ]
    assert item["flat_fee"] is None and item["amount_owed"] == "50.00"
    assert body["totals"][0]["amount_owed"] == "57.50"

    one_talent = statement(world, "agency", THIS_MONTH, talent_id=world.talents[BEA]).json()
    assert [i["licence_id"] for i in one_talent["licences"]] == [bea]
    assert one_talent["issued_for"] == f"{BEA}, represented by Demo Agency"


def test_a_talent_reads_only_her_own_statement(world: ConsoleWorld) -> None:
    ada, _ = two_months(world)
    licence(world, GRACE, compensation=FEE)
    own = statement(world, "ada", LAST_MONTH).json()
    assert [i["licence_id"] for i in own["licences"]] == [ada]
    assert own["issued_for"] == f"{ADA}, represented by Demo Agency"
    assert own["totals"][0]["amount_owed"] == "1025.00"
    own_csv = statement(world, "ada", THIS_MONTH, StatementFormat.CSV).text
    assert BEA not in own_csv and GRACE not in own_csv


def test_statements_refuse_other_tenants_talents_and_other_roles(world: ConsoleWorld) -> None:
    two_months(world)
    other = statement(world, "agency", THIS_MONTH, talent_id=world.talents[GRACE])
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    for who in ("brand", "monitor", "ada"):
        refused = get(world, who, "/v1/usage/statements", month=THIS_MONTH)
        assert refused.status_code == 403, (who, refused.text)
        assert refused.json()["error"]["code"] == "forbidden"
    for who in ("agency", "brand", "monitor", "admin"):
        assert get(world, who, "/v1/me/statements", month=THIS_MONTH).status_code == 403, who
    grace = statement(world, "grace", THIS_MONTH).json()
    assert grace["licences"] == [] and grace["totals"] == []


@pytest.mark.parametrize(
    "month", ["2026-13", "2026-00", "2026-1", "26-11", "november", "", "1999-12", "9998-12"]
)
def test_a_bad_or_out_of_range_month_is_422_in_the_envelope(
    world: ConsoleWorld, month: str
) -> None:
    for who in ("agency", "ada"):
        for form in StatementFormat:
            response = statement(world, who, month, form)
            assert response.status_code == 422, (who, month, response.text)
            error = response.json()["error"]
            assert error["code"] == "invalid_date" and "month" in error["message"]


def test_next_month_has_no_statement_yet(world: ConsoleWorld) -> None:
    next_month = month_of(FIRST_OF_THIS_MONTH + timedelta(days=40))
    response = statement(world, "agency", next_month)
    assert response.status_code == 422
    assert THIS_MONTH in response.json()["error"]["message"]


def test_the_statement_pdf_renders_with_the_totals(world: ConsoleWorld) -> None:
    reason = pdf_available()
    if reason:
        pytest.skip(reason)
    two_months(world)
    response = statement(world, "agency", LAST_MONTH, StatementFormat.PDF)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert f"twinwatch-statement-{LAST_MONTH}.pdf" in response.headers["content-disposition"]
    text = pdf_text(response.content)
    assert f"Pay statement, {LAST_MONTH}" in text
    assert "Total 1025.00 EUR" in text
    assert "Maison Verte" in text and "shop.example" in text and "Flat fee" in text
    own = pdf_text(statement(world, "ada", THIS_MONTH, StatementFormat.PDF).content)
    assert "Total 50.00 EUR" in own and BEA not in own


def test_without_weasyprint_the_statement_pdf_is_a_503_and_the_csv_still_works(
    world: ConsoleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_months(world)
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as if it (or Pango) were missing
    response = statement(world, "agency", THIS_MONTH, StatementFormat.PDF)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "pdf_unavailable" and "CSV" in error["message"]
    assert statement(world, "agency", THIS_MONTH, StatementFormat.CSV).status_code == 200
