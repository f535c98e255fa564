"""Wire types of licences and usage: terms in and out, assets, compensation, amounts owed."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from indexer.db import MAX_ID
from service.core.schemas import NO_NUL, PUBLISHER_MAX, bounded_text
from service.rules.dates import EndInstant, StartInstant
from service.rules.money import Amount, CurrencyCode
from service.rules.vocabulary import (
    Alterations,
    AssetScope,
    Channel,
    ConsentStatus,
    LicenceChannel,
    LicenceTerritory,
    Medium,
)

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

    licensee_brand_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="The brand on twinwatch this licence is to: its pre-checks see the "
        "licence. A licence with no brand is seen by no brand's pre-check.",
    )
    licensee: str = bounded_text(
        MAX_LICENSEE_CHARS,
        default="",
        validate_default=True,
        description="The name on the licence; defaults to the brand's name when "
        "licensee_brand_id is given. Given alone, it links the licence to the brand of that "
        "name (compared ignoring case, spaces and punctuation) if there is exactly one.",
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
    alterations_allowed: Alterations = Field(
        default=Alterations.NONE,
        description="none: her photos only as delivered (resized or re-encoded); "
        "retouching: also cropped, rotated, mirrored or restyled. Replacing her face is "
        "never allowed.",
    )
    compensation: Compensation | None = None
    requires_talent_consent: bool = Field(
        default=False,
        description="Not in force until the talent signs it (always so for "
        "licences covering ai_replica).",
    )

    @field_validator("licensee", mode="after")
    @classmethod
    def _named(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip() and info.data.get("licensee_brand_id") is None:
            raise ValueError(
                "name the licensee: pick a brand on twinwatch, or write the name of a brand "
                "not on twinwatch"
            )
        return value


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
    licensee_brand_id: int | None = Field(
        default=None,
        description="The brand on twinwatch it is to; null: no brand's pre-check sees it.",
    )
    publishers: list[str]
    channels: list[str]
    territories: list[str]
    media: list[str]
    ai_label_required: bool
    valid_from: datetime
    valid_until: datetime | None
    asset_scope: AssetScope
    alterations_allowed: Alterations = Alterations.NONE
    approved_assets: list[AssetOut]
    compensation: Compensation | None
    revoked_at: datetime | None
    revocation_reason: str | None
    created_at: datetime
    requires_talent_consent: bool = False
    consent: LicenceConsentOut | None = None


class BrandLicenceOut(LicenceOut):
    """A licence as its brand sees it: with whose likeness, and the agency to ask."""

    talent: str
    agency: str


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
    confirmed_by_review: bool = Field(
        default=False,
        description="Billed on a reviewer's 'same person' for a possible match (dismissing "
        "that alert as a false match takes it off again).",
    )


class UsageLicenceTotal(BaseModel):
    licence_id: int
    licensee: str
    talent_id: int
    talent: str = ""
    uses: int
    per_use: Decimal | None
    flat_fee: Decimal | None = Field(description="The licence's flat fee (owed or not).")
    currency: str | None
    per_use_amount: Decimal | None = Field(
        default=None, description="uses x per_use; null without a per-use rate."
    )
    flat_fee_accrued_at: datetime | None = Field(
        default=None, description="When the flat fee became owed, if that lies in the period."
    )
    flat_fee_owed: Decimal | None = Field(
        default=None, description="The flat fee, if it accrued in the period; else null."
    )
    amount_owed: Decimal | None = Field(
        description="per_use_amount + flat_fee_owed; null when neither applies."
    )


class UsageOut(BaseModel):
    period_from: datetime | None
    period_to: datetime | None
    events: list[UsageRow]
    totals: list[UsageLicenceTotal]
    owed: list[AmountOwed] = []  # all licences together, per currency


class AmountOwed(BaseModel):
    currency: str
    uses: int = 0
    per_use_amount: Decimal = Decimal("0.00")
    flat_fees: Decimal = Decimal("0.00")
    amount_owed: Decimal = Field(default=Decimal("0.00"), description="per_use_amount + flat_fees.")


class LicenceConsentOut(BaseModel):
    """A licence's standing with the talent's own consent."""

    required: bool
    status: ConsentStatus
    terms_sha256: str = Field(description="sha256 of the canonical terms a signature covers.")


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


LicenceOut.model_rebuild()


BrandLicenceOut.model_rebuild()


UsageOut.model_rebuild()
