"""Licence evaluation: does any of a talent's licences cover one sighting of their likeness?

``evaluate_licences`` is a pure function of (the talent's licences, the usage context): no I/O,
no clock, no database, no logging. It returns ``licensed`` (with the covering licence),
``unlicensed`` (with every reason every licence failed) or ``review`` (a human must confirm).

Rules
=====

A licence **covers** a use iff every check below passes and none is unknown:

1. Revocation: ``revoked_at <= observed_at`` fails with REVOKED, and a revoked licence
   reports that one failure and nothing else (its other terms no longer matter). A
   revocation after the sighting does not make that earlier sighting unlicensed.
2. Validity: ``observed_at < valid_from`` fails with NOT_YET_VALID; ``observed_at >=
   valid_until`` fails with EXPIRED (``valid_until`` is exclusive; ``None`` = open-ended).
3. Publisher: the context publisher must match one of the licence's publisher patterns
   (WRONG_PUBLISHER), see *Publisher matching*.
4. Channel: the context channel must be listed; both sides are read through
   :func:`service.rules.vocabulary.parse_channel` (case, separators and synonyms: ``e-commerce``
   is ``ecommerce``, ``Instagram`` is ``social``); ``"*"`` allows every channel
   (CHANNEL_NOT_ALLOWED).
5. Territory: the ISO 3166-1 alpha-2 code must be covered by the licence's list, where
   groups (``EU``, ``EEA``) are expanded and ``WORLD`` or ``"*"`` allows every territory
   (OUTSIDE_TERRITORY). See :mod:`service.rules.vocabulary`.
6. Medium and AI labelling. An image *declares AI* iff it carries an AI label (C2PA, or IPTC
   DigitalSourceType trainedAlgorithmicMedia / compositeWithTrainedAlgorithmicMedia); the two
   facts are the same fact, and ``ImageFacts`` rejects values that disagree.

   - Image declares AI: the licence must include ``ai_replica`` (MEDIUM_NOT_ALLOWED
     otherwise). A required label is present by definition.
   - Image declares no AI and the licence includes ``photo``: passes (read as a photo; an
     unlabelled AI image cannot be told apart from a photo here).
   - Image declares no AI and the licence covers ``ai_replica`` only: the image is either a
     photo (not licensed) or an unlabelled AI replica.

     * With ``ai_label_required``: both readings fail, so the check fails with
       AI_LABEL_MISSING (the likely story: the brand's digital twin published unlabelled),
       never MEDIUM_NOT_ALLOWED.
     * Without ``ai_label_required``: an unlabelled replica would be licensed and a photo
       would not, so the medium is recorded as an *unknown* (``"medium"``) for a human.
   - Image declares no AI but carries AI-generation signals (generator metadata, a generator's
     invisible watermark: ``ImageFacts.ai_signals``, see :mod:`service.rules.generators`):
     with a *strong* signal it is an unlabelled AI image: a licence without ``ai_replica``
     fails with MEDIUM_NOT_ALLOWED, one with ``ai_replica`` and ``ai_label_required`` with
     AI_LABEL_MISSING (both naming the signal), one with ``ai_replica`` and no label required
     passes. With only *weak* signals (a generator named in free text) the image is judged
     both as a photo and as an unlabelled AI image; when the two readings differ the medium
     is an *unknown* (``"ai_generation"``) for a human, when they agree that outcome stands.
   - A licence listing no media fails with MEDIUM_NOT_ALLOWED.
   - A pre-check may *state* the medium (``ImageFacts.stated_medium``): a stated
     ``ai_replica`` without a label is an unlabelled replica (allowed only by a licence that
     includes ``ai_replica`` without ``ai_label_required``: MEDIUM_NOT_ALLOWED or
     AI_LABEL_MISSING otherwise); a stated ``photo`` fails an ``ai_replica``-only licence
     with MEDIUM_NOT_ALLOWED. What the image itself declares always wins.
7. Approved assets: a licence with ``asset_scope`` APPROVED_ASSETS covers only images that
   match one of its approved assets, by SHA-256 (case-insensitive) or by pHash Hamming
   distance ``<= max_phash_distance`` (default and rule:
   :data:`service.rules.fingerprints.NEAR_IDENTICAL_MAX_DISTANCE`), else ASSET_NOT_APPROVED (also
   when it has no assets yet). With ANY_IMAGE (the default) assets never restrict the
   licence; they are still used to report approved-asset reuse.
8. Talent consent (:func:`_check_consent`): a licence that needs the talent's own consent
   (``consent_required``: it covers AI replicas, or the agency asked for it) covers a use
   only while one of its ``consents`` windows (signed for its current terms, until
   withdrawn) contains ``observed_at``: CONSENT_WITHDRAWN when the talent withdrew before
   the sighting, else CONSENT_NOT_SIGNED. Which windows count is
   :mod:`service.licensing.consent`'s rule.

Every check runs for every licence, so every failure of every licence is reported.

Unknown facts
=============

A ``None`` (or blank) publisher, channel or territory makes that check neither pass nor fail:
it is recorded in ``LicenceCheck.unknowns`` (values of ``UnknownFact``). A licence that allows
``"*"`` for that fact does not need it, so nothing is recorded. An empty allow-list (a
licence listing no publishers/channels/territories/media) fails even when the fact is unknown.

Verdict
=======

- LICENSED if some licence covers (no failures, no unknowns). Among several, the one with
  the latest ``valid_from`` wins, then the lowest ``id``.
- REVIEW if none covers but at least one licence has no failures and only unknowns.
- UNLICENSED otherwise, including when there are no licences ("no licence on record").

``checks`` holds one ``LicenceCheck`` per licence, ordered by licence id (input order breaks
ties), so the result does not depend on the order the licences were loaded in.

Publisher matching
==================

Both the context publisher and the licence's patterns go through
:mod:`service.licensing.publishers` (Public Suffix List, IDNA, percent-decoding, dot
segments, ``www.``/``m.`` hosts, account paths); see there for the pattern forms. The
context publisher is derived from ``publisher`` and ``page_url`` together
(:func:`~service.licensing.publishers.derive_location`); when neither parses it is unknown.

All datetimes must be timezone-aware; naive ones raise ``NaiveDatetimeError`` (a
``ValueError``) when the dataclass is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from service.licensing.publishers import Location, derive_location, parse_location, parse_pattern
from service.rules.fingerprints import (
    NEAR_IDENTICAL_MAX_DISTANCE,
    hamming_distance,
    is_perceptual_hash,
)
from service.rules.generators import GenerationSignal, strongest
from service.rules.vocabulary import (
    ANY,
    TERRITORY_ALIASES,
    WORLD,
    AssetScope,
    Channel,
    Medium,
    Verdict,
    expand_territories,
    parse_licence_channel,
)

__all__ = [
    "ANY",
    "AssetFingerprint",
    "AssetReuse",
    "AssetScope",
    "Channel",
    "ConsentWindow",
    "Failure",
    "FailureCode",
    "ImageFacts",
    "LicenceCheck",
    "LicenceTerms",
    "LicenceVerdict",
    "Medium",
    "NaiveDatetimeError",
    "UnknownFact",
    "UsageContext",
    "Verdict",
    "evaluate_licences",
    "find_approved_asset_reuse",
]

PHASH_BITS = 64
NO_LICENCE_REASON = "no licence on record"
LISTED_IN_REASONS = 8  # a reason line names at most this many allowed values


class FailureCode(StrEnum):
    WRONG_PUBLISHER = "wrong_publisher"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    OUTSIDE_TERRITORY = "outside_territory"
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"
    MEDIUM_NOT_ALLOWED = "medium_not_allowed"
    AI_LABEL_MISSING = "ai_label_missing"
    REVOKED = "revoked"
    ASSET_NOT_APPROVED = "asset_not_approved"
    CONSENT_NOT_SIGNED = "consent_not_signed"
    CONSENT_WITHDRAWN = "consent_withdrawn"


class UnknownFact(StrEnum):
    """Facts a licence needs that the context lacked (values of ``LicenceCheck.unknowns``)."""

    PUBLISHER = "publisher"
    CHANNEL = "channel"
    TERRITORY = "territory"
    MEDIUM = "medium"
    AI_GENERATION = "ai_generation"


_UNKNOWN_EXPLANATIONS: dict[UnknownFact, str] = {
    UnknownFact.PUBLISHER: "publisher unknown; licence is limited to named publishers",
    UnknownFact.CHANNEL: "channel unknown; licence is limited to named channels",
    UnknownFact.TERRITORY: "territory unknown; licence is limited to named territories",
    UnknownFact.MEDIUM: (
        "image carries no AI label; licence covers AI replicas only (no label required), "
        "so a human must confirm whether this is an AI replica or a photo"
    ),
    UnknownFact.AI_GENERATION: (
        "image carries no AI label, but its metadata names an AI generator in free text (a "
        "weak signal, see the scan's AI-generation signals); a human must confirm whether it "
        "is AI-generated"
    ),
}


class NaiveDatetimeError(ValueError):
    """A datetime without a timezone reached the licensing rules (a programming error)."""


def _require_aware(value: datetime | None, *, field: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise NaiveDatetimeError(f"{field} must be timezone-aware, got naive {value!r}")


def _require_phash(value: str | None, *, field: str) -> None:
    if value is not None and not is_perceptual_hash(value):
        raise ValueError(f"{field} must be 16 hex characters (64-bit pHash), got {value!r}")


@dataclass(frozen=True)
class AssetFingerprint:
    sha256: str | None
    phash: str | None  # 16 hex chars, 64-bit pHash

    def __post_init__(self) -> None:
        _require_phash(self.phash, field="AssetFingerprint.phash")


@dataclass(frozen=True)
class ConsentWindow:
    """The talent's consent to a licence's current terms: from ``signed_at`` until
    ``withdrawn_at`` (exclusive; ``None``: not withdrawn)."""

    signed_at: datetime
    withdrawn_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware(self.signed_at, field="ConsentWindow.signed_at")
        _require_aware(self.withdrawn_at, field="ConsentWindow.withdrawn_at")

    def covers(self, at: datetime) -> bool:
        return self.signed_at <= at and (self.withdrawn_at is None or at < self.withdrawn_at)


@dataclass(frozen=True)
class LicenceTerms:
    id: int
    talent_id: int
    licensee: str
    publishers: tuple[str, ...]
    channels: tuple[str, ...]
    territories: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime | None
    media: tuple[Medium, ...]
    ai_label_required: bool
    approved_assets: tuple[AssetFingerprint, ...] = ()
    asset_scope: AssetScope = AssetScope.ANY_IMAGE
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    consent_required: bool = False
    consents: tuple[ConsentWindow, ...] = ()

    def __post_init__(self) -> None:
        _require_aware(self.valid_from, field="LicenceTerms.valid_from")
        _require_aware(self.valid_until, field="LicenceTerms.valid_until")
        _require_aware(self.revoked_at, field="LicenceTerms.revoked_at")


@dataclass(frozen=True)
class ImageFacts:
    sha256: str
    phash: str | None
    declares_ai: bool
    ai_label: str | None  # "c2pa" | "iptc" | None
    stated_medium: Medium | None = None  # a pre-check's intended medium, if stated
    ai_signals: tuple[GenerationSignal, ...] = ()  # AI-generation signals beyond labels

    @property
    def reads_as_ai(self) -> bool:
        """Labelled AI, or an unlabelled image with a strong AI-generation signal."""
        return self.declares_ai or any(signal.strong for signal in self.ai_signals)

    def __post_init__(self) -> None:
        _require_phash(self.phash, field="ImageFacts.phash")
        if self.declares_ai != (self.ai_label is not None):
            raise ValueError(
                "ImageFacts.declares_ai must be true exactly when ai_label is set "
                f"(declares_ai={self.declares_ai}, ai_label={self.ai_label!r})"
            )


@dataclass(frozen=True)
class UsageContext:
    page_url: str | None
    publisher: str | None
    observed_at: datetime
    channel: str | None
    territory: str | None
    image: ImageFacts

    def __post_init__(self) -> None:
        _require_aware(self.observed_at, field="UsageContext.observed_at")


@dataclass(frozen=True)
class Failure:
    code: FailureCode
    message: str


@dataclass(frozen=True)
class LicenceCheck:
    licence_id: int
    licensee: str
    covers: bool
    failures: tuple[Failure, ...]
    unknowns: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"licence {self.licence_id} ({self.licensee})"

    def reason_lines(self) -> list[str]:
        failure_lines = [f"{self.label}: {failure.message}" for failure in self.failures]
        unknown_lines = [f"{self.label}: {_explain_unknown(fact)}" for fact in self.unknowns]
        return failure_lines + unknown_lines


def _explain_unknown(fact: str) -> str:
    try:
        return _UNKNOWN_EXPLANATIONS[UnknownFact(fact)]
    except ValueError:
        return f"{fact} unknown"


@dataclass(frozen=True)
class LicenceVerdict:
    verdict: Verdict
    licence_id: int | None
    checks: tuple[LicenceCheck, ...]

    @property
    def reasons(self) -> list[str]:
        """Human-readable reasons, e.g. ``"licence 3 (H&M): expired on 2026-03-31; ..."``."""
        if not self.checks:
            return [NO_LICENCE_REASON]
        if self.verdict is Verdict.LICENSED:
            covering = [check for check in self.checks if check.licence_id == self.licence_id]
            return [f"{check.label} covers this use" for check in covering[:1]]
        return [line for check in self.checks for line in check.reason_lines()]


@dataclass(frozen=True)
class AssetReuse:
    licence_id: int
    licensee: str
    matched_by: str  # "sha256" | "phash"
    distance: int | None
    publisher_covered: bool
    message: str


# --------------------------------------------------------------------------------------------
# Publishers (the rules live in service.licensing.publishers)


@dataclass(frozen=True)
class _Publisher:
    location: Location
    from_page_url: bool

    def display(self) -> str:
        suffix = " (from page URL)" if self.from_page_url else ""
        return self.location.display() + suffix


def _context_publisher(context: UsageContext) -> _Publisher | None:
    location = derive_location(context.publisher, context.page_url)
    if location is None:
        return None
    stated = parse_location(context.publisher) if context.publisher else None
    return _Publisher(location=location, from_page_url=stated is None)


def _publisher_covered(patterns: Sequence[str], publisher: _Publisher | None) -> bool:
    parsed = [parse_pattern(raw) for raw in patterns]
    if any(pattern.anything for pattern in parsed):
        return True
    return publisher is not None and any(p.matches(publisher.location) for p in parsed)


def _describe_list(items: Sequence[str]) -> str:
    """A bounded list for a reason line: the first few, then how many more."""
    shown = ", ".join(items[:LISTED_IN_REASONS])
    extra = len(items) - LISTED_IN_REASONS
    return f"{shown} and {extra} more" if extra > 0 else shown


def _describe_patterns(patterns: Sequence[str]) -> str:
    return _describe_list([parse_pattern(raw).display() for raw in patterns])


# --------------------------------------------------------------------------------------------
# Context facts, normalised once per evaluation


def _normalised_token(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return value.strip().lower()


@dataclass(frozen=True)
class _Facts:
    observed_at: datetime
    publisher: _Publisher | None
    channel: str | None  # a Channel value when it is one, else folded
    territory: str | None  # upper-case, UK read as GB
    image: ImageFacts

    @classmethod
    def from_context(cls, context: UsageContext) -> _Facts:
        territory = _normalised_token(context.territory)
        channel = _normalised_token(context.channel)
        if territory is not None:
            territory = TERRITORY_ALIASES.get(territory.upper(), territory.upper())
        return cls(
            observed_at=context.observed_at,
            publisher=_context_publisher(context),
            channel=_canonical_channel(channel) if channel is not None else None,
            territory=territory,
            image=context.image,
        )


def _canonical_channel(value: str) -> str:
    try:
        return parse_licence_channel(value)
    except ValueError:
        return value.strip().lower()


# --------------------------------------------------------------------------------------------
# Individual checks: each returns a Failure, an UnknownFact, or None when it passes.

_Finding = Failure | UnknownFact | None


def _describe_instant(value: datetime) -> str:
    if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
        return value.date().isoformat()
    return value.isoformat(timespec="minutes")


def _check_revocation(licence: LicenceTerms, facts: _Facts) -> _Finding:
    if licence.revoked_at is None or licence.revoked_at > facts.observed_at:
        return None
    reason = f" ({licence.revocation_reason})" if licence.revocation_reason else ""
    message = (
        f"revoked on {_describe_instant(licence.revoked_at)}{reason}; "
        f"seen {_describe_instant(facts.observed_at)}"
    )
    return Failure(FailureCode.REVOKED, message)


def _check_started(licence: LicenceTerms, facts: _Facts) -> _Finding:
    if licence.valid_from <= facts.observed_at:
        return None
    message = (
        f"not valid until {_describe_instant(licence.valid_from)}; "
        f"seen {_describe_instant(facts.observed_at)}"
    )
    return Failure(FailureCode.NOT_YET_VALID, message)


def _check_not_expired(licence: LicenceTerms, facts: _Facts) -> _Finding:
    if licence.valid_until is None or facts.observed_at < licence.valid_until:
        return None
    message = (
        f"expired on {_describe_instant(licence.valid_until)}; "
        f"seen {_describe_instant(facts.observed_at)}"
    )
    return Failure(FailureCode.EXPIRED, message)


def _check_publisher(licence: LicenceTerms, facts: _Facts) -> _Finding:
    if _publisher_covered(licence.publishers, facts.publisher):
        return None
    if not licence.publishers:
        seen = facts.publisher.display() if facts.publisher else "an unknown publisher"
        message = f"published by {seen}; licence lists no publishers"
        return Failure(FailureCode.WRONG_PUBLISHER, message)
    if facts.publisher is None:
        return UnknownFact.PUBLISHER
    message = (
        f"published by {facts.publisher.display()}; "
        f"licence allows {_describe_patterns(licence.publishers)}"
    )
    return Failure(FailureCode.WRONG_PUBLISHER, message)


class _Listing(StrEnum):
    PASS = "pass"
    UNKNOWN = "unknown"
    FAIL = "fail"


def _listing(*, allowed: frozenset[str], everything: bool, value: str | None) -> _Listing:
    """Shared rule for channels and territories: everything allowed, unknown, listed or not."""
    if everything:
        return _Listing.PASS
    if not allowed:
        return _Listing.FAIL
    if value is None:
        return _Listing.UNKNOWN
    return _Listing.PASS if value in allowed else _Listing.FAIL


def _check_channel(licence: LicenceTerms, facts: _Facts) -> _Finding:
    listed = list(dict.fromkeys(_canonical_channel(entry) for entry in licence.channels))
    allowed = frozenset(listed)
    outcome = _listing(allowed=allowed, everything=ANY in allowed, value=facts.channel)
    if outcome is _Listing.PASS:
        return None
    if outcome is _Listing.UNKNOWN:
        return UnknownFact.CHANNEL
    if not licence.channels:
        return Failure(FailureCode.CHANNEL_NOT_ALLOWED, "licence lists no channels")
    message = f"used in channel {facts.channel}; licence allows {_describe_list(listed)}"
    return Failure(FailureCode.CHANNEL_NOT_ALLOWED, message)


def _check_territory(licence: LicenceTerms, facts: _Facts) -> _Finding:
    entries = [entry.strip().upper() for entry in licence.territories]
    everything = any(entry in (ANY, WORLD) for entry in entries)
    outcome = _listing(
        allowed=expand_territories(entries), everything=everything, value=facts.territory
    )
    if outcome is _Listing.PASS:
        return None
    if outcome is _Listing.UNKNOWN:
        return UnknownFact.TERRITORY
    if not licence.territories:
        return Failure(FailureCode.OUTSIDE_TERRITORY, "licence lists no territories")
    message = f"seen in {facts.territory}; licence allows {_describe_list(entries)}"
    return Failure(FailureCode.OUTSIDE_TERRITORY, message)


def _describe_media(media: Sequence[Medium]) -> str:
    return " and ".join(str(medium) for medium in media) + " only"


def _check_medium(licence: LicenceTerms, facts: _Facts) -> _Finding:
    media = set(licence.media)
    if not media:
        return Failure(FailureCode.MEDIUM_NOT_ALLOWED, "licence covers no media")
    if facts.image.declares_ai:
        if Medium.AI_REPLICA in media:
            return None
        message = (
            f"image declares AI-generated content ({facts.image.ai_label} label); "
            f"licence covers {_describe_media(licence.media)}"
        )
        return Failure(FailureCode.MEDIUM_NOT_ALLOWED, message)
    stated = facts.image.stated_medium
    if stated is Medium.AI_REPLICA:
        return _check_unlabelled_replica(licence)
    if facts.image.ai_signals:
        return _check_unlabelled_ai(licence, facts.image.ai_signals, stated)
    return _check_unlabelled(licence, stated)


def _check_unlabelled(licence: LicenceTerms, stated: Medium | None) -> _Finding:
    """An image with no AI label and no AI-generation signal: read as a photo (or as what a
    pre-check states it will be)."""
    if Medium.PHOTO in licence.media:
        return None
    if stated is Medium.PHOTO:
        return Failure(
            FailureCode.MEDIUM_NOT_ALLOWED,
            f"intended as a photo; licence covers {_describe_media(licence.media)}",
        )
    if not licence.ai_label_required:
        return UnknownFact.MEDIUM
    message = (
        "image carries no AI label (C2PA or IPTC); licence covers AI replicas only "
        "and requires AI labelling"
    )
    return Failure(FailureCode.AI_LABEL_MISSING, message)


def _check_unlabelled_replica(licence: LicenceTerms) -> _Finding:
    """An AI replica, by the pre-check's own statement, that will carry no AI label."""
    if Medium.AI_REPLICA not in licence.media:
        return Failure(
            FailureCode.MEDIUM_NOT_ALLOWED,
            f"intended as an AI replica; licence covers {_describe_media(licence.media)}",
        )
    if licence.ai_label_required:
        return Failure(
            FailureCode.AI_LABEL_MISSING,
            "intended as an AI replica without an AI label; licence requires AI labelling",
        )
    return None


def _check_unlabelled_ai(
    licence: LicenceTerms, signals: tuple[GenerationSignal, ...], stated: Medium | None
) -> _Finding:
    """An image with no AI label but AI-generation signals: a strong signal decides it is an
    unlabelled AI image; a weak one decides only where both readings agree."""
    signal = strongest(signals)
    if signal is None:
        return _check_unlabelled(licence, stated)
    as_ai = _as_unlabelled_ai(licence, signal)
    if signal.strong:
        return as_ai
    as_photo = _check_unlabelled(licence, stated)
    same = (
        as_ai.code == as_photo.code
        if isinstance(as_ai, Failure) and isinstance(as_photo, Failure)
        else as_ai == as_photo
    )
    return as_photo if same else UnknownFact.AI_GENERATION


def _as_unlabelled_ai(licence: LicenceTerms, signal: GenerationSignal) -> _Finding:
    said = (
        f"image carries no AI label but an AI-generation signal: {signal.detail} "
        f"({signal.generator}; {signal.source})"
    )
    if Medium.AI_REPLICA not in licence.media:
        return Failure(
            FailureCode.MEDIUM_NOT_ALLOWED,
            f"{said}; licence covers {_describe_media(licence.media)}",
        )
    if licence.ai_label_required:
        return Failure(FailureCode.AI_LABEL_MISSING, f"{said}; licence requires AI labelling")
    return None


def _check_consent(licence: LicenceTerms, facts: _Facts) -> _Finding:
    """The talent's own consent, when the licence needs it (see rule 8)."""
    seen = facts.observed_at
    if not licence.consent_required or any(w.covers(seen) for w in licence.consents):
        return None
    what = "replica consent" if Medium.AI_REPLICA in licence.media else "consent"
    withdrawn = [
        w.withdrawn_at
        for w in licence.consents
        if w.withdrawn_at is not None and w.signed_at <= seen and w.withdrawn_at <= seen
    ]
    if withdrawn:
        message = (
            f"{what} withdrawn by the talent on {_describe_instant(max(withdrawn))}; "
            f"seen {_describe_instant(seen)}"
        )
        return Failure(FailureCode.CONSENT_WITHDRAWN, message)
    return Failure(FailureCode.CONSENT_NOT_SIGNED, f"{what} not signed by the talent")


# --------------------------------------------------------------------------------------------
# Approved assets


@dataclass(frozen=True)
class _AssetMatch:
    matched_by: str  # "sha256" | "phash"
    distance: int | None


def _same_sha256(first: str | None, second: str) -> bool:
    return first is not None and first.strip().lower() == second.strip().lower()


def _phash_distances(assets: Sequence[AssetFingerprint], image: ImageFacts) -> list[int]:
    if image.phash is None:
        return []
    return [hamming_distance(a.phash, image.phash) for a in assets if a.phash is not None]


def _best_asset_match(
    assets: Sequence[AssetFingerprint], image: ImageFacts, max_phash_distance: int
) -> _AssetMatch | None:
    """SHA-256 equality beats any pHash match; among pHash matches the closest wins."""
    if any(_same_sha256(asset.sha256, image.sha256) for asset in assets):
        return _AssetMatch(matched_by="sha256", distance=None)
    distances = _phash_distances(assets, image)
    closest = min(distances, default=None)
    if closest is None or closest > max_phash_distance:
        return None
    return _AssetMatch(matched_by="phash", distance=closest)


def _asset_mismatch_message(
    assets: Sequence[AssetFingerprint], image: ImageFacts, max_phash_distance: int
) -> str:
    count = len(assets)
    noun = "asset" if count == 1 else "assets"
    closest = min(_phash_distances(assets, image), default=None)
    if image.phash is None:
        detail = "image has no pHash"
    elif closest is None:
        detail = "no approved asset has a pHash"
    else:
        detail = f"closest pHash distance {closest}, limit {max_phash_distance}"
    return (
        f"image is not one of the {count} approved {noun} of this licence "
        f"(no SHA-256 match; {detail})"
    )


def _check_asset(licence: LicenceTerms, facts: _Facts, max_phash_distance: int) -> _Finding:
    assets = licence.approved_assets
    if licence.asset_scope is AssetScope.ANY_IMAGE:
        return None
    if not assets:
        return Failure(
            FailureCode.ASSET_NOT_APPROVED,
            "licence covers its approved assets only and has none yet",
        )
    if _best_asset_match(assets, facts.image, max_phash_distance) is not None:
        return None
    message = _asset_mismatch_message(assets, facts.image, max_phash_distance)
    return Failure(FailureCode.ASSET_NOT_APPROVED, message)


def _require_distance(max_phash_distance: int) -> None:
    if not 0 <= max_phash_distance <= PHASH_BITS:
        raise ValueError(f"max_phash_distance must be 0..{PHASH_BITS}, got {max_phash_distance}")


# --------------------------------------------------------------------------------------------
# Evaluation


def _check_licence(licence: LicenceTerms, facts: _Facts, max_phash_distance: int) -> LicenceCheck:
    revoked = _check_revocation(licence, facts)
    if revoked is not None:  # a revoked licence says so once, and nothing else
        return LicenceCheck(
            licence_id=licence.id,
            licensee=licence.licensee,
            covers=False,
            failures=(revoked,) if isinstance(revoked, Failure) else (),
            unknowns=(),
        )
    findings = [
        _check_started(licence, facts),
        _check_not_expired(licence, facts),
        _check_publisher(licence, facts),
        _check_channel(licence, facts),
        _check_territory(licence, facts),
        _check_medium(licence, facts),
        _check_asset(licence, facts, max_phash_distance),
        _check_consent(licence, facts),
    ]
    failures = tuple(finding for finding in findings if isinstance(finding, Failure))
    unknowns = tuple(str(finding) for finding in findings if isinstance(finding, UnknownFact))
    return LicenceCheck(
        licence_id=licence.id,
        licensee=licence.licensee,
        covers=not failures and not unknowns,
        failures=failures,
        unknowns=unknowns,
    )


def _require_single_talent(licences: Sequence[LicenceTerms]) -> None:
    talent_ids = sorted({licence.talent_id for licence in licences})
    if len(talent_ids) > 1:
        raise ValueError(f"licences must belong to one talent, got talent ids {talent_ids}")


def _in_id_order(licences: Sequence[LicenceTerms]) -> list[LicenceTerms]:
    return sorted(licences, key=lambda licence: licence.id)


def _choose_covering(
    licences: Sequence[LicenceTerms], checks: Sequence[LicenceCheck]
) -> LicenceTerms | None:
    covering = [licence for licence, check in zip(licences, checks, strict=True) if check.covers]
    if not covering:
        return None
    return min(covering, key=lambda licence: (-licence.valid_from.timestamp(), licence.id))


def _needs_review(checks: Sequence[LicenceCheck]) -> bool:
    return any(not check.failures and check.unknowns for check in checks)


def evaluate_licences(
    *,
    licences: Sequence[LicenceTerms],
    context: UsageContext,
    max_phash_distance: int = NEAR_IDENTICAL_MAX_DISTANCE,
) -> LicenceVerdict:
    """Judge one sighting of a talent's likeness against all of that talent's licences."""
    _require_single_talent(licences)
    _require_distance(max_phash_distance)
    facts = _Facts.from_context(context)
    ordered = _in_id_order(licences)
    checks = tuple(_check_licence(licence, facts, max_phash_distance) for licence in ordered)
    chosen = _choose_covering(ordered, checks)
    if chosen is not None:
        return LicenceVerdict(verdict=Verdict.LICENSED, licence_id=chosen.id, checks=checks)
    verdict = Verdict.REVIEW if _needs_review(checks) else Verdict.UNLICENSED
    return LicenceVerdict(verdict=verdict, licence_id=None, checks=checks)


def _reuse_message(licence: LicenceTerms, publisher: _Publisher | None, covered: bool) -> str:
    subject = f"this image is an approved asset of licence {licence.id} ({licence.licensee})"
    if publisher is None:
        verdict = "covered" if covered else "not confirmed as covered"
        return f"{subject}; its publisher is unknown, so it is {verdict}"
    if covered:
        return f"{subject}, published by {publisher.display()}, which that licence covers"
    return (
        f"{subject} but was published by {publisher.display()}, which that licence does not cover"
    )


def _asset_reuse(
    licence: LicenceTerms, facts: _Facts, max_phash_distance: int
) -> AssetReuse | None:
    match = _best_asset_match(licence.approved_assets, facts.image, max_phash_distance)
    if match is None:
        return None
    covered = _publisher_covered(licence.publishers, facts.publisher)
    return AssetReuse(
        licence_id=licence.id,
        licensee=licence.licensee,
        matched_by=match.matched_by,
        distance=match.distance,
        publisher_covered=covered,
        message=_reuse_message(licence, facts.publisher, covered),
    )


def find_approved_asset_reuse(
    *,
    licences: Sequence[LicenceTerms],
    context: UsageContext,
    max_phash_distance: int,
) -> list[AssetReuse]:
    """Every licence whose approved assets include this image, and whether the publisher is
    covered by that licence.

    One entry per matching licence (its best match: SHA-256 first, else the closest pHash),
    ordered by licence id. Only the publisher is judged here: dates, revocation, channel,
    territory and medium are ``evaluate_licences``'s job, so expired or revoked licences are
    reported too. ``publisher_covered`` is true only when the licence allows ``"*"`` or the
    publisher is known and matches; an unknown publisher is reported as not covered.
    """
    _require_distance(max_phash_distance)
    facts = _Facts.from_context(context)
    reuses = (
        _asset_reuse(licence, facts, max_phash_distance) for licence in _in_id_order(licences)
    )
    return [reuse for reuse in reuses if reuse is not None]
