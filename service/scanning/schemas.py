"""Wire types of scans: the scanned image, its faces, candidates and licence verdicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from indexer.matching import Band
from service.core.schemas import ModelPackOut
from service.licensing.schemas import LicenceCheckOut
from service.rules.vocabulary import (
    MediaKind,
    ScanKind,
    Verdict,
)


# --- scans ----------------------------------------------------------------------------------
class CandidateOut(BaseModel):
    talent_id: int
    name: str
    similarity: float
    band: str


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
    start_s: float | None = Field(default=None, description="A video's track: first on screen.")
    end_s: float | None = Field(default=None, description="A video's track: last on screen.")
    best_frame_s: float | None = Field(
        default=None, description="A video's track: the frame matched (its box is `box`)."
    )


class DerivedTalentOut(BaseModel):
    id: int
    name: str


class DerivedOut(BaseModel):
    """The image is derived from a talent's portfolio image (cropped, restyled, re-used)."""

    talent: DerivedTalentOut
    portfolio_image: int = Field(description="The portfolio image's id.")
    area_share: float = Field(description="Share of the original's area the image shows.")
    face_present: bool = Field(description="The original's face region is in the image.")
    face_similarity: float | None = Field(description="The face there vs. hers in the original.")
    face_replaced: bool = Field(description="Her face region shows someone else's face.")
    scale: float
    rotation_deg: float
    mirrored: bool
    region: list[list[float]] = Field(description="The region shown, in original pixels.")


class ImageOut(BaseModel):
    sha256: str
    phash: str | None
    width: int
    height: int
    source_url: str | None
    kind: MediaKind = MediaKind.IMAGE
    duration_s: float | None = Field(
        default=None,
        description="A video's duration (when `truncated`: how far it was read).",
    )
    truncated: str | None = Field(
        default=None,
        description="A video cut short, and why: `max_duration_s` or `max_frames` (a stream "
        "with no declared length, cut at the bound), `max_samples` (the analysis budget) or "
        "`broken_stream` (cut where it broke). Null when read to its end, and for an image.",
    )
    derived_from: list[DerivedOut] = []


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
    tracks: list[FaceOut] | None = Field(
        default=None,
        description="A video's face tracks (its faces, each with its time range); "
        "null for an image.",
    )
