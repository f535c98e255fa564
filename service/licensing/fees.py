"""When a licence's flat fee is owed: the one rule, read by the usage report (and so by
the ledger, its CSV, the statements and every page that shows what is owed).

Rule
====

A flat fee is owed **once per licence**, in full, at the first moment the licence is **in
force**:

- from ``valid_from``;
- for a licence that needs the talent's own consent (AI replicas, or
  ``requires_talent_consent``: service.licensing.consent), not before the talent signed its
  current terms: the first instant at or after ``valid_from`` inside a consent window (from
  signing until a withdrawal). A change of terms needs a new signature, so the fee of the new
  terms accrues with it; a later withdrawal does not undo a fee that accrued;
- never when the licence was revoked, or had expired (``valid_until``), before that moment.

Until that moment has come (a licence starting next month, one still awaiting the
talent's signature) nothing is owed for it. The fee is in the licence's currency and is
counted in the period (month) in which it accrues.
"""

from __future__ import annotations

from datetime import datetime

from service.core.tables.licensing import Licence
from service.licensing import consent


def flat_fee_accrues_at(licence: Licence) -> datetime | None:
    """The instant the licence's flat fee is owed from (it may lie in the future), or None
    when it has no flat fee or never comes into force."""
    if licence.flat_fee_cents is None or licence.currency is None:
        return None
    start = _in_force_from(licence)
    if start is None:
        return None
    if licence.revoked_at is not None and licence.revoked_at <= start:
        return None
    if licence.valid_until is not None and licence.valid_until <= start:
        return None
    return start


def _in_force_from(licence: Licence) -> datetime | None:
    if not consent.requires_consent(licence):
        return licence.valid_from
    starts = [
        max(licence.valid_from, window.signed_at)
        for window in consent.consent_windows(licence)
        if window.withdrawn_at is None
        or max(licence.valid_from, window.signed_at) < window.withdrawn_at
    ]
    return min(starts, default=None)


def accrued_within(
    licence: Licence, *, now: datetime, period_from: datetime | None, period_to: datetime | None
) -> datetime | None:
    """When the flat fee accrued, if it did by ``now`` and within [from, to)."""
    at = flat_fee_accrues_at(licence)
    if at is None or at > now:
        return None
    if period_from is not None and at < period_from:
        return None
    if period_to is not None and at >= period_to:
        return None
    return at
