"""The usage ledger: licensed sightings per licence and period, with the amount owed."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from indexer.db import Talent
from service.core.principal import Principal, Role
from service.core.tables.licensing import Licence, UsageEvent
from service.licensing.schemas import AmountOwed, UsageLicenceTotal, UsageOut, UsageRow
from service.rules.money import from_cents, total


def usage_report(
    session: Session,
    *,
    principal: Principal,
    talent_id: int | None,
    licence_id: int | None,
    period_from: datetime | None,
    period_to: datetime | None,
) -> UsageOut:
    """Usage events first seen in [from, to) (both exclusive-end instants, see
    service.rules.dates), and per licence: uses x per-use rate. An agency sees its talents'
    uses; a talent their own (pay transparency)."""
    principal.require(Role.AGENCY, Role.TALENT)
    query = (
        select(UsageEvent, Licence, Talent)
        .join(Licence, Licence.id == UsageEvent.licence_id)
        .join(Talent, Talent.id == UsageEvent.talent_id)
        .order_by(UsageEvent.first_seen_at)
    )
    if principal.role is Role.TALENT:
        query = query.where(UsageEvent.talent_id == principal.talent_id)
    elif not principal.is_admin:
        query = query.where(Talent.agency_id == principal.agency_id)
    if talent_id is not None:
        query = query.where(UsageEvent.talent_id == talent_id)
    if licence_id is not None:
        query = query.where(UsageEvent.licence_id == licence_id)
    if period_from is not None:
        query = query.where(UsageEvent.first_seen_at >= period_from)
    if period_to is not None:
        query = query.where(UsageEvent.first_seen_at < period_to)
    rows = session.execute(query).all()
    events = [
        UsageRow(
            licence_id=e.licence_id,
            talent_id=e.talent_id,
            talent=t.name,
            licensee=lic.licensee,
            image_sha256=e.image_sha256,
            publisher=e.publisher,
            first_seen_at=e.first_seen_at,
            last_seen_at=e.last_seen_at,
            sightings=e.sightings,
            per_use=from_cents(lic.per_use_cents),
            currency=lic.currency,
        )
        for e, lic, t in rows
    ]
    licences = {lic.id: lic for _, lic, _ in rows}
    uses: dict[int, int] = {}
    for event in events:
        uses[event.licence_id] = uses.get(event.licence_id, 0) + 1
    totals = [_total(licences[lid], count) for lid, count in sorted(uses.items())]
    return UsageOut(
        period_from=period_from,
        period_to=period_to,
        events=events,
        totals=totals,
        owed=_owed(totals),
    )


def _owed(totals: list[UsageLicenceTotal]) -> list[AmountOwed]:
    """Every licence's amount owed together, per currency (uses with no rate count 0)."""
    owed: dict[str, tuple[int, Decimal]] = {}
    for item in totals:
        if item.currency is None:
            continue
        uses, amount = owed.get(item.currency, (0, Decimal("0.00")))
        owed[item.currency] = (uses + item.uses, amount + (item.amount_owed or Decimal("0")))
    return [
        AmountOwed(currency=currency, uses=uses, amount_owed=amount)
        for currency, (uses, amount) in sorted(owed.items())
    ]


def _total(licence: Licence, uses: int) -> UsageLicenceTotal:
    return UsageLicenceTotal(
        licence_id=licence.id,
        licensee=licence.licensee,
        talent_id=licence.talent_id,
        uses=uses,
        per_use=from_cents(licence.per_use_cents),
        flat_fee=from_cents(licence.flat_fee_cents),
        currency=licence.currency,
        amount_owed=total(licence.per_use_cents, uses),
    )


def usage_csv(report: UsageOut) -> str:
    """One row per usage event, then one total row per licence."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "row",
            "licence_id",
            "licensee",
            "talent_id",
            "talent",
            "image_sha256",
            "publisher",
            "first_seen_at",
            "sightings",
            "uses",
            "per_use",
            "currency",
            "amount_owed",
        ]
    )
    for e in report.events:
        writer.writerow(
            [
                "event",
                e.licence_id,
                e.licensee,
                e.talent_id,
                e.talent,
                e.image_sha256,
                e.publisher or "",
                e.first_seen_at.isoformat(),
                e.sightings,
                "",
                "",
                "",
                "",
            ]
        )
    for t in report.totals:
        writer.writerow(
            [
                "total",
                t.licence_id,
                t.licensee,
                t.talent_id,
                "",
                "",
                "",
                "",
                "",
                t.uses,
                t.per_use if t.per_use is not None else "",
                t.currency or "",
                t.amount_owed if t.amount_owed is not None else "",
            ]
        )
    return buffer.getvalue()
