"""Money: the one owner of amounts, currencies and their storage as integer cents.

Amounts are non-negative decimals with at most two decimal places, stored as cents in a
32-bit integer column, so the largest amount is :data:`MAX_AMOUNT` (21,474,836.47). Larger
amounts, ``NaN``/``Infinity`` and more decimals are refused (422) before they reach the
database. Currencies are ISO 4217 codes (``pycountry``). Totals (uses × per-use rate) are
computed in :class:`~decimal.Decimal` and never overflow.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Annotated

import pycountry
from pydantic import AfterValidator, Field

MAX_CENTS = 2**31 - 1
CENT = Decimal("0.01")
MAX_AMOUNT = (Decimal(MAX_CENTS) * CENT).quantize(CENT)


@lru_cache(maxsize=1)
def _currency_codes() -> frozenset[str]:
    return frozenset(currency.alpha_3 for currency in pycountry.currencies)


def parse_currency(value: str) -> str:
    code = value.strip().upper()
    if code not in _currency_codes():
        raise ValueError(f"{value[:20]!r} is not an ISO 4217 currency code")
    return code


def to_cents(amount: Decimal | None) -> int | None:
    """Cents for storage; ``ValueError`` outside 0..MAX_AMOUNT or with fractions of a cent."""
    if amount is None:
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        raise ValueError(f"amounts must be between 0 and {MAX_AMOUNT}")
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError("amounts have at most two decimal places")
    return int(cents)


def from_cents(cents: int | None) -> Decimal | None:
    return None if cents is None else (Decimal(cents) * CENT).quantize(CENT)


def total(per_use_cents: int | None, uses: int) -> Decimal | None:
    """What ``uses`` uses at the per-use rate come to (``None`` when there is no rate)."""
    rate = from_cents(per_use_cents)
    return None if rate is None else (rate * uses).quantize(CENT)


Amount = Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT, decimal_places=2, allow_inf_nan=False)]
CurrencyCode = Annotated[str, AfterValidator(parse_currency)]
