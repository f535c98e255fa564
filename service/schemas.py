"""Request and response schemas (the API's public shapes)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import InstrumentedAttribute

from indexer.db import Talent
from indexer.matching import Band
from service.models import JobItem, Scan, Webhook
from service.rules.dates import EndInstant, StartInstant
from service.rules.money import Amount, CurrencyCode
from service.rules.vocabulary import (
    AssetScope,
    Channel,
    ConsentMethod,
    ConsentStatus,
    LicenceChannel,
    LicenceTerritory,
    Medium,
    Verdict,
)

T = TypeVar("T")
# The values of ``service.licensing.evaluate.Verdict`` (core cannot import licensing).


# --- bounds on input text: one owner, read from the columns the text is stored in ---------
def column_length(column: InstrumentedAttribute[Any]) -> int:
    """The declared length of a ``String(n)`` column (what PostgreSQL enforces)."""
    length = getattr(column.property.columns[0].type, "length", None)
    if not isinstance(length, int):
        raise TypeError(f"{column} has no declared length")
    return length


#: PostgreSQL refuses the NUL character in text; so does every text field of the API.
NO_NUL = r"^[^\x00]*$"
#: Names people read (talents): no control characters at all.
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
NAME_MAX = column_length(Talent.name)
PUBLISHER_MAX = column_length(Scan.publisher)
CHANNEL_MAX = column_length(Scan.channel)
UPLOAD_NAME_MAX = column_length(JobItem.upload_name)
SECRET_MAX = column_length(Webhook.secret)
URL_MAX = 2048  # page, image and webhook URLs (stored as text; browsers' practical limit)
NOTE_MAX = 4000


def bounded_text(max_length: int, *, min_length: int = 0, **kwargs: Any) -> Any:
    """A ``Field`` for text of at most ``max_length`` characters and no NUL."""
    return Field(min_length=min_length, max_length=max_length, pattern=NO_NUL, **kwargs)


class ScanKind(StrEnum):
    """A sighting in the wild (``scan``) or a brand checking its own asset (``precheck``)."""

    SCAN = "scan"
    PRECHECK = "precheck"


class AlertOutcome(StrEnum):
    """What a job item's scan did to the alerts: raised a new one, added a sighting to one
    that existed, or neither (a monitor learns this, never why)."""

    RAISED = "raised"
    UPDATED = "updated"
    NONE = "none"


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


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


class ErrorBody(BaseModel):
    code: str = Field(examples=["talent_not_found"], description="Stable; one per error kind.")
    message: str = Field(examples=["No talent with id 42."])
    details: dict[str, Any] | None = Field(
        default=None,
        description="Facts about the error (limits, offending fields), when there are any.",
    )


class ErrorResponse(BaseModel):
    error: ErrorBody


class ModelPackOut(BaseModel):
    name: str
    version: str


# --- talents --------------------------------------------------------------------------------
class TalentCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Ines Moreau", "external_id": "AG-2291"}]}
    )

    name: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=NAME_MAX, pattern=NO_CONTROL
        ),
    ]
    external_id: str | None = bounded_text(NAME_MAX, default=None)
    agency: str | None = bounded_text(
        NAME_MAX, default=None, description="Admin keys only: the agency's name."
    )


class TalentOut(BaseModel):
    id: int
    name: str
    agency: str
    agency_id: int
    external_id: str | None
    status: str
    references: int
    embeddings: int
    model_pack: ModelPackOut


class TalentInvitationIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "ines@example.com"}]})

    email: str = bounded_text(
        320,
        min_length=3,
        description="The talent's own address: their sign-in name (one account per address).",
    )


class TalentInvitationOut(BaseModel):
    """A one-time link for the talent to set their password and see their sightings,
    licences, pay and consent. Shown once: hand it to the talent; a new invitation makes the
    earlier unused link stop working."""

    talent_id: int
    user_id: int
    email: str
    invitation_url: str
    expires_at: datetime


class PhotoOutcomeOut(BaseModel):
    file: str
    accepted: bool
    already_enrolled: bool
    reference_id: int | None
    reasons: list[str]
    face_px: float | None = None
    detection_score: float | None = None
    sharpness: float | None = None


class EnrolOut(BaseModel):
    talent_id: int
    model_pack: ModelPackOut
    photos: list[PhotoOutcomeOut]


class EraseOut(BaseModel):
    talent_id: int
    erased: bool
    references_removed: int
    embeddings_removed: int


# --- licences -------------------------------------------------------------------------------
# Bounds of a licence (docs/api.md): every list and string is limited, so a licence cannot
# make each scan of its talent answer megabytes of reasons.
MAX_LICENSEE_CHARS = 200
MAX_PUBLISHERS = 100
MAX_CHANNELS = len(Channel) + 1
MAX_TERRITORIES = 300
MAX_APPROVED_ASSETS = 100
MAX_REASON_CHARS = 2000

PublisherPatternText = Annotated[str, Field(min_length=1, max_length=PUBLISHER_MAX, pattern=NO_NUL)]
ChannelText = Annotated[LicenceChannel, Field(min_length=1, max_length=40)]
TerritoryText = Annotated[LicenceTerritory, Field(min_length=1, max_length=10)]


class AssetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    phash: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")


class AssetOut(BaseModel):
    id: int
    sha256: str | None
    phash: str | None


class Compensation(BaseModel):
    """Money: amounts 0..21,474,836.47 with at most two decimals, ISO 4217 currency."""

    model_config = ConfigDict(extra="forbid")

    flat_fee: Amount | None = None
    per_use: Amount | None = None
    currency: CurrencyCode


class LicenceTermsIn(BaseModel):
    """A licence's terms: what ``PUT /v1/licences/{id}`` replaces (approved assets have
    their own endpoints)."""

    model_config = ConfigDict(extra="forbid")

    licensee: str = bounded_text(
        MAX_LICENSEE_CHARS, min_length=1, description="The brand licensed."
    )
    publishers: list[PublisherPatternText] = Field(
        min_length=1,
        max_length=MAX_PUBLISHERS,
        description="Domains (hm.com), wildcards (*.hm.com), account URLs (instagram.com/hm) or *.",
    )
    channels: list[ChannelText] = Field(
        default=["*"],
        min_length=1,
        max_length=MAX_CHANNELS,
        description="From the closed list (social, ecommerce, print, outdoor, video, "
        "editorial, advertising), or *.",
    )
    territories: list[TerritoryText] = Field(
        default=["WORLD"],
        min_length=1,
        max_length=MAX_TERRITORIES,
        description="ISO 3166-1 alpha-2 codes, groups EU / EEA, or WORLD (*).",
    )
    media: list[Medium] = Field(min_length=1, max_length=2)
    ai_label_required: bool = True
    valid_from: StartInstant = Field(description="A date (start of that day, UTC) or a date-time.")
    valid_until: EndInstant | None = Field(
        default=None, description="Exclusive end; a date means the end of that day (UTC)."
    )
    asset_scope: AssetScope = Field(
        default=AssetScope.ANY_IMAGE,
        description="any_image: every image of the talent; approved_assets: only images "
        "matching one of the licence's approved assets.",
    )
    compensation: Compensation | None = None
    requires_talent_consent: bool = Field(
        default=False,
        description="Not in force until the talent signs it (always so for "
        "licences covering ai_replica).",
    )


class LicenceCreate(LicenceTermsIn):
    approved_assets: list[AssetIn] = Field(default=[], max_length=MAX_APPROVED_ASSETS)


class AssetScopeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asset_scope: AssetScope


class LicenceRevoke(BaseModel):
    reason: str = bounded_text(MAX_REASON_CHARS, min_length=1)
    revoked_at: StartInstant | None = None


class LicenceOut(BaseModel):
    id: int
    talent_id: int
    licensee: str
    publishers: list[str]
    channels: list[str]
    territories: list[str]
    media: list[str]
    ai_label_required: bool
    valid_from: datetime
    valid_until: datetime | None
    asset_scope: AssetScope
    approved_assets: list[AssetOut]
    compensation: Compensation | None
    revoked_at: datetime | None
    revocation_reason: str | None
    created_at: datetime
    requires_talent_consent: bool = False
    consent: LicenceConsentOut | None = None


# --- scans ----------------------------------------------------------------------------------
class CandidateOut(BaseModel):
    talent_id: int
    name: str
    similarity: float
    band: str


class LicenceFailureOut(BaseModel):
    code: str
    message: str
    params: dict[str, str] = {}


class LicenceCheckOut(BaseModel):
    """One licence judged against the use: the talent's side sees every licence, a brand
    only its own, a monitor none."""

    licence_id: int
    licensee: str
    covers: bool
    failures: list[LicenceFailureOut]
    unknowns: list[str]


class LicenceVerdictOut(BaseModel):
    verdict: Verdict
    licence_id: int | None = Field(description="The covering licence, when the caller may know it.")
    reasons: list[str] = Field(
        description="Talent's side: every reason; brand: in terms of "
        "its own licences only; monitor: empty."
    )
    checks: list[LicenceCheckOut]


class AssetReuseOut(BaseModel):
    licence_id: int | None
    licensee: str | None
    matched_by: str | None
    distance: int | None
    publisher_covered: bool
    message: str


class MatchedTalentOut(BaseModel):
    id: int
    name: str
    agency_id: int
    similarity: float


class FaceOut(BaseModel):
    index: int
    box: list[float]
    detection_score: float
    band: Band
    talent: MatchedTalentOut | None
    candidates: list[CandidateOut]
    licence: LicenceVerdictOut | None
    cleared: bool | None = Field(default=None, description="Pre-checks: may the brand use it?")
    why: list[str] = []


class ImageOut(BaseModel):
    sha256: str
    phash: str | None
    width: int
    height: int
    source_url: str | None


class ContextOut(BaseModel):
    page_url: str | None
    publisher: str | None
    observed_at: datetime
    use_until: datetime | None
    channel: str | None
    territory: str | None
    medium: str | None = None  # a pre-check's stated medium
    ai_label: str | None = None  # a pre-check's stated AI label


class ScanOut(BaseModel):
    id: int
    kind: ScanKind
    created_at: datetime
    model_pack: ModelPackOut
    image: ImageOut
    context: ContextOut
    provenance: dict[str, Any]
    asset_reuse: list[AssetReuseOut]
    faces: list[FaceOut]
    summary: dict[str, int]
    cleared: bool | None = None


class JobItemOut(BaseModel):
    """One item of a batch job. ``name`` is the uploaded file's name or the item's URL (an
    image URL, or a crawled record's target URI); ``source`` is the same (kept for older
    clients). ``context`` is the item's own context where it has one (else the job's)."""

    position: int
    name: str
    source: str
    status: str
    scan_id: int | None
    error: dict[str, Any] | None
    alert_outcome: AlertOutcome | None
    context: dict[str, Any] | None = None


class CallbackOut(BaseModel):
    """The job's completion callback: its URL and how its delivery went."""

    url: str
    status: str  # waiting (job not finished) | pending | delivered | failed
    attempts: int
    last_error: str | None
    delivered_at: datetime | None
    attempt_log: list[dict[str, Any]]


class SkippedRecordOut(BaseModel):
    """A crawl record reported and skipped (malformed, truncated, a revisit not resolved)."""

    offset: int | None
    uri: str | None
    reason: str
    message: str


class JobOut(BaseModel):
    id: int
    kind: str
    status: str
    total: int
    queued: int
    running: int
    done: int
    failed: int
    created_at: datetime
    finished_at: datetime | None
    items: list[JobItemOut] = Field(
        description="The first 100 items by position (a crawl job "
        "may hold thousands; `total` counts them all): every item "
        "is paged at `GET /v1/jobs/{id}/items`."
    )
    callback: CallbackOut | None = None
    callback_secret: str | None = Field(
        default=None,
        description="Only in the answer that "
        "created the job: the secret the callback is signed "
        "with (generated unless `callback_secret` was given).",
    )
    skipped: list[SkippedRecordOut] = []


class JobFinishedEvent(BaseModel):
    """The body of a job's completion callback: the job as ``GET /v1/jobs/{id}`` shows it
    to its submitter (per item: name, status, scan, alert outcome; never licence terms)."""

    event: Literal["job.finished"] = "job.finished"
    job: JobOut


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


class ReviewDecision(StrEnum):
    """A person's answer to "is the face in the sighting the talent?"."""

    SAME_PERSON = "same_person"
    NOT_SAME_PERSON = "not_same_person"


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


class UsageRow(BaseModel):
    licence_id: int
    talent_id: int
    talent: str
    licensee: str
    image_sha256: str
    publisher: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    sightings: int
    per_use: Decimal | None = None  # what this use earns the talent (the licence's rate)
    currency: str | None = None


class UsageLicenceTotal(BaseModel):
    licence_id: int
    licensee: str
    talent_id: int
    uses: int
    per_use: Decimal | None
    flat_fee: Decimal | None
    currency: str | None
    amount_owed: Decimal | None


class UsageOut(BaseModel):
    period_from: datetime | None
    period_to: datetime | None
    events: list[UsageRow]
    totals: list[UsageLicenceTotal]
    owed: list[AmountOwed] = []  # all licences together, per currency


# --- takedown notices and e-mail (service/takedowns, service/alerts/emails.py) --------------
class NoticeKind(StrEnum):
    """``dmca``: 17 U.S.C. §512(c)(3); ``dsa``: EU Digital Services Act Art. 16(2)."""

    DMCA = "dmca"
    DSA = "dsa"


class NoticeStatus(StrEnum):
    DRAFT = "draft"
    FINAL = "final"
    SENT = "sent"
    REMOVED = "removed"
    STILL_UP = "still_up"
    REAPPEARED = "reappeared"


class ItemState(StrEnum):
    """One URL of a notice: as reported, or what the last re-check (or a sighting) found."""

    REPORTED = "reported"
    REMOVED = "removed"
    STILL_UP = "still_up"
    UNREACHABLE = "unreachable"
    REAPPEARED = "reappeared"


class EmailKind(StrEnum):
    NEW_MATCH = "new_match"
    DAILY_DIGEST = "daily_digest"
    REMOVAL_CONFIRMED = "removal_confirmed"
    REAPPEARED = "reappeared"


FIELD_MAX = 4000
SHORT_MAX = 320
#: An e-mail address as a header may carry it: one @, no spaces, controls or separators.
EMAIL_PATTERN = r"^[^\s@\x00-\x1f<>,;]+@[^\s@\x00-\x1f<>,;]+$"
#: A notice's e-mail field as an edit may set it: the profile's rule (it is drafted from the
#: profile), or empty while the draft lacks it (confirming then says it is missing).
NOTICE_EMAIL_PATTERN = rf"^$|{EMAIL_PATTERN}"


class AgencyProfileIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rights_holder": "Lumen Models Ltd, agent for its represented models",
                    "address": "1 Example Street, London",
                    "email": "legal@lumen.example",
                    "phone": "+44 20 0000 0000",
                    "signature_name": "Jane Booker",
                }
            ]
        }
    )

    rights_holder: str = bounded_text(200, min_length=1)
    address: str = bounded_text(FIELD_MAX, min_length=1)
    email: str = Field(min_length=3, max_length=SHORT_MAX, pattern=EMAIL_PATTERN)
    phone: str | None = bounded_text(50, default=None)
    signature_name: str = bounded_text(200, min_length=1)


class AgencyProfileOut(AgencyProfileIn):
    agency_id: int
    updated_at: datetime


class NoticeFields(BaseModel):
    """The texts of a notice the agency may edit before confirming it. Which are required
    depends on the kind (see ``service.takedowns.notices.REQUIRED``)."""

    recipient: str = bounded_text(FIELD_MAX, default="")
    notifier_name: str = bounded_text(FIELD_MAX, default="")
    notifier_address: str = bounded_text(FIELD_MAX, default="")
    notifier_email: str = bounded_text(FIELD_MAX, default="")
    notifier_phone: str = bounded_text(FIELD_MAX, default="")
    work_description: str = bounded_text(FIELD_MAX, default="")
    reasons: str = bounded_text(FIELD_MAX, default="")
    good_faith_statement: str = bounded_text(FIELD_MAX, default="")
    accuracy_statement: str = bounded_text(FIELD_MAX, default="")
    signature: str = bounded_text(FIELD_MAX, default="")
    additional_information: str = bounded_text(FIELD_MAX, default="")


class NoticeFieldsEdit(BaseModel):
    """A partial edit: only the fields given change. Its rules are also what a draft's
    stored fields must meet before it is confirmed (``notices.invalid_elements``)."""

    model_config = ConfigDict(extra="forbid")

    recipient: str | None = bounded_text(FIELD_MAX, default=None)
    notifier_name: str | None = bounded_text(FIELD_MAX, default=None)
    notifier_address: str | None = bounded_text(FIELD_MAX, default=None)
    notifier_email: str | None = Field(
        default=None, max_length=SHORT_MAX, pattern=NOTICE_EMAIL_PATTERN
    )
    notifier_phone: str | None = bounded_text(FIELD_MAX, default=None)
    work_description: str | None = bounded_text(FIELD_MAX, default=None)
    reasons: str | None = bounded_text(FIELD_MAX, default=None)
    good_faith_statement: str | None = bounded_text(FIELD_MAX, default=None)
    accuracy_statement: str | None = bounded_text(FIELD_MAX, default=None)
    signature: str | None = bounded_text(FIELD_MAX, default=None)
    additional_information: str | None = bounded_text(FIELD_MAX, default=None)


MAX_NOTICE_ALERTS = 200


class NoticeCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"kind": "dmca", "alert_ids": [41, 42]}]}
    )

    kind: NoticeKind
    alert_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        min_length=1,
        max_length=MAX_NOTICE_ALERTS,
        description="One alert, or a group of alerts of one talent on one publisher.",
    )


class NoticeSend(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"sent_to": "copyright@shop.example", "note": "via the shop's web form"}]
        }
    )

    sent_to: str = bounded_text(500, min_length=1)
    sent_at: StartInstant | None = Field(
        default=None,
        description="Default: now. A date alone is its start (UTC); no zone means UTC.",
    )
    note: str | None = bounded_text(NOTE_MAX, default=None)


class NoticeItemOut(BaseModel):
    alert_id: int
    page_url: str | None
    image_url: str | None
    image_sha256: str
    image_phash: str | None
    state: ItemState
    checked_at: datetime | None
    check_detail: str | None


class NoticeEventOut(BaseModel):
    at: datetime
    from_status: NoticeStatus | None
    to_status: NoticeStatus
    actor: str
    note: str | None


class NoticeOut(BaseModel):
    id: int
    kind: NoticeKind
    status: NoticeStatus
    talent_id: int = Field(
        description="The talent named (a stored idempotent answer is "
        "forgotten when that talent is erased)."
    )
    talent: EvidenceTalentOut
    publisher: str | None
    fields: NoticeFields
    missing: list[str] = Field(description="Required elements still empty (draft only).")
    items: list[NoticeItemOut]
    final_sha256: str | None
    finalized_at: datetime | None
    sent_at: datetime | None
    sent_to: str | None
    due_at: datetime | None
    overdue: bool
    last_checked_at: datetime | None
    created_at: datetime
    history: list[NoticeEventOut]


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


# --- the talent's own view and consent (issue 9) ---------------------------------------------
SHA256_HEX = r"^[0-9a-f]{64}$"


class AmountOwed(BaseModel):
    currency: str
    uses: int
    amount_owed: Decimal


class LicenceConsentOut(BaseModel):
    """A licence's standing with the talent's own consent."""

    required: bool
    status: ConsentStatus
    terms_sha256: str = Field(description="sha256 of the canonical terms a signature covers.")


class ConsentDocumentOut(BaseModel):
    name: str | None
    media_type: str
    bytes: int
    sha256: str


class ConsentRecordOut(BaseModel):
    id: int
    licence_id: int
    talent_id: int
    method: ConsentMethod
    signer_name: str
    signed_at: datetime
    terms_sha256: str
    for_current_terms: bool
    withdrawn_at: datetime | None
    document: ConsentDocumentOut | None


class LicenceConsentDetailOut(LicenceConsentOut):
    licence_id: int
    terms: dict[str, Any] = Field(description="The canonical terms, as signed.")
    records: list[ConsentRecordOut]


class ConsentSignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signature_name: str = bounded_text(
        NAME_MAX, min_length=1, description="The talent's name, typed as their signature."
    )
    terms_sha256: str = Field(
        pattern=SHA256_HEX,
        description="The terms_sha256 of the terms "
        "read; a change since then is 409 consent_terms_changed.",
    )


class RequiresConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requires_talent_consent: bool


class TalentSelfOut(BaseModel):
    talent_id: int
    name: str
    agency: str


class SightingOut(BaseModel):
    """One sighting of the talent's likeness (a monitor's scan), as the talent sees it."""

    scan_id: int
    finding_id: int
    observed_at: datetime
    publisher: str | None
    page_url: str | None
    channel: str | None
    territory: str | None
    similarity: float | None
    band: str
    verdict: str | None
    licence_id: int | None
    reasons: list[str]
    ai_label: str | None
    model_pack: str


class AwaitingConsentOut(BaseModel):
    talent_id: int
    talent: str
    licence: LicenceOut


LicenceOut.model_rebuild()
UsageOut.model_rebuild()
