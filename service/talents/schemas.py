"""Wire types of talents: creating, reading, enrolling photos, invitations, erasure."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.core.schemas import NAME_MAX, NO_CONTROL, ModelPackOut, bounded_text


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
    """An invitation for the talent to set her password and see her sightings, licences, pay
    and consent; a new invitation makes the earlier unused link stop working. The one-time
    link is e-mailed to the talent's own address (``sent_to``, masked) and is not in this
    answer; only an admin's answer carries it (``invitation_url``, shown once), to hand over."""

    talent_id: int
    user_id: int
    email: str
    sent_to: str | None = Field(
        default=None,
        description="The address the link was e-mailed to, masked (n***@talent.example).",
        examples=["i***@example.com"],
    )
    invitation_url: str | None = Field(
        default=None,
        description="Admin (operator) answers only: the one-time link, to hand over. "
        "null in an agency's answer: the link went by e-mail.",
    )
    expires_at: datetime


class PhotoOutcomeOut(BaseModel):
    file: str
    accepted: bool
    already_enrolled: bool
    reference_id: int | None
    reasons: list[str] = Field(
        description="The quality gate's technical reasons for a refusal, with its figures."
    )
    advice: list[str] = Field(
        default_factory=list,
        description="Plain words for each reason in `reasons`: what is wrong and how to fix it.",
        examples=[
            [
                "The face is small (59 px wide): use a photo where the face is at least 64 px "
                "wide, such as a closer crop or a larger original."
            ]
        ],
    )
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


# --- portfolio (issue 22) -------------------------------------------------------------------
class PortfolioImageOut(BaseModel):
    id: int
    talent_id: int
    name: str
    sha256: str
    width: int
    height: int
    face_box: list[float] | None = Field(description="The talent's face in it, if one was found.")


class PortfolioFileOut(BaseModel):
    file: str
    accepted: bool
    image_id: int | None
    already_registered: bool
    reason: str | None


class PortfolioAddOut(BaseModel):
    talent_id: int
    files: list[PortfolioFileOut]
