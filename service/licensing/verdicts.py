"""Stored licence verdicts and their wording, per audience.

Licence terms (licensees, publishers, territories, fees, revocation notes) are confidential
to the talent's side. A verdict is stored once, when a scan is recorded, as structured
per-licence checks (licence id, the licensee's brand tenant, failure codes with their
parameters) plus the agency-facing reasons the evaluator wrote. Every answer is rendered
from that stored data by this module, for one of four audiences:

- ``TALENT_SIDE`` (the talent's agency, admins, and the talent themself): everything, the
  evaluator's reasons.
- ``LICENSEE`` (a brand): the verdict, and reasons stated only in terms of the brand's own
  licences ("no licence of yours covers this talent"; "your licence 12: territory US not in
  FR, DE"). Another licensee's licence is never named, counted or described.
- ``MONITOR``: the verdict (licensed / unlicensed / review) and no terms at all.
- ``THIRD_PARTY`` (a takedown recipient): the verdict and a plain statement, no terms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict

from service.core.principal import Principal, Role
from service.licensing.evaluate import (
    FailureCode,
    LicenceTerms,
    LicenceVerdict,
    UnknownFact,
    UsageContext,
    Verdict,
)

__all__ = [
    "Audience",
    "RenderedVerdict",
    "StoredCheck",
    "StoredFailure",
    "StoredVerdict",
    "Viewer",
    "asset_reuse_view",
    "clearance",
    "render_verdict",
    "store_verdict",
    "third_party_statement",
]

NO_LICENCE_OF_YOURS = "no licence of yours covers this talent"
COVERED_NOT_BY_YOURS = "this use is covered, but not by a licence of yours"
NO_TALENT_RECOGNISED = "no registered talent recognised in this face"


class Audience(StrEnum):
    TALENT_SIDE = "talent_side"
    LICENSEE = "licensee"
    MONITOR = "monitor"
    THIRD_PARTY = "third_party"


@dataclass(frozen=True)
class Viewer:
    """Who an answer is rendered for: an audience and, for a licensee, which brand."""

    audience: Audience
    brand_id: int | None = None

    @classmethod
    def of(cls, principal: Principal) -> Viewer:
        if principal.role is Role.BRAND:
            return cls(Audience.LICENSEE, brand_id=principal.brand_id)
        if principal.role is Role.MONITOR:
            return cls(Audience.MONITOR)
        # admins, agencies (scoped to their talents) and a talent (their own likeness)
        return cls(Audience.TALENT_SIDE)

    def owns(self, check: StoredCheck) -> bool:
        brand = check.get("licensee_brand_id")
        return self.brand_id is not None and brand == self.brand_id


class StoredFailure(TypedDict):
    code: str
    message: str  # the evaluator's wording, for the talent's side only
    params: dict[str, str]


class StoredCheck(TypedDict):
    licence_id: int
    licensee: str
    licensee_brand_id: int | None
    covers: bool
    failures: list[StoredFailure]
    unknowns: list[str]


@dataclass(frozen=True)
class StoredVerdict:
    """A verdict as stored on a finding or an alert."""

    verdict: Verdict
    licence_id: int | None
    checks: list[StoredCheck]
    reasons: list[str]  # agency-facing, written by the evaluator


@dataclass(frozen=True)
class RenderedVerdict:
    verdict: Verdict
    licence_id: int | None
    reasons: list[str]
    checks: list[StoredCheck]


# --- storing --------------------------------------------------------------------------------
def store_verdict(
    verdict: LicenceVerdict,
    *,
    terms: Sequence[LicenceTerms],
    brands: Mapping[int, int | None],
    context: UsageContext,
) -> StoredVerdict:
    """The structured form of an evaluation; ``brands`` maps licence id -> licensee brand."""
    by_id = {licence.id: licence for licence in terms}
    checks: list[StoredCheck] = [
        {
            "licence_id": check.licence_id,
            "licensee": check.licensee,
            "licensee_brand_id": brands.get(check.licence_id),
            "covers": check.covers,
            "failures": [
                {
                    "code": failure.code.value,
                    "message": failure.message,
                    "params": _params(failure.code, by_id[check.licence_id], context),
                }
                for failure in check.failures
            ],
            "unknowns": list(check.unknowns),
        }
        for check in verdict.checks
    ]
    reasons = [*verdict.reasons, *_weak_signal_reasons(verdict, context)]
    return StoredVerdict(verdict.verdict, verdict.licence_id, checks, reasons)


def _weak_signal_reasons(verdict: LicenceVerdict, context: UsageContext) -> list[str]:
    """The agency's line naming the weak AI-generation signal that sent a face to review."""
    if not any(UnknownFact.AI_GENERATION.value in check.unknowns for check in verdict.checks):
        return []
    weak = [signal for signal in context.image.ai_signals if not signal.strong]
    return [f"weak AI-generation signal: {signal.detail} ({signal.source})" for signal in weak[:1]]


def _day(value: datetime | None) -> str:
    return value.date().isoformat() if value is not None else ""


def _listed(values: Sequence[str]) -> str:
    return ", ".join(values)


def _params(code: FailureCode, licence: LicenceTerms, context: UsageContext) -> dict[str, str]:
    """The facts a failure is about: the licence's own term and what was seen."""
    seen_publisher = context.publisher or context.page_url or ""
    match code:
        case FailureCode.WRONG_PUBLISHER:
            return {"seen": seen_publisher, "allowed": _listed(licence.publishers)}
        case FailureCode.OUTSIDE_TERRITORY:
            return {"seen": context.territory or "", "allowed": _listed(licence.territories)}
        case FailureCode.CHANNEL_NOT_ALLOWED:
            return {"seen": context.channel or "", "allowed": _listed(licence.channels)}
        case FailureCode.EXPIRED:
            return {"until": _day(licence.valid_until), "seen": _day(context.observed_at)}
        case FailureCode.NOT_YET_VALID:
            return {"from": _day(licence.valid_from), "seen": _day(context.observed_at)}
        case FailureCode.REVOKED:
            return {"on": _day(licence.revoked_at)}
        case FailureCode.MEDIUM_NOT_ALLOWED:
            image = context.image
            seen = "ai_replica" if image.reads_as_ai else str(image.stated_medium or "photo")
            return {"seen": seen, "allowed": _listed([str(m) for m in licence.media])}
        case FailureCode.ASSET_NOT_APPROVED:
            return {"approved": str(len(licence.approved_assets))}
        case FailureCode.CONSENT_WITHDRAWN:
            withdrawn = [w.withdrawn_at for w in licence.consents if w.withdrawn_at is not None]
            return {"on": _day(max(withdrawn, default=None))}
        case _:
            return {}


# --- rendering ------------------------------------------------------------------------------
_BRAND_FAILURE_WORDING: dict[FailureCode, str] = {
    FailureCode.WRONG_PUBLISHER: "publisher {seen} not in {allowed}",
    FailureCode.OUTSIDE_TERRITORY: "territory {seen} not in {allowed}",
    FailureCode.CHANNEL_NOT_ALLOWED: "channel {seen} not in {allowed}",
    FailureCode.EXPIRED: "expired on {until}; use on {seen}",
    FailureCode.NOT_YET_VALID: "not valid until {from}; use on {seen}",
    FailureCode.REVOKED: "revoked",
    FailureCode.MEDIUM_NOT_ALLOWED: "medium {seen} not in {allowed}",
    FailureCode.AI_LABEL_MISSING: "covers labelled AI replicas only; the image has no AI label",
    FailureCode.ASSET_NOT_APPROVED: "the image is not one of its {approved} approved assets",
    FailureCode.CONSENT_NOT_SIGNED: "not in force: the talent has not signed their consent",
    FailureCode.CONSENT_WITHDRAWN: "the talent withdrew their consent on {on}",
}

_BRAND_UNKNOWN_WORDING: dict[str, str] = {
    UnknownFact.PUBLISHER: "needs the publisher",
    UnknownFact.CHANNEL: "needs the channel",
    UnknownFact.TERRITORY: "needs the territory",
    UnknownFact.MEDIUM: "covers AI replicas only; a human must confirm this is one",
    UnknownFact.AI_GENERATION: "a human must confirm whether the image is AI-generated",
}

_THIRD_PARTY_STATEMENT: dict[Verdict, str] = {
    Verdict.UNLICENSED: "No licence held by the talent's agency covers this use.",
    Verdict.REVIEW: "The talent's agency has not confirmed that any licence covers this use.",
    Verdict.LICENSED: "A licence covers this use.",
}


def render_verdict(stored: StoredVerdict, viewer: Viewer) -> RenderedVerdict:
    """The verdict as ``viewer`` may see it."""
    if viewer.audience is Audience.TALENT_SIDE:
        return RenderedVerdict(
            stored.verdict, stored.licence_id, list(stored.reasons), stored.checks
        )
    if viewer.audience is not Audience.LICENSEE:
        return RenderedVerdict(stored.verdict, None, [], [])
    own = [_in_brand_terms(check) for check in stored.checks if viewer.owns(check)]
    own_ids = {check["licence_id"] for check in own}
    licence_id = stored.licence_id if stored.licence_id in own_ids else None
    return RenderedVerdict(stored.verdict, licence_id, _licensee_reasons(stored, own), own)


def _in_brand_terms(check: StoredCheck) -> StoredCheck:
    """A brand's own licence check, its messages reworded (the evaluator's may carry the
    agency's notes, such as a revocation reason)."""
    failures: list[StoredFailure] = [
        {"code": f["code"], "message": _brand_failure(f), "params": f["params"]}
        for f in check["failures"]
    ]
    return {**check, "failures": failures}


def _licensee_reasons(stored: StoredVerdict, own: list[StoredCheck]) -> list[str]:
    if stored.verdict is Verdict.LICENSED:
        covering = [c for c in own if c["licence_id"] == stored.licence_id]
        if covering:
            return [f"your licence {stored.licence_id} covers this use"]
        return [COVERED_NOT_BY_YOURS]
    lines = [line for check in own for line in _own_check_lines(check)]
    return lines or [NO_LICENCE_OF_YOURS]


def _own_check_lines(check: StoredCheck) -> list[str]:
    label = f"your licence {check['licence_id']}"
    codes = [failure["code"] for failure in check["failures"]]
    if FailureCode.REVOKED.value in codes:
        return [f"{label}: revoked"]  # once per licence: nothing else about it matters
    lines = [f"{label}: {failure['message']}" for failure in check["failures"]]
    lines += [
        f"{label}: {_BRAND_UNKNOWN_WORDING.get(fact, f'needs the {fact}')}"
        for fact in check["unknowns"]
    ]
    return lines


def _brand_failure(failure: StoredFailure) -> str:
    try:
        wording = _BRAND_FAILURE_WORDING[FailureCode(failure["code"])]
        return wording.format(**failure["params"])
    except (ValueError, KeyError):
        return failure["code"].replace("_", " ")


def third_party_statement(verdict: Verdict) -> str:
    return _THIRD_PARTY_STATEMENT[verdict]


def clearance(
    *,
    talent_name: str | None,
    possible: bool,
    similarity: float | None,
    rendered: RenderedVerdict | None,
) -> tuple[bool, list[str]]:
    """A pre-check face: may the brand use it, and why (in the brand's own terms)."""
    if talent_name is None or rendered is None:
        return True, [NO_TALENT_RECOGNISED]
    if rendered.verdict is Verdict.LICENSED:
        return True, [f"{talent_name}: {reason}" for reason in rendered.reasons]
    if possible:
        return False, [
            f"possibly {talent_name} (similarity {similarity or 0:.2f}); needs human review",
            *rendered.reasons,
        ]
    return False, [f"{talent_name}: {reason}" for reason in rendered.reasons]


def asset_reuse_view(entry: Mapping[str, Any], viewer: Viewer) -> dict[str, Any]:
    """One approved-asset match as ``viewer`` may see it."""
    if viewer.audience is Audience.TALENT_SIDE:
        return {
            key: entry.get(key)
            for key in (
                "licence_id",
                "licensee",
                "matched_by",
                "distance",
                "publisher_covered",
                "message",
            )
        }
    covered = bool(entry["publisher_covered"])
    own = viewer.brand_id is not None and entry.get("licensee_brand_id") == viewer.brand_id
    if own:
        where = "is covered" if covered else "is not covered"
        return {
            "licence_id": entry["licence_id"],
            "licensee": None,
            "matched_by": entry["matched_by"],
            "distance": entry.get("distance"),
            "publisher_covered": covered,
            "message": f"this image is an approved asset of your licence "
            f"{entry['licence_id']}; this publisher {where} by it",
        }
    where = "covered" if covered else "not covered"
    return {
        "licence_id": None,
        "licensee": None,
        "matched_by": None,
        "distance": None,
        "publisher_covered": covered,
        "message": f"this image is an approved asset under another party's licence; this "
        f"publisher is {where}",
    }
