"""The states an alert moves through and the words triage uses (domain enums of alerts)."""

from __future__ import annotations

from enum import StrEnum

from service.licensing.states import CONSENT_EMAIL_KIND


class TriageAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    DISMISS_FALSE_MATCH = "dismiss_false_match"
    LICENSED_ELSEWHERE = "licensed_elsewhere"
    CONFIRM_VIOLATION = "confirm_violation"
    REOPEN = "reopen"


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    DISMISSED_FALSE_MATCH = "dismissed_false_match"
    LICENSED_ELSEWHERE = "licensed_elsewhere"
    CONFIRMED_VIOLATION = "confirmed_violation"


class AlertBand(StrEnum):
    """Why an alert was raised: a face matched (or possibly matched), or an approved asset
    was reused by a publisher its licence does not cover."""

    MATCH = "match"
    POSSIBLE = "possible"
    ASSET_REUSE = "asset_reuse"


class EvidenceForm(StrEnum):
    """``internal``: for the agency, with licence terms and notes. ``third_party``: for a
    takedown recipient, without licence terms, fees or internal notes."""

    INTERNAL = "internal"
    THIRD_PARTY = "third_party"


class ReviewDecision(StrEnum):
    """A person's answer to "is the face in the sighting the talent?"."""

    SAME_PERSON = "same_person"
    NOT_SAME_PERSON = "not_same_person"


class EmailKind(StrEnum):
    NEW_MATCH = "new_match"
    DAILY_DIGEST = "daily_digest"
    REMOVAL_CONFIRMED = "removal_confirmed"
    REAPPEARED = "reappeared"
    # to the talent herself, not the agency (service.licensing.consent_mail)
    CONSENT_EVENT = CONSENT_EMAIL_KIND
