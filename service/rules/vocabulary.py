"""The closed vocabularies of licences and sightings: channels and territories.

One owner for each rule:

- **Channels** are a closed list (:class:`Channel`). Input is case-folded, separators
  (``-``, ``_``, space) are dropped and a few synonyms are mapped (``e-commerce`` →
  ``ecommerce``, ``Instagram`` → ``social``). Anything else is refused with the list.
  Licences may also say ``"*"`` (every channel); a sighting must name one channel.
- **Territories** are ISO 3166-1 alpha-2 codes (``pycountry``), ``UK`` read as ``GB``.
  Licences may also name a group (:data:`TERRITORY_GROUPS`: ``EU``, ``EEA``, ``WORLD``) or
  ``"*"`` (= ``WORLD``); groups are kept as written and expanded when a licence is
  evaluated (:func:`expand_territories`). A sighting happens in one country: groups are
  refused there.

The parsers raise ``ValueError`` (pydantic turns it into a 422 naming the field); API code
that parses outside pydantic uses :func:`channel_or_error` / :func:`territory_or_error`,
which raise the typed :class:`~service.rules.errors.ChannelUnknownError` or
:class:`~service.rules.errors.TerritoryUnknownError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from functools import lru_cache
from typing import Annotated

import pycountry
from pydantic import AfterValidator

from service.rules.errors import ChannelUnknownError, TerritoryUnknownError

ANY = "*"
WORLD = "WORLD"


class Medium(StrEnum):
    """How a likeness appears: a photograph of the talent, or an AI replica of them."""

    PHOTO = "photo"
    AI_REPLICA = "ai_replica"


class AiLabel(StrEnum):
    """The machine-readable AI label an image carries (or will carry): a C2PA manifest that
    declares trained-algorithmic media, or IPTC DigitalSourceType in XMP."""

    C2PA = "c2pa"
    IPTC = "iptc"


class Verdict(StrEnum):
    """A licence verdict on one use of a likeness (the evaluator's answer)."""

    LICENSED = "licensed"
    UNLICENSED = "unlicensed"
    REVIEW = "review"


class Channel(StrEnum):
    """Where an image is used. The closed list documented in docs/api.md."""

    SOCIAL = "social"
    ECOMMERCE = "ecommerce"
    PRINT = "print"
    OUTDOOR = "outdoor"
    VIDEO = "video"
    EDITORIAL = "editorial"
    ADVERTISING = "advertising"


# Folded spelling (lower case, no separators) -> channel. Platform names map to their channel
# so that a monitor's ``channel=Instagram`` means ``social``, not an unknown channel.
CHANNEL_SYNONYMS: dict[str, Channel] = {
    "ecom": Channel.ECOMMERCE,
    "eshop": Channel.ECOMMERCE,
    "onlineshop": Channel.ECOMMERCE,
    "onlinestore": Channel.ECOMMERCE,
    "webshop": Channel.ECOMMERCE,
    "shop": Channel.ECOMMERCE,
    "socialmedia": Channel.SOCIAL,
    "instagram": Channel.SOCIAL,
    "tiktok": Channel.SOCIAL,
    "facebook": Channel.SOCIAL,
    "x": Channel.SOCIAL,
    "twitter": Channel.SOCIAL,
    "pinterest": Channel.SOCIAL,
    "threads": Channel.SOCIAL,
    "snapchat": Channel.SOCIAL,
    "youtube": Channel.VIDEO,
    "tv": Channel.VIDEO,
    "film": Channel.VIDEO,
    "ooh": Channel.OUTDOOR,
    "billboard": Channel.OUTDOOR,
    "outofhome": Channel.OUTDOOR,
    "magazine": Channel.PRINT,
    "press": Channel.EDITORIAL,
    "ads": Channel.ADVERTISING,
    "advert": Channel.ADVERTISING,
    "advertisement": Channel.ADVERTISING,
    "ad": Channel.ADVERTISING,
}

_SEPARATORS = re.compile(r"[\s_\-./]+")
ALLOWED_CHANNELS = ", ".join(channel.value for channel in Channel)


def _fold(value: str) -> str:
    return _SEPARATORS.sub("", value.strip().casefold())


def parse_channel(value: str) -> Channel:
    """The channel a (possibly differently spelled) name means; ``ValueError`` if none."""
    folded = _fold(value)
    for channel in Channel:
        if folded == channel.value:
            return channel
    if folded in CHANNEL_SYNONYMS:
        return CHANNEL_SYNONYMS[folded]
    raise ValueError(f"unknown channel {_shown(value)}; allowed: {ALLOWED_CHANNELS}")


def parse_licence_channel(value: str) -> str:
    """A licence's channel entry: a :class:`Channel` value or ``"*"``."""
    return ANY if value.strip() == ANY else parse_channel(value).value


def channel_or_error(value: str) -> Channel:
    try:
        return parse_channel(value)
    except ValueError as exc:
        raise ChannelUnknownError(str(exc), allowed=[c.value for c in Channel]) from None


# --- territories ----------------------------------------------------------------------------

EU_MEMBERS: frozenset[str] = frozenset(
    {
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    }
)
EEA_MEMBERS: frozenset[str] = EU_MEMBERS | {"IS", "LI", "NO"}
TERRITORY_ALIASES = {"UK": "GB"}


@lru_cache(maxsize=1)
def _country_codes() -> frozenset[str]:
    return frozenset(country.alpha_2 for country in pycountry.countries)


@lru_cache(maxsize=1)
def territory_groups() -> dict[str, frozenset[str]]:
    """Named groups a licence may list; ``WORLD`` (also written ``*``) is every country."""
    return {"EU": EU_MEMBERS, "EEA": EEA_MEMBERS, WORLD: _country_codes()}


TERRITORY_GROUP_NAMES = ("EU", "EEA", WORLD)


@lru_cache(maxsize=1)
def country_choices() -> tuple[tuple[str, str], ...]:
    """Every ISO 3166-1 alpha-2 code with its English name, by name (for pickers)."""
    return tuple(
        sorted(((c.alpha_2, c.name) for c in pycountry.countries), key=lambda pair: pair[1])
    )


def parse_country(value: str) -> str:
    """An ISO 3166-1 alpha-2 code, upper case; ``ValueError`` otherwise."""
    code = value.strip().upper()
    code = TERRITORY_ALIASES.get(code, code)
    if code not in _country_codes():
        raise ValueError(f"{_shown(value)} is not an ISO 3166-1 alpha-2 country code")
    return code


def parse_licence_territory(value: str) -> str:
    """A licence's territory entry: a country code, a group name, or ``WORLD`` (``*``)."""
    code = value.strip().upper()
    if code in (ANY, WORLD):
        return WORLD
    if code in TERRITORY_GROUP_NAMES:
        return code
    try:
        return parse_country(code)
    except ValueError:
        raise ValueError(
            f"{_shown(value)} is not an ISO 3166-1 alpha-2 country code nor one "
            f"of the groups {', '.join(TERRITORY_GROUP_NAMES)}"
        ) from None


def territory_or_error(value: str) -> str:
    try:
        return parse_country(value)
    except ValueError as exc:
        raise TerritoryUnknownError(str(exc)) from None


def expand_territories(entries: Iterable[str]) -> frozenset[str]:
    """Every country code a licence's territory list covers (groups expanded)."""
    groups = territory_groups()
    covered: set[str] = set()
    for entry in entries:
        code = entry.strip().upper()
        code = WORLD if code == ANY else TERRITORY_ALIASES.get(code, code)
        covered |= groups.get(code, {code})
    return frozenset(covered)


def _shown(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


# Pydantic field types (a ValueError becomes a 422 naming the field).
LicenceChannel = Annotated[str, AfterValidator(parse_licence_channel)]
LicenceTerritory = Annotated[str, AfterValidator(parse_licence_territory)]


class AssetScope(StrEnum):
    """Which images a licence covers: any image of the talent, or its approved assets only."""

    ANY_IMAGE = "any_image"
    APPROVED_ASSETS = "approved_assets"


class Alterations(StrEnum):
    """How far a licensee may alter the talent's photos (issue 22). ``none`` (the default):
    only as delivered, resized or re-encoded; ``retouching``: also cropped, rotated,
    mirrored or restyled. Pasting another person's face on her photo is never allowed,
    whatever the licence says (service.scanning.derived_alerts)."""

    NONE = "none"
    RETOUCHING = "retouching"


class ConsentMethod(StrEnum):
    """How a talent consented to a licence: a typed-name signature in twinwatch, or an
    offline signed document the agency uploaded."""

    SIGNATURE = "signature"
    DOCUMENT = "document"


class ConsentStatus(StrEnum):
    """Where a licence stands with the talent's own consent (service.licensing.consent)."""

    NOT_REQUIRED = "not_required"
    AWAITING_SIGNATURE = "awaiting_signature"  # never signed, or its terms changed since
    # the agency uploaded a document signed on paper: its word until the talent confirms it
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    SIGNED = "signed"
    WITHDRAWN = "withdrawn"


class ScanKind(StrEnum):
    """A sighting in the wild (``scan``) or a brand checking its own asset (``precheck``)."""

    SCAN = "scan"
    PRECHECK = "precheck"


class MediaKind(StrEnum):
    """What a scan looked at: a still image, or a video (its findings are face tracks)."""

    IMAGE = "image"
    VIDEO = "video"
