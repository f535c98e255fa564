"""The states an alert moves through and the words triage uses (domain enums of alerts)."""

from __future__ import annotations

from enum import StrEnum

from service.licensing.states import CONSENT_EMAIL_KIND, CONSENT_WITHDRAWN_KIND


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
    """Why an alert was raised: a face matched (or possibly matched), an approved asset
    was reused by a publisher its licence does not cover, or the image is derived from a
    portfolio image beyond what her licences allow (issue 22)."""

    MATCH = "match"
    POSSIBLE = "possible"
    ASSET_REUSE = "asset_reuse"
    DERIVED = "derived"


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
    # to the agency: its talent withdrew her consent to a licence (consent_mail)
    CONSENT_WITHDRAWN = CONSENT_WITHDRAWN_KIND


#: The statuses in which a person has not yet decided what an alert is.
UNDECIDED = frozenset({AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED})

#: The history action that takes back the alert's last change (see service.alerts.undo).
UNDO_ACTION = "undo"


def needs_review(
    *, status: AlertStatus, band: AlertBand, verdict_is_review: bool, face_confirmed: bool
) -> bool:
    """The one rule of "needs review": an undecided alert whose face is only a ``possible``
    match nobody has said is the talent, or whose licence check lacks a fact. A decided alert
    (dismissed, licensed elsewhere, confirmed) never needs review."""
    if status not in UNDECIDED:
        return False
    if band is AlertBand.POSSIBLE and not face_confirmed:
        return True
    return verdict_is_review


class SightingStatus(StrEnum):
    """Where one sighting of a talent stands, as the talent is told (service.alerts.sightings)."""

    LICENSED = "licensed"
    CONFIRMED = "confirmed"  # her agency confirmed it as an unlicensed use
    UNDER_REVIEW = "under_review"  # her agency has not decided yet
    REJECTED = "rejected"  # her agency said the face is not hers
