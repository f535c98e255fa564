"""The usage ledger: licensed uses and flat fees per licence and period, with the amount owed."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from indexer.db import Talent, utcnow
from service.core.principal import Principal, Role
from service.core.tables.licensing import Licence, UsageEvent
from service.licensing.fees import accrued_within
from service.licensing.schemas import AmountOwed, UsageLicenceTotal, UsageOut, UsageRow
from service.rules.money import from_cents, total

ZERO = Decimal("0.00")


def usage_report(
    session: Session,
    *,
    principal: Principal,
    talent_id: int | None,
    licence_id: int | None,
    period_from: datetime | None,
    period_to: datetime | None,
    now: datetime | None = None,
) -> UsageOut:
    """What is owed for [from, to) (exclusive-end instants, see service.rules.dates): each
    use first seen in the period at its licence's per-use rate, and each licence's flat fee
    that accrued in it (by ``now``; service.licensing.fees), per licence and per currency.
    The one computation of what is owed: the CSV, the statements and every page read it.
    An agency sees its talents' uses; a talent their own (pay transparency)."""
    principal.require(Role.AGENCY, Role.TALENT)
    scope = _Scope(principal, talent_id, licence_id)
    rows = session.execute(
        select(UsageEvent, Licence, Talent)
        .join(Licence, Licence.id == UsageEvent.licence_id)
        .join(Talent, Talent.id == UsageEvent.talent_id)
        .where(*scope.clauses(), *_seen_within(period_from, period_to))
        .order_by(UsageEvent.first_seen_at, UsageEvent.id)
    ).all()
    events = [_row(event, licence, talent) for event, licence, talent in rows]
    fees = _flat_fees(
        session, scope, at=now or utcnow(), period_from=period_from, period_to=period_to
    )
    licences = {lic.id: (lic, t) for _, lic, t in rows} | {lic.id: (lic, t) for lic, t, _ in fees}
    uses: dict[int, int] = dict.fromkeys(licences, 0)
    for event in events:
        uses[event.licence_id] += 1
    accrued = {lic.id: at for lic, _, at in fees}
    totals = [
        _total(*licences[lid], uses=uses[lid], fee_accrued_at=accrued.get(lid))
        for lid in sorted(licences)
    ]
    return UsageOut(
        period_from=period_from,
        period_to=period_to,
        events=events,
        totals=totals,
        owed=_owed(totals),
    )


@dataclass(frozen=True)
class _Scope:
    """Whose licences a report covers: the principal's, narrowed by the filters."""

    principal: Principal
    talent_id: int | None
    licence_id: int | None

    def clauses(self) -> list[ColumnElement[bool]]:
        """WHERE clauses on ``Licence`` and its ``Talent`` (both joined by the caller)."""
        where: list[ColumnElement[bool]] = []
        if self.principal.role is Role.TALENT:
            where.append(Licence.talent_id == self.principal.talent_id)
        elif not self.principal.is_admin:
            where.append(Talent.agency_id == self.principal.agency_id)
        if self.talent_id is not None:
            where.append(Licence.talent_id == self.talent_id)
        if self.licence_id is not None:
            where.append(Licence.id == self.licence_id)
        return where


def _seen_within(
    period_from: datetime | None, period_to: datetime | None
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if period_from is not None:
        where.append(UsageEvent.first_seen_at >= period_from)
    if period_to is not None:
        where.append(UsageEvent.first_seen_at < period_to)
    return where


def _flat_fees(
    session: Session,
    scope: _Scope,
    *,
    at: datetime,
    period_from: datetime | None,
    period_to: datetime | None,
) -> list[tuple[Licence, Talent, datetime]]:
    """The licences in scope whose flat fee accrued by ``at`` within the period."""
    query = (
        select(Licence, Talent)
        .join(Talent, Talent.id == Licence.talent_id)
        .where(
            *scope.clauses(),
            Licence.flat_fee_cents.is_not(None),
            Licence.valid_from <= (period_to or at),
        )
        .order_by(Licence.id)
    )
    found = []
    for licence, talent in session.execute(query).all():
        accrued = accrued_within(licence, now=at, period_from=period_from, period_to=period_to)
        if accrued is not None:
            found.append((licence, talent, accrued))
    return found


def _row(event: UsageEvent, licence: Licence, talent: Talent) -> UsageRow:
    return UsageRow(
        licence_id=event.licence_id,
        talent_id=event.talent_id,
        talent=talent.name,
        licensee=licence.licensee,
        image_sha256=event.image_sha256,
        publisher=event.publisher,
        first_seen_at=event.first_seen_at,
        last_seen_at=event.last_seen_at,
        sightings=event.sightings,
        per_use=from_cents(licence.per_use_cents),
        currency=licence.currency,
        confirmed_by_review=event.alert_id is not None,
    )


def _owed(totals: list[UsageLicenceTotal]) -> list[AmountOwed]:
    """Every licence's amount owed together, per currency (uses with no rate count 0)."""
    owed: dict[str, AmountOwed] = {}
    for item in totals:
        if item.currency is None:
            continue
        sum_ = owed.setdefault(item.currency, AmountOwed(currency=item.currency))
        sum_.uses += item.uses
        sum_.per_use_amount += item.per_use_amount or ZERO
        sum_.flat_fees += item.flat_fee_owed or ZERO
        sum_.amount_owed += item.amount_owed or ZERO
    return [owed[currency] for currency in sorted(owed)]


def _total(
    licence: Licence, talent: Talent, *, uses: int, fee_accrued_at: datetime | None
) -> UsageLicenceTotal:
    per_use_amount = total(licence.per_use_cents, uses)
    fee = from_cents(licence.flat_fee_cents) if fee_accrued_at is not None else None
    parts = [amount for amount in (per_use_amount, fee) if amount is not None]
    return UsageLicenceTotal(
        licence_id=licence.id,
        licensee=licence.licensee,
        talent_id=licence.talent_id,
        talent=talent.name,
        uses=uses,
        per_use=from_cents(licence.per_use_cents),
        flat_fee=from_cents(licence.flat_fee_cents),
        currency=licence.currency,
        per_use_amount=per_use_amount,
        flat_fee_accrued_at=fee_accrued_at,
        flat_fee_owed=fee,
        amount_owed=sum(parts, ZERO) if parts else None,
    )


CSV_COLUMNS = (
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
    "per_use_amount",
    "flat_fee",
    "flat_fee_accrued_at",
    "confirmed_by_review",
)


def usage_csv(report: UsageOut) -> str:
    """One ``event`` row per use, one ``total`` row per licence (its flat fee when it accrued
    in the period), then one ``owed`` row per currency; the figures are the report's."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, restval="")
    writer.writeheader()
    for e in report.events:
        writer.writerow(
            {
                "row": "event",
                "licence_id": e.licence_id,
                "licensee": e.licensee,
                "talent_id": e.talent_id,
                "talent": e.talent,
                "image_sha256": e.image_sha256,
                "publisher": e.publisher or "",
                "first_seen_at": e.first_seen_at.isoformat(),
                "sightings": e.sightings,
                "confirmed_by_review": "yes" if e.confirmed_by_review else "no",
            }
        )
    for t in report.totals:
        writer.writerow(
            {
                "row": "total",
                "licence_id": t.licence_id,
                "licensee": t.licensee,
                "talent_id": t.talent_id,
                "talent": t.talent,
                "uses": t.uses,
                "per_use": _text(t.per_use),
                "currency": t.currency or "",
                "amount_owed": _text(t.amount_owed),
                "per_use_amount": _text(t.per_use_amount),
                "flat_fee": _text(t.flat_fee_owed),
                "flat_fee_accrued_at": _text(t.flat_fee_accrued_at),
            }
        )
    for o in report.owed:
        writer.writerow(
            {
                "row": "owed",
                "uses": o.uses,
                "currency": o.currency,
                "amount_owed": o.amount_owed,
                "per_use_amount": o.per_use_amount,
                "flat_fee": o.flat_fees,
            }
        )
    return buffer.getvalue()


def _text(value: Decimal | datetime | None) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, datetime) else str(value)
