"""Wire types of monthly pay statements (service.licensing.statements)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from service.licensing.schemas import AmountOwed


class StatementUseOut(BaseModel):
    """One licensed use first seen in the month."""

    first_seen_at: datetime
    publisher: str | None
    image_sha256: str
    sightings: int
    per_use: Decimal | None = Field(description="What this use earns; null without a rate.")
    confirmed_by_review: bool


class StatementLicenceOut(BaseModel):
    """One licence with something owed or used in the month."""

    licence_id: int
    talent_id: int
    talent: str
    licensee: str
    terms: str = Field(description="The licence's terms in one line.")
    currency: str | None
    per_use: Decimal | None
    uses: list[StatementUseOut]
    use_count: int
    per_use_amount: Decimal | None
    flat_fee: Decimal | None = Field(description="The flat fee, if it accrued this month.")
    flat_fee_accrued_at: datetime | None
    amount_owed: Decimal | None


class StatementOut(BaseModel):
    """What is owed for one calendar month (UTC), per licence and per currency; the same
    figures as ``GET /v1/usage?from=<first day>&to=<last day>``."""

    month: str = Field(description="YYYY-MM")
    period_from: datetime
    period_to: datetime = Field(description="Exclusive: the first instant of the next month.")
    issued_for: str = Field(description="The agency, or the talent and their agency.")
    generated_at: datetime
    licences: list[StatementLicenceOut]
    totals: list[AmountOwed] = Field(description="Per currency, every licence together.")
