"""Wire types of the talent's own view: consent records and documents, sightings, signing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.core.schemas import NAME_MAX, SHA256_HEX, bounded_text
from service.licensing.schemas import LicenceConsentOut, LicenceOut
from service.rules.vocabulary import (
    ConsentMethod,
)


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
