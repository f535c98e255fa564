"""Wire types of the talent's own view: consent records and documents, sightings, signing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.core.schemas import NAME_MAX, SHA256_HEX, bounded_text
from service.licensing.schemas import LicenceConsentOut, LicenceOut
from service.licensing.states import ConfirmedBy, ConsentEventKind, RecordStatus
from service.rules.vocabulary import ConsentMethod


class ConsentDocumentOut(BaseModel):
    name: str | None
    media_type: str
    bytes: int
    sha256: str


class ConsentConfirmationOut(BaseModel):
    """Who turned an attested document into consent, and when."""

    by: ConfirmedBy
    at: datetime
    user_id: int | None
    key_id: int | None


class ConsentRecordOut(BaseModel):
    id: int
    licence_id: int
    talent_id: int
    method: ConsentMethod
    status: RecordStatus = Field(
        description="signed (the talent's typed signature), attested_by_agency (an uploaded "
        "document: the agency's statement, not consent) or confirmed (such a document the "
        "talent confirmed or an admin verified)."
    )
    signer_name: str
    signed_at: datetime = Field(description="When signed, or when the document was uploaded.")
    in_force_from: datetime | None = Field(
        description="When the record started to count; null while only attested."
    )
    terms_sha256: str
    for_current_terms: bool
    withdrawn_at: datetime | None
    document: ConsentDocumentOut | None
    confirmation: ConsentConfirmationOut | None


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


class ConsentConfirmIn(BaseModel):
    """What the talent (or an admin) saw: the terms' and the document's sha256."""

    model_config = ConfigDict(extra="forbid")

    terms_sha256: str = Field(
        pattern=SHA256_HEX,
        description="The terms_sha256 of the terms read; a change since then is 409 "
        "consent_terms_changed.",
    )
    document_sha256: str = Field(
        pattern=SHA256_HEX,
        description="The sha256 of the document seen; another is 409 consent_document_mismatch.",
    )


class ConsentActorOut(BaseModel):
    role: str = Field(description="admin, agency or talent.")
    user_id: int | None
    key_id: int | None


class ConsentEventOut(BaseModel):
    """One entry of the talent's consent ledger (a hash chain per talent)."""

    id: int
    talent_id: int
    seq: int = Field(description="Its place in the talent's chain: 1, 2, ...")
    licence_id: int
    record_id: int | None
    kind: ConsentEventKind
    at: datetime
    actor: ConsentActorOut
    terms_sha256: str
    terms: dict[str, Any] = Field(description="The canonical terms the event is about.")
    detail: dict[str, Any]
    prev_sha256: str
    sha256: str = Field(description="sha256 of the event's canonical serialisation.")


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
    start_s: float | None = Field(default=None, description="A video: her face first on screen.")
    end_s: float | None = Field(default=None, description="A video: her face last on screen.")


class AwaitingConsentOut(BaseModel):
    talent_id: int
    talent: str
    licence: LicenceOut
