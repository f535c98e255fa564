"""Wire types of alerts: alerts and their evidence, review, history, webhooks and e-mail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from indexer.matching import Band
from service.alerts.states import (
    AlertBand,
    AlertStatus,
    EmailKind,
    ReviewDecision,
    SightingStatus,
    TriageAction,
)
from service.core.schemas import (
    EMAIL_PATTERN,
    NOTE_MAX,
    SECRET_MAX,
    SHORT_MAX,
    URL_MAX,
    ModelPackOut,
    bounded_text,
)
from service.licensing.consent_schemas import SightingOut
from service.licensing.schemas import LicenceCheckOut
from service.rules.vocabulary import (
    Verdict,
)


# --- alerts ---------------------------------------------------------------------------------
class AlertTalentOut(BaseModel):
    id: int
    name: str
    external_id: str | None


class AlertOut(BaseModel):
    """An alert, for the talent's agency (also the body of the ``alert.created`` webhook)."""

    id: int
    agency_id: int
    talent: AlertTalentOut
    status: AlertStatus
    needs_review: bool
    verdict: Verdict
    band: AlertBand
    similarity: float
    model_pack: ModelPackOut
    publisher: str | None
    page_url: str | None
    image_sha256: str
    image_phash: str | None
    sightings: int
    first_seen_at: datetime
    last_seen_at: datetime
    reasons: list[str]
    evidence_image_kept: bool
    triage_note: str | None
    triaged_at: datetime | None


class AlertCreatedEvent(BaseModel):
    event: Literal["alert.created"] = "alert.created"
    alert: AlertOut


class EvidenceImageOut(BaseModel):
    sha256: str
    perceptual_hash: str | None
    copy_kept: bool
    copy_kept_until: datetime | None


class EvidenceSightingOut(BaseModel):
    observed_at: datetime
    recorded_at: datetime
    page_url: str | None
    source_url: str | None
    channel: str | None
    territory: str | None
    face_box: list[float]
    detection_score: float
    similarity: float | None
    band: Band
    model_pack: str
    provenance: dict[str, Any]


class EvidenceTalentOut(BaseModel):
    name: str


class ThirdPartyEvidenceOut(BaseModel):
    """What a takedown recipient is sent: the facts of the use, never licence terms, fees or
    the agency's notes."""

    form: Literal["third_party"] = "third_party"
    alert_id: int
    talent: EvidenceTalentOut
    verdict: Verdict
    statement: str
    needs_review: bool
    publisher: str | None
    image: EvidenceImageOut
    sightings: list[EvidenceSightingOut]
    model_pack: ModelPackOut
    generated_at: datetime
    copied_from: str | None = Field(
        default=None, description="The image copies one of her portfolio photos (how)."
    )


class InternalEvidenceOut(BaseModel):
    """The agency's own copy: the alert (with triage notes), every licence checked and why
    none covers the use, plus everything in the third-party form."""

    form: Literal["internal"] = "internal"
    alert: AlertOut
    talent: AlertTalentOut
    publisher: str | None
    image: EvidenceImageOut
    sightings: list[EvidenceSightingOut]
    licences_checked: list[LicenceCheckOut]
    why_unlicensed: list[str]
    model_pack: ModelPackOut
    generated_at: datetime
    copied_from: str | None = Field(
        default=None,
        description="derived from portfolio image N (x% of it)[, face replaced]",
    )


class ReviewIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"decision": "not_same_person", "note": "A lookalike; different ear shape."}
            ]
        },
    )

    decision: ReviewDecision
    note: str | None = bounded_text(NOTE_MAX, default=None)


class AlertEventOut(BaseModel):
    """One change in an alert's history: who (a console user's e-mail or an API key's
    prefix; both null once that user or key is gone), when, from which status to which."""

    at: datetime
    action: str = Field(
        description="A triage action, or review_same_person / review_not_same_person."
    )
    from_status: AlertStatus
    to_status: AlertStatus
    note: str | None
    user_email: str | None
    key_prefix: str | None


class TriageIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"action": "confirm_violation", "note": "Takedown sent to the shop on 3 March."}
            ]
        }
    )

    action: TriageAction
    note: str | None = bounded_text(NOTE_MAX, default=None)


# --- webhooks and usage ---------------------------------------------------------------------
class WebhookCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"url": "https://hooks.agency.example/twinwatch"}]}
    )

    url: str = bounded_text(URL_MAX, min_length=8)
    secret: str | None = bounded_text(SECRET_MAX, min_length=16, default=None)


class WebhookOut(BaseModel):
    id: int
    url: str
    active: bool
    created_at: datetime
    secret: str | None = Field(default=None, description="Shown once, at creation.")


class DeliveryOut(BaseModel):
    id: int
    event: str
    alert_id: int | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None
    attempt_log: list[dict[str, Any]]


class EmailPreferencesIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "recipients": ["alerts@lumen.example"],
                    "immediate_matches": True,
                    "daily_digest": True,
                    "takedown_updates": True,
                }
            ]
        }
    )

    recipients: list[
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=SHORT_MAX, pattern=EMAIL_PATTERN),
        ]
    ] = Field(max_length=20)
    immediate_matches: bool = True
    daily_digest: bool = True
    takedown_updates: bool = True


class EmailPreferencesOut(EmailPreferencesIn):
    agency_id: int


class EmailMessageOut(BaseModel):
    id: int
    kind: EmailKind
    subject: str
    recipients: list[str]
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    attempt_log: list[dict[str, Any]]


class OwnSightingOut(SightingOut):
    """A sighting as the talent sees it, with where her agency's triage left it."""

    status: SightingStatus = Field(
        description="`licensed`, `confirmed` (an unlicensed use her agency confirmed), "
        "`under_review` (not decided yet) or `rejected` (her agency said it is not her)."
    )
    status_label: str = Field(description="The status in the words her console pages use.")
