"""The Pay pages over HTTP: the talent's Pay page and the agency's usage page show flat fees
beside per-use amounts, and link the monthly statements, which the console serves with the
same figures as the API; each person sees only their own."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from indexer.db import utcnow
from service.licensing.statements import StatementFormat
from tests.support.console import ConsoleWorld
from tests.support.pay import (
    ADA,
    ADA_EMAIL,
    BEA,
    GRACE,
    csv_rows,
    licence,
    month_of,
    pay_world,
    person,
    sighting,
    statement,
)
from tests.support.takedowns import pdf_available, pdf_text

pytestmark = pytest.mark.postgres

NOW = utcnow()
THIS_MONTH = month_of(NOW)
STARTED = NOW.replace(day=1, hour=0, minute=0, second=0, microsecond=0).isoformat()
FEE = {"flat_fee": "1000.00", "per_use": "25.00", "currency": "EUR"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with pay_world(tmp_path) as built:
        licence(built, compensation=FEE, valid_from=STARTED)  # its flat fee: this month
        sighting(built, seed=3)
        licence(
            built, BEA, compensation={"flat_fee": "80.00", "currency": "USD"}, valid_from=STARTED
        )
        licence(
            built,
            GRACE,
            compensation={"flat_fee": "5555.55", "currency": "EUR"},
            valid_from=STARTED,
        )
        yield built


def text_of(page: str) -> str:
    """The page's text as a person reads it (tags dropped, whitespace collapsed)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_the_talents_pay_page_shows_her_flat_fee_and_links_her_statements(
    world: ConsoleWorld,
) -> None:
    ada = person(world, ADA_EMAIL)
    response = ada.get("/console/me/ledger")
    assert response.status_code == 200, response.text
    page = text_of(response.text)
    assert "1025.00 EUR for 1 use (25.00 EUR) and flat fees (1000.00 EUR)" in page
    assert 'id="flat-fees"' in response.text and "1000.00 EUR" in page
    assert "80.00" not in page and "5555.55" not in page  # Bea's and Grace's fees
    link = f"/console/me/statements?month={THIS_MONTH}&amp;format=pdf"
    assert link in response.text and 'name="month"' in response.text

    csv_file = ada.get("/console/me/statements", params={"month": THIS_MONTH, "format": "csv"})
    assert csv_file.status_code == 200, csv_file.text
    assert "attachment" in csv_file.headers["content-disposition"]
    api = statement(world, "ada", THIS_MONTH, StatementFormat.CSV).text
    assert csv_rows(csv_file.text) == csv_rows(api)
    assert {r["amount"] for r in csv_rows(csv_file.text) if r["row"] == "total"} == {"1025.00"}


def test_the_agencys_usage_page_shows_flat_fees_per_currency_and_offers_statements(
    world: ConsoleWorld,
) -> None:
    booker = person(world, world.email("agency"))
    response = booker.get("/console/usage")
    assert response.status_code == 200, response.text
    page = text_of(response.text)
    assert "1025.00 EUR for 1 use (25.00 EUR) and flat fees (1000.00 EUR)" in page
    assert "80.00 USD for 0 uses (0.00 USD) and flat fees (80.00 USD)" in page
    assert ADA in page and BEA in page and "5555.55" not in page  # not Grace's agency
    assert 'href="/console/usage"' in booker.get("/console/alerts").text  # in the menu
    assert f"/console/usage/statements?month={THIS_MONTH}&amp;format=csv" in response.text

    only_bea = text_of(booker.get("/console/usage", params={"talent_id": world.talents[BEA]}).text)
    assert "80.00 USD" in only_bea and "1025.00" not in only_bea

    csv_file = booker.get(
        "/console/usage/statements", params={"month": THIS_MONTH, "format": "csv"}
    )
    assert csv_file.status_code == 200, csv_file.text
    api = statement(world, "agency", THIS_MONTH, StatementFormat.CSV).text
    assert csv_rows(csv_file.text) == csv_rows(api)
    totals = {r["currency"]: r["amount"] for r in csv_rows(csv_file.text) if r["row"] == "total"}
    assert totals == {"EUR": "1025.00", "USD": "80.00"}


def test_the_licence_page_says_when_its_flat_fee_is_owed(world: ConsoleWorld) -> None:
    booker = person(world, world.email("agency"))
    later = licence(world, valid_from=(NOW + timedelta(days=5)).isoformat(), compensation=FEE)
    page = text_of(booker.get(f"/console/licences/{later['id']}").text)
    assert "The flat fee of 1000.00 EUR is not owed" in page
    (first,) = [
        lic["id"]
        for lic in world.client.get(
            f"/v1/talents/{world.talents[ADA]}/licences",
            headers={"Authorization": f"Bearer {world.keys['agency']}"},
        ).json()
        if lic["id"] != later["id"]
    ]
    page = text_of(booker.get(f"/console/licences/{first}").text)
    assert "1 use: 25.00 EUR owed at 25.00 per use, plus the flat fee of 1000.00 EUR" in page
    assert "1025.00 EUR in all" in page


def test_console_statements_are_scoped_to_the_signed_in_person(world: ConsoleWorld) -> None:
    other = person(world, world.email("other_agency"))
    refused = other.get(
        "/console/usage/statements",
        params={"month": THIS_MONTH, "format": "csv", "talent_id": world.talents[ADA]},
    )
    assert refused.status_code == 404
    theirs = other.get("/console/usage/statements", params={"month": THIS_MONTH, "format": "csv"})
    assert ADA not in theirs.text and "5555.55" in theirs.text
    for who in ("brand", "monitor"):
        browser = person(world, world.email(who))
        assert browser.get("/console/usage").status_code == 403, who
        assert (
            browser.get("/console/me/statements", params={"month": THIS_MONTH}).status_code == 403
        )
    ada = person(world, ADA_EMAIL)
    assert ada.get("/console/usage").status_code == 403
    assert ada.get("/console/usage/statements", params={"month": THIS_MONTH}).status_code == 403
    bad = ada.get("/console/me/statements", params={"month": "2026-13", "format": "csv"})
    assert bad.status_code == 422 and "month" in bad.text


def test_the_talent_downloads_her_statement_as_a_pdf(world: ConsoleWorld) -> None:
    reason = pdf_available()
    if reason:
        pytest.skip(reason)
    ada = person(world, ADA_EMAIL)
    response = ada.get("/console/me/statements", params={"month": THIS_MONTH, "format": "pdf"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    text = pdf_text(response.content)
    assert "Total 1025.00 EUR" in text and f"{ADA}, represented by Demo Agency" in text
