"""Licence terms in plain words: the one wording of every code a licence holds (channels,
territories, media, publishers, which images, the AI label rule, consent states) and the
short form of a fingerprint, for every page that shows a licence to a person."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from service.licensing.schemas import LicenceOut
from service.rules.vocabulary import (
    ANY,
    WORLD,
    Alterations,
    AssetScope,
    Channel,
    ConsentMethod,
    ConsentStatus,
    Medium,
    country_choices,
)

SIGNED = ConsentStatus.SIGNED
CHANNELS: dict[str, str] = {
    ANY: "any channel",
    Channel.SOCIAL: "social media",
    Channel.ECOMMERCE: "online shops",
    Channel.PRINT: "print",
    Channel.OUTDOOR: "outdoor (billboards, posters)",
    Channel.VIDEO: "video",
    Channel.EDITORIAL: "editorial",
    Channel.ADVERTISING: "advertising",
}
TERRITORY_GROUPS: dict[str, str] = {
    WORLD: "the whole world",
    ANY: "the whole world",
    "EU": "the EU (27 members)",
    "EEA": "the EEA (the EU, Iceland, Liechtenstein, Norway)",
}
MEDIA: dict[str, str] = {
    Medium.PHOTO: "photos of the talent",
    Medium.AI_REPLICA: "AI replicas of the talent",
}
SCOPES: dict[str, str] = {
    AssetScope.ANY_IMAGE: "any image of the talent",
    AssetScope.APPROVED_ASSETS: "approved images only",
}
ALTERATIONS: dict[str, str] = {
    Alterations.NONE: "only as delivered (resized or re-encoded)",
    Alterations.RETOUCHING: "retouching allowed (cropped, rotated, mirrored, restyled)",
}
NO_FACE_REPLACEMENT = "replacing her face is never allowed"
CONSENT: dict[str, str] = {
    ConsentStatus.NOT_REQUIRED: "not needed",
    ConsentStatus.AWAITING_SIGNATURE: "awaiting the talent's signature",
    ConsentStatus.AWAITING_CONFIRMATION: "awaiting the talent's confirmation",
    ConsentStatus.SIGNED: "signed by the talent",
    ConsentStatus.WITHDRAWN: "withdrawn by the talent",
}
METHODS: dict[str, str] = {
    ConsentMethod.SIGNATURE: "typed signature",
    ConsentMethod.DOCUMENT: "signed document",
}
ANY_PUBLISHER = "any publisher"
FREE_TEXT = (
    "A name with no brand picked is a brand not on twinwatch (unless it is exactly a brand's "
    "name): that brand's pre-checks will not see the licence."
)
UNLINKED = (
    "This licence is to a brand not on twinwatch: no brand's pre-check sees it, so the "
    "brand is told that no licence of its covers the talent."
)
FINGERPRINT_CHARS = 12


@cache
def _countries() -> dict[str, str]:
    return dict(country_choices())


def channel(code: str) -> str:
    return CHANNELS.get(code, code)


def territory(code: str) -> str:
    upper = code.upper()
    return TERRITORY_GROUPS.get(upper) or _countries().get(upper, code)


def medium(code: str) -> str:
    return MEDIA.get(code, code.replace("_", " "))


def scope(code: str) -> str:
    return SCOPES.get(code, code.replace("_", " "))


def alteration(code: str) -> str:
    return ALTERATIONS.get(code, code.replace("_", " "))


def publisher(pattern: str) -> str:
    return ANY_PUBLISHER if pattern == ANY else pattern


def joined(labels: Iterable[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    items = list(labels)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def channels(codes: Iterable[str]) -> str:
    return joined(channel(c) for c in codes)


def territories(codes: Iterable[str]) -> str:
    return joined(territory(t) for t in codes)


def media(codes: Iterable[str]) -> str:
    return joined(medium(m) for m in codes)


def publishers(patterns: Iterable[str]) -> str:
    return joined(publisher(p) for p in patterns)


def fingerprint(sha256: str) -> str:
    """A sha256 as people can compare it by eye: its first characters and an ellipsis (the
    page puts the whole value in a title and a copyable field beside it)."""
    return sha256[:FINGERPRINT_CHARS] + "…" if len(sha256) > FINGERPRINT_CHARS else sha256


@dataclass(frozen=True)
class Wording:
    """A licence's terms, each as one phrase."""

    publishers: str
    channels: str
    territories: str
    media: str
    ai_label: str
    images: str
    alterations: str


def alterations(code: str) -> str:
    """What a licence lets the licensee do to her photos, in words."""
    return f"{alteration(code)}; {NO_FACE_REPLACEMENT}"


def wording(licence: LicenceOut) -> Wording:
    assets = len(licence.approved_assets)
    images = SCOPES[licence.asset_scope]
    if licence.asset_scope is AssetScope.APPROVED_ASSETS:
        images += f" ({assets} approved image{'' if assets == 1 else 's'})"
    return Wording(
        publishers=publishers(licence.publishers),
        channels=channels(licence.channels),
        territories=territories(licence.territories),
        media=media(licence.media),
        ai_label="AI-generated images must carry an AI label"
        if licence.ai_label_required
        else "no AI label required",
        images=images,
        alterations=alterations(licence.alterations_allowed),
    )


def consent(status: str) -> str:
    return CONSENT.get(status, status.replace("_", " "))


def consent_method(code: str) -> str:
    return METHODS.get(code, code)


def standing(licence: LicenceOut, now: datetime) -> str:
    """Whether a licence is in force now, in words (revoked, ended, to come, awaiting the
    talent's consent, in force)."""
    if licence.revoked_at is not None and licence.revoked_at <= now:
        return "revoked"
    if licence.valid_until is not None and licence.valid_until <= now:
        return "ended"
    if licence.valid_from > now:
        return "not in force yet"
    consent_now = licence.consent
    if consent_now is not None and consent_now.required and consent_now.status != SIGNED:
        return "not in force: " + consent(consent_now.status)
    return "in force"
