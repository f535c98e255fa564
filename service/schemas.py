"""Request and response schemas (the API's public shapes)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import InstrumentedAttribute

from indexer.db import Talent
from service.models import JobItem, Scan, Webhook

T = TypeVar("T")


# --- bounds on input text: one owner, read from the columns the text is stored in ---------
def column_length(column: InstrumentedAttribute[Any]) -> int:
    """The declared length of a ``String(n)`` column (what PostgreSQL enforces)."""
    length = getattr(column.property.columns[0].type, "length", None)
    if not isinstance(length, int):
        raise TypeError(f"{column} has no declared length")
    return length


#: PostgreSQL refuses the NUL character in text; so does every text field of the API.
NO_NUL = r"^[^\x00]*$"
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


def _to_utc(value: datetime) -> datetime:
    """Naive = UTC; aware values are converted. A value that has no UTC equivalent (year
    9999 at a negative offset, year 1 at a positive one) is refused."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the time is outside the range of UTC timestamps") from exc


#: A timestamp given by a client, as UTC (the one date rule of every form and query).
UtcTimestamp = Annotated[datetime, AfterValidator(_to_utc)]

TriageAction = Literal["acknowledge", "dismiss_false_match", "licensed_elsewhere",
                       "confirm_violation", "reopen"]
AlertStatus = Literal["open", "acknowledged", "dismissed_false_match", "licensed_elsewhere",
                      "confirmed_violation"]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


class ErrorBody(BaseModel):
    code: str = Field(examples=["talent_not_found"], description="Stable; one per error kind.")
    message: str = Field(examples=["No talent with id 42."])
    details: dict[str, Any] | None = Field(default=None, description="Facts about the error "
                                           "(limits, offending fields), when there are any.")


class ErrorResponse(BaseModel):
    error: ErrorBody


class ModelPackOut(BaseModel):
    name: str
    version: str


# --- talents --------------------------------------------------------------------------------
class TalentCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "Ines Moreau", "external_id": "AG-2291"}]})

    name: str = bounded_text(NAME_MAX, min_length=1)
    external_id: str | None = bounded_text(NAME_MAX, default=None)
    agency: str | None = bounded_text(NAME_MAX, default=None,
                                      description="Admin keys only: the agency's name.")


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
class AssetIn(BaseModel):
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    phash: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")


class Compensation(BaseModel):
    flat_fee: Decimal | None = Field(default=None, ge=0, decimal_places=2)
    per_use: Decimal | None = Field(default=None, ge=0, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class LicenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    licensee: str = Field(min_length=1, max_length=200, description="The brand licensed.")
    publishers: list[str] = Field(min_length=1, description="Domains (hm.com), wildcards "
                                  "(*.hm.com) or account URLs (instagram.com/hm).")
    channels: list[str] = Field(default=["*"], min_length=1)
    territories: list[str] = Field(default=["*"], min_length=1,
                                   description="ISO 3166-1 alpha-2 codes, or *.")
    media: list[Literal["photo", "ai_replica"]] = Field(min_length=1)
    ai_label_required: bool = True
    valid_from: AwareDatetime
    valid_until: AwareDatetime | None = None
    approved_assets: list[AssetIn] = []
    compensation: Compensation | None = None

    @field_validator("territories")
    @classmethod
    def _territories(cls, value: list[str]) -> list[str]:
        for code in value:
            if code != "*" and not (len(code) == 2 and code.isalpha()):
                raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 code or *")
        return [code.upper() for code in value]


class LicenceRevoke(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
    revoked_at: AwareDatetime | None = None


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
    approved_assets: list[AssetIn]
    compensation: Compensation | None
    revoked_at: datetime | None
    revocation_reason: str | None
    created_at: datetime


# --- scans ----------------------------------------------------------------------------------
class CandidateOut(BaseModel):
    talent_id: int
    name: str
    similarity: float
    band: str


class LicenceCheckOut(BaseModel):
    licence_id: int
    licensee: str
    covers: bool
    failures: list[dict[str, str]]
    unknowns: list[str]


class LicenceVerdictOut(BaseModel):
    verdict: Literal["licensed", "unlicensed", "review"]
    licence_id: int | None
    reasons: list[str]
    checks: list[LicenceCheckOut]


class MatchedTalentOut(BaseModel):
    id: int
    name: str
    agency_id: int
    similarity: float


class FaceOut(BaseModel):
    index: int
    box: list[float]
    detection_score: float
    band: str
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


class ScanOut(BaseModel):
    id: int
    kind: Literal["scan", "precheck"]
    created_at: datetime
    model_pack: ModelPackOut
    image: ImageOut
    context: ContextOut
    provenance: dict[str, Any]
    asset_reuse: list[dict[str, Any]]
    faces: list[FaceOut]
    summary: dict[str, int]
    cleared: bool | None = None


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
    items: list[dict[str, Any]]


# --- alerts ---------------------------------------------------------------------------------
class AlertOut(BaseModel):
    id: int
    agency_id: int
    talent: dict[str, Any]
    status: str
    needs_review: bool
    verdict: str
    band: str
    similarity: float
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


class TriageIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"action": "confirm_violation", "note": "Takedown sent to the shop on 3 March."}]})

    action: TriageAction
    note: str | None = bounded_text(NOTE_MAX, default=None)


# --- webhooks and usage ---------------------------------------------------------------------
class WebhookCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"url": "https://hooks.agency.example/twinwatch"}]})

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
