"""Monthly pay statements: per licence and currency, what one calendar month (UTC) owes.

A statement is a view of the usage report (service.licensing.usage) for the month, which
computes every figure: each licence with a use first seen in the month or a flat fee that
accrued in it, its terms in one line, the uses with their dates, publishers and per-use
amounts, the flat fee, and the totals per currency. The agency's statement covers its
talents (or one of them); a talent's covers only themselves. Months from
:data:`FIRST_MONTH` to the current one can be asked for (a month still running shows what
is owed so far); statements are computed when asked, so a use confirmed later by a
reviewer appears in the month it was seen.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from indexer.db import Agency, utcnow
from service.access.scoping import talent_in_scope
from service.core.pdf import render_pdf
from service.core.principal import Principal
from service.core.tables.licensing import Licence
from service.licensing.schemas import UsageOut
from service.licensing.statement_schemas import (
    StatementLicenceOut,
    StatementOut,
    StatementUseOut,
)
from service.licensing.talent_view import own_talent
from service.licensing.usage import usage_report
from service.rules.dates import month_or_error
from service.rules.errors import InvalidDateError
from service.rules.money import from_cents

FIRST_MONTH = "2000-01"
_templates = Environment(
    loader=PackageLoader("service.licensing", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def agency_statement(
    session: Session,
    *,
    principal: Principal,
    month: str | None,
    talent_id: int | None,
    now: datetime | None = None,
) -> StatementOut:
    """The agency's statement for its talents (or one: 404 if not the agency's)."""
    talent = None
    if talent_id is not None:
        talent = talent_in_scope(session, principal=principal, talent_id=talent_id)
    agency = session.get(Agency, talent.agency_id if talent else principal.agency_id or 0)
    issued_for = agency.name if agency else "every agency"
    if talent is not None:
        issued_for = f"{talent.name}, represented by {issued_for}"
    return _statement(session, principal, month, talent_id, issued_for, now)


def own_statement(
    session: Session, *, principal: Principal, month: str | None, now: datetime | None = None
) -> StatementOut:
    """A talent's own statement (talent keys and accounts only: 403 for any other)."""
    talent = own_talent(session, principal)
    agency = session.get(Agency, talent.agency_id)
    issued_for = f"{talent.name}, represented by {agency.name if agency else 'no agency'}"
    return _statement(session, principal, month, None, issued_for, now)


def statement_month(month: str | None, *, now: datetime) -> tuple[datetime, datetime]:
    """The month's bounds (None: the current month); 422 unless it is YYYY-MM from
    FIRST_MONTH to the current one."""
    month = now.astimezone(UTC).strftime("%Y-%m") if month is None else month
    start, end = month_or_error(month, field="month")
    first, _ = month_or_error(FIRST_MONTH, field="month")
    if start < first or start > now:
        current = now.astimezone(UTC).strftime("%Y-%m")
        raise InvalidDateError(
            f"month: statements cover {FIRST_MONTH} to {current}; {month.strip()} is outside.",
            field="month",
        )
    return start, end


def _statement(
    session: Session,
    principal: Principal,
    month: str | None,
    talent_id: int | None,
    issued_for: str,
    now: datetime | None,
) -> StatementOut:
    at = now or utcnow()
    start, end = statement_month(month, now=at)
    report = usage_report(
        session,
        principal=principal,
        talent_id=talent_id,
        licence_id=None,
        period_from=start,
        period_to=end,
        now=at,
    )
    return StatementOut(
        month=start.strftime("%Y-%m"),
        period_from=start,
        period_to=end,
        issued_for=issued_for,
        generated_at=at,
        licences=_licences(session, report),
        totals=report.owed,
    )


def _licences(session: Session, report: UsageOut) -> list[StatementLicenceOut]:
    ids = [total.licence_id for total in report.totals]
    licences = {
        licence.id: licence
        for licence in session.scalars(select(Licence).where(Licence.id.in_(ids)))
    }
    return [
        StatementLicenceOut(
            licence_id=total.licence_id,
            talent_id=total.talent_id,
            talent=total.talent,
            licensee=total.licensee,
            terms=terms_summary(licences[total.licence_id]),
            currency=total.currency,
            per_use=total.per_use,
            uses=[
                StatementUseOut(
                    first_seen_at=e.first_seen_at,
                    publisher=e.publisher,
                    image_sha256=e.image_sha256,
                    sightings=e.sightings,
                    per_use=e.per_use,
                    confirmed_by_review=e.confirmed_by_review,
                )
                for e in report.events
                if e.licence_id == total.licence_id
            ],
            use_count=total.uses,
            per_use_amount=total.per_use_amount,
            flat_fee=total.flat_fee_owed,
            flat_fee_accrued_at=total.flat_fee_accrued_at,
            amount_owed=total.amount_owed,
        )
        for total in report.totals
    ]


def terms_summary(licence: Licence) -> str:
    """A licence's terms in one line, as a statement lists them."""
    channels = "any channel" if "*" in licence.channels else ", ".join(licence.channels)
    until = f" until {_day(licence.valid_until)} (exclusive)" if licence.valid_until else ""
    fees = []
    if licence.per_use_cents is not None:
        fees.append(f"{from_cents(licence.per_use_cents)} {licence.currency} per use")
    if licence.flat_fee_cents is not None:
        fees.append(f"flat fee {from_cents(licence.flat_fee_cents)} {licence.currency}")
    parts = [
        ", ".join(licence.publishers),
        channels,
        ", ".join(licence.territories),
        ", ".join(m.replace("_", " ") for m in licence.media),
        f"from {_day(licence.valid_from)}{until}",
        "; ".join(fees) or "no fee recorded",
    ]
    if licence.revoked_at is not None:
        parts.append(f"revoked {_day(licence.revoked_at)}")
    return "; ".join(parts)


def _day(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d")


def file_name(statement: StatementOut, *, talent_id: int | None, extension: str) -> str:
    who = f"-talent-{talent_id}" if talent_id is not None else ""
    return f"twinwatch-statement-{statement.month}{who}.{extension}"


# --- CSV and PDF ---------------------------------------------------------------------------------
CSV_COLUMNS = (
    "row",
    "month",
    "licence_id",
    "talent_id",
    "talent",
    "licensee",
    "terms",
    "date",
    "publisher",
    "image_sha256",
    "sightings",
    "uses",
    "per_use",
    "flat_fee",
    "amount",
    "currency",
)


def statement_csv(statement: StatementOut) -> str:
    """Per licence: one ``use`` row per use, a ``flat_fee`` row if it accrued this month and
    a ``licence_total`` row; then one ``total`` row per currency."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, restval="")
    writer.writeheader()
    writer.writerows(_csv_rows(statement))
    return buffer.getvalue()


def _csv_rows(statement: StatementOut) -> Iterable[dict[str, object]]:
    month = statement.month
    for item in statement.licences:
        licence = {
            "month": month,
            "licence_id": item.licence_id,
            "talent_id": item.talent_id,
            "talent": item.talent,
            "licensee": item.licensee,
            "currency": item.currency or "",
        }
        for use in item.uses:
            yield licence | {
                "row": "use",
                "date": use.first_seen_at.isoformat(),
                "publisher": use.publisher or "",
                "image_sha256": use.image_sha256,
                "sightings": use.sightings,
                "per_use": _text(use.per_use),
                "amount": _text(use.per_use),
            }
        if item.flat_fee is not None and item.flat_fee_accrued_at is not None:
            yield licence | {
                "row": "flat_fee",
                "date": item.flat_fee_accrued_at.isoformat(),
                "flat_fee": item.flat_fee,
                "amount": item.flat_fee,
            }
        yield licence | {
            "row": "licence_total",
            "terms": item.terms,
            "uses": item.use_count,
            "per_use": _text(item.per_use),
            "flat_fee": _text(item.flat_fee),
            "amount": _text(item.amount_owed),
        }
    for owed in statement.totals:
        yield {
            "row": "total",
            "month": month,
            "uses": owed.uses,
            "flat_fee": owed.flat_fees,
            "amount": owed.amount_owed,
            "currency": owed.currency,
        }


def _text(value: Decimal | None) -> str:
    return "" if value is None else str(value)


class StatementFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    PDF = "pdf"


MEDIA_TYPES = {
    StatementFormat.JSON: "application/json",
    StatementFormat.CSV: "text/csv; charset=utf-8",
    StatementFormat.PDF: "application/pdf",
}


@dataclass(frozen=True)
class StatementDocument:
    content: bytes
    media_type: str
    file_name: str


def statement_document(
    statement: StatementOut, *, form: StatementFormat, talent_id: int | None
) -> StatementDocument:
    """The statement as a file (PDF: blocking, and 503 without Pango; run it in a thread)."""
    if form is StatementFormat.PDF:
        content = render_pdf(statement_html(statement), instead="download the CSV instead")
    elif form is StatementFormat.CSV:
        content = statement_csv(statement).encode()
    else:
        content = statement.model_dump_json().encode()
    name = file_name(statement, talent_id=talent_id, extension=form.value)
    return StatementDocument(content, MEDIA_TYPES[form], name)


def statement_html(statement: StatementOut) -> str:
    """The statement as a self-contained HTML document (what the PDF is drawn from)."""
    return _templates.get_template("statement.html").render(statement=statement, day=_day)
