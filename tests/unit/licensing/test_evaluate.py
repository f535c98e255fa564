"""Licence evaluation rules (service.licensing.evaluate): every failure code, unknowns,
verdict choice, publisher matching and approved-asset reuse."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from service.licensing.evaluate import (
    ANY,
    AssetFingerprint,
    AssetScope,
    Channel,
    FailureCode,
    ImageFacts,
    LicenceTerms,
    LicenceVerdict,
    Medium,
    NaiveDatetimeError,
    UnknownFact,
    UsageContext,
    Verdict,
    evaluate_licences,
    find_approved_asset_reuse,
)
from service.rules.fingerprints import NEAR_IDENTICAL_MAX_DISTANCE

SEEN = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)
SHA_A = "a" * 64
SHA_B = "b" * 64
PHASH = "0f0f0f0f0f0f0f0f"


def flip_bits(phash: str, count: int) -> str:
    """A pHash at Hamming distance ``count`` from ``phash``."""
    return f"{int(phash, 16) ^ ((1 << count) - 1):016x}"


def licence(**overrides: Any) -> LicenceTerms:
    values: dict[str, Any] = {
        "id": 3,
        "talent_id": 1,
        "licensee": "H&M",
        "publishers": ("*.hm.com", "hm.com", "https://www.instagram.com/hm"),
        "channels": (Channel.SOCIAL, Channel.ECOMMERCE),
        "territories": ("GB", "US"),
        "valid_from": START,
        "valid_until": END,
        "media": (Medium.PHOTO,),
        "ai_label_required": False,
    }
    values.update(overrides)
    return LicenceTerms(**values)


def only_assets(approved: tuple[AssetFingerprint, ...]) -> LicenceTerms:
    """A licence covering its approved assets only."""
    return licence(approved_assets=approved, asset_scope=AssetScope.APPROVED_ASSETS)


def image(**overrides: Any) -> ImageFacts:
    values: dict[str, Any] = {
        "sha256": SHA_A,
        "phash": PHASH,
        "declares_ai": False,
        "ai_label": None,
    }
    values.update(overrides)
    return ImageFacts(**values)


def ai_image(label: str = "c2pa", **overrides: Any) -> ImageFacts:
    return image(declares_ai=True, ai_label=label, **overrides)


def context(**overrides: Any) -> UsageContext:
    values: dict[str, Any] = {
        "page_url": "https://www2.hm.com/en_gb/product.html",
        "publisher": "www2.hm.com",
        "observed_at": SEEN,
        "channel": "ecommerce",
        "territory": "GB",
        "image": image(),
    }
    values.update(overrides)
    return UsageContext(**values)


def evaluate(*licences: LicenceTerms, **context_overrides: Any) -> LicenceVerdict:
    return evaluate_licences(licences=licences, context=context(**context_overrides))


def codes(verdict: LicenceVerdict, index: int = 0) -> list[FailureCode]:
    return [failure.code for failure in verdict.checks[index].failures]


def only_message(verdict: LicenceVerdict) -> str:
    (failure,) = verdict.checks[0].failures
    return failure.message


def publisher_matches(pattern: str, publisher: str) -> bool:
    verdict = evaluate(licence(publishers=(pattern,)), publisher=publisher, page_url=None)
    return verdict.verdict is Verdict.LICENSED


# ---------------------------------------------------------------------------------- basics


def test_licence_meeting_every_term_is_licensed_with_its_id() -> None:
    verdict = evaluate(licence())
    assert verdict.verdict is Verdict.LICENSED
    assert verdict.licence_id == 3
    (check,) = verdict.checks
    assert check.covers and check.failures == () and check.unknowns == ()
    assert verdict.reasons == ["licence 3 (H&M) covers this use"]


def test_no_licences_is_unlicensed_with_no_licence_on_record() -> None:
    verdict = evaluate()
    assert verdict.verdict is Verdict.UNLICENSED
    assert verdict.licence_id is None
    assert verdict.checks == ()
    assert verdict.reasons == ["no licence on record"]


def test_enum_values_are_the_documented_strings() -> None:
    assert [code.value for code in FailureCode] == [
        "wrong_publisher",
        "not_yet_valid",
        "expired",
        "outside_territory",
        "channel_not_allowed",
        "medium_not_allowed",
        "ai_label_missing",
        "revoked",
        "asset_not_approved",
        "consent_not_signed",
        "consent_withdrawn",
    ]
    assert [verdict.value for verdict in Verdict] == ["licensed", "unlicensed", "review"]
    assert [medium.value for medium in Medium] == ["photo", "ai_replica"]
    assert {channel.value for channel in Channel} == {
        "social",
        "ecommerce",
        "print",
        "outdoor",
        "video",
        "editorial",
        "advertising",
    }


# ------------------------------------------------------------------------- programming errors


@pytest.mark.parametrize("field", ["valid_from", "valid_until", "revoked_at"])
def test_naive_licence_datetime_is_rejected(field: str) -> None:
    with pytest.raises(NaiveDatetimeError, match=field):
        licence(**{field: datetime(2026, 1, 1)})


def test_naive_observed_at_is_rejected_as_value_error() -> None:
    with pytest.raises(ValueError, match="observed_at"):
        context(observed_at=datetime(2026, 3, 15, 12, 0))


@pytest.mark.parametrize(("declares_ai", "ai_label"), [(True, None), (False, "c2pa")])
def test_image_facts_with_contradicting_ai_declaration_are_rejected(
    declares_ai: bool, ai_label: str | None
) -> None:
    with pytest.raises(ValueError, match="declares_ai"):
        image(declares_ai=declares_ai, ai_label=ai_label)


@pytest.mark.parametrize("phash", ["0f0f", "zzzzzzzzzzzzzzzz", "0f0f0f0f0f0f0f0f0"])
def test_malformed_phash_is_rejected(phash: str) -> None:
    with pytest.raises(ValueError, match="pHash"):
        image(phash=phash)
    with pytest.raises(ValueError, match="pHash"):
        AssetFingerprint(sha256=None, phash=phash)


def test_licences_of_several_talents_are_rejected() -> None:
    with pytest.raises(ValueError, match="one talent"):
        evaluate(licence(id=1, talent_id=1), licence(id=2, talent_id=2))


@pytest.mark.parametrize("distance", [-1, 65])
def test_out_of_range_phash_distance_is_rejected(distance: int) -> None:
    with pytest.raises(ValueError, match="max_phash_distance"):
        evaluate_licences(licences=[licence()], context=context(), max_phash_distance=distance)
    with pytest.raises(ValueError, match="max_phash_distance"):
        find_approved_asset_reuse(
            licences=[licence()], context=context(), max_phash_distance=distance
        )


# ------------------------------------------------------------------------------- revocation


def test_licence_revoked_before_sighting_is_unlicensed_with_date_and_reason() -> None:
    verdict = evaluate(
        licence(
            revoked_at=datetime(2026, 2, 1, tzinfo=UTC), revocation_reason="talent withdrew consent"
        )
    )
    assert verdict.verdict is Verdict.UNLICENSED
    assert codes(verdict) == [FailureCode.REVOKED]
    assert only_message(verdict) == (
        "revoked on 2026-02-01 (talent withdrew consent); seen 2026-03-15T12:00+00:00"
    )


def test_licence_revoked_at_the_exact_sighting_instant_is_revoked() -> None:
    verdict = evaluate(licence(revoked_at=SEEN))
    assert codes(verdict) == [FailureCode.REVOKED]


def test_revocation_after_sighting_does_not_unlicense_the_earlier_sighting() -> None:
    verdict = evaluate(
        licence(revoked_at=SEEN + timedelta(seconds=1), revocation_reason="talent withdrew consent")
    )
    assert verdict.verdict is Verdict.LICENSED


def test_revocation_without_reason_omits_the_parenthesis() -> None:
    verdict = evaluate(licence(revoked_at=datetime(2026, 2, 1, tzinfo=UTC)))
    assert only_message(verdict) == "revoked on 2026-02-01; seen 2026-03-15T12:00+00:00"


# --------------------------------------------------------------------------------- validity


def test_sighting_before_valid_from_is_not_yet_valid() -> None:
    verdict = evaluate(licence(valid_from=datetime(2026, 4, 1, tzinfo=UTC), valid_until=None))
    assert verdict.verdict is Verdict.UNLICENSED
    assert codes(verdict) == [FailureCode.NOT_YET_VALID]
    assert only_message(verdict).startswith("not valid until 2026-04-01; seen 2026-03-15")


def test_sighting_exactly_at_valid_from_is_valid() -> None:
    assert evaluate(licence(valid_from=SEEN)).verdict is Verdict.LICENSED


def test_sighting_exactly_at_valid_until_is_expired() -> None:
    verdict = evaluate(licence(valid_until=SEEN))
    assert codes(verdict) == [FailureCode.EXPIRED]


def test_sighting_just_before_valid_until_is_valid() -> None:
    verdict = evaluate(licence(valid_until=SEEN + timedelta(microseconds=1)))
    assert verdict.verdict is Verdict.LICENSED


def test_expired_licence_is_unlicensed_with_reason() -> None:
    verdict = evaluate(licence(valid_until=datetime(2026, 3, 1, tzinfo=UTC)))
    assert verdict.verdict is Verdict.UNLICENSED
    assert codes(verdict) == [FailureCode.EXPIRED]
    assert verdict.reasons == [
        "licence 3 (H&M): expired on 2026-03-01; seen 2026-03-15T12:00+00:00"
    ]


def test_open_ended_licence_never_expires() -> None:
    far_future = datetime(2100, 1, 1, tzinfo=UTC)
    assert evaluate(licence(valid_until=None), observed_at=far_future).verdict is Verdict.LICENSED


def test_validity_compares_instants_across_time_zones() -> None:
    # Midnight in UTC+2 is 22:00 UTC the previous day.
    until = datetime(2026, 3, 16, tzinfo=timezone(timedelta(hours=2)))
    before = evaluate(
        licence(valid_until=until), observed_at=datetime(2026, 3, 15, 21, 59, tzinfo=UTC)
    )
    after = evaluate(
        licence(valid_until=until), observed_at=datetime(2026, 3, 15, 22, 0, tzinfo=UTC)
    )
    assert before.verdict is Verdict.LICENSED
    assert codes(after) == [FailureCode.EXPIRED]


def test_inverted_validity_window_reports_both_failures() -> None:
    verdict = evaluate(licence(valid_from=END, valid_until=START))
    assert codes(verdict) == [FailureCode.NOT_YET_VALID, FailureCode.EXPIRED]


# -------------------------------------------------------------------------------- publisher


@pytest.mark.parametrize(
    ("pattern", "publisher", "expected"),
    [
        # exact domain (+ "www.")
        ("hm.com", "hm.com", True),
        ("hm.com", "www.hm.com", True),
        ("hm.com", "HM.COM", True),
        ("hm.com", "https://www.hm.com/", True),
        ("hm.com", "http://hm.com:8080/en_gb/", True),
        ("hm.com", "hm.com.", True),
        ("hm.com", "hm.com/any/page?q=1#top", True),
        ("www.hm.com", "hm.com", True),
        ("HTTPS://WWW.HM.COM/", "hm.com", True),
        ("hm.com", "shop.hm.com", False),
        ("hm.com", "evilhm.com", False),
        ("hm.com", "hm.com.evil.net", False),
        ("hm.com", "https://hm.com@evil.net/", False),
        ("www.com", "com", False),
        # wildcard subdomains
        ("*.hm.com", "a.hm.com", True),
        ("*.hm.com", "a.b.hm.com", True),
        ("*.hm.com", "www.hm.com", True),
        ("*.hm.com", "https://A.HM.COM:443/x", True),
        ("*.hm.com", "hm.com", False),
        ("*.hm.com", "evilhm.com", False),
        ("*.hm.com", "hm.com.evil.net", False),
        ("*.hm.com", "a.hm.com.evil.net", False),
        # account URLs
        ("instagram.com/hm", "https://www.instagram.com/hm", True),
        ("instagram.com/hm", "instagram.com/hm/", True),
        ("instagram.com/hm", "instagram.com/hm/p/abc123", True),
        ("instagram.com/hm", "instagram.com/HM", True),
        ("instagram.com/hm", "instagram.com//hm", True),
        ("https://www.instagram.com/hm/", "instagram.com/hm", True),
        ("instagram.com/hm", "instagram.com/hmx", False),
        ("instagram.com/hm", "instagram.com", False),
        ("instagram.com/hm", "instagram.com/other/hm", False),
        ("instagram.com/hm", "instagram.com/hm/../evil", False),
        ("instagram.com/hm", "evil.com/hm", False),
        ("instagram.com/hm", "m.instagram.com/hm", True),
        ("instagram.com/hm", "instagram.com/h%6D", True),
        ("instagram.com/hm", "instagram.com/HM/../hm2", False),
        ("instagram.com/hm2", "instagram.com/HM/../hm2", True),
        ("hm.com", "m.hm.com", True),
        ("www.com", "com", False),
        ("www.com", "www.com", True),
        # IDN / punycode
        ("bücher.de", "xn--bcher-kva.de", True),
        ("xn--bcher-kva.de", "https://www.BÜCHER.de/shop", True),
        ("*.bücher.de", "shop.xn--bcher-kva.de", True),
        ("bücher.de", "bucher.de", False),
        # "*" = anyone
        ("*", "shop.example.net", True),
    ],
)
def test_publisher_pattern_matching(pattern: str, publisher: str, expected: bool) -> None:
    assert publisher_matches(pattern, publisher) is expected


def test_wrong_publisher_message_names_publisher_and_allowed_patterns() -> None:
    verdict = evaluate(
        licence(publishers=("*.hm.com", "https://www.instagram.com/hm/")),
        publisher="https://shop.example.net/sale",
    )
    assert codes(verdict) == [FailureCode.WRONG_PUBLISHER]
    assert only_message(verdict) == (
        "published by shop.example.net/sale; licence allows *.hm.com, instagram.com/hm"
    )


def test_publisher_is_derived_from_page_url_when_missing() -> None:
    covered = evaluate(
        licence(), publisher=None, page_url="https://www.instagram.com/hm/p/abc123/?igsh=x"
    )
    assert covered.verdict is Verdict.LICENSED
    foreign = evaluate(
        licence(publishers=("hm.com",)), publisher=None, page_url="https://shop.example.net/item/1"
    )
    assert only_message(foreign) == (
        "published by shop.example.net/item/1 (from page URL); licence allows hm.com"
    )


def test_submitted_publisher_takes_precedence_over_page_url() -> None:
    verdict = evaluate(
        licence(publishers=("hm.com",)),
        publisher="shop.example.net",
        page_url="https://hm.com/product",
    )
    assert codes(verdict) == [FailureCode.WRONG_PUBLISHER]


def test_unparseable_publisher_falls_back_to_page_url() -> None:
    verdict = evaluate(
        licence(publishers=("hm.com",)), publisher="  ", page_url="https://hm.com/product"
    )
    assert verdict.verdict is Verdict.LICENSED


def test_unknown_publisher_is_an_unknown_that_needs_review() -> None:
    verdict = evaluate(licence(), publisher=None, page_url=None)
    assert verdict.verdict is Verdict.REVIEW
    assert verdict.checks[0].failures == ()
    assert verdict.checks[0].unknowns == ("publisher",)
    assert verdict.reasons == [
        "licence 3 (H&M): publisher unknown; licence is limited to named publishers"
    ]


def test_any_publisher_licence_does_not_need_the_publisher() -> None:
    verdict = evaluate(licence(publishers=(ANY,)), publisher=None, page_url=None)
    assert verdict.verdict is Verdict.LICENSED


def test_licence_listing_no_publishers_fails_even_for_unknown_publisher() -> None:
    verdict = evaluate(licence(publishers=()), publisher=None, page_url=None)
    assert verdict.verdict is Verdict.UNLICENSED
    assert only_message(verdict) == "published by an unknown publisher; licence lists no publishers"


def test_unparseable_licence_pattern_matches_nothing() -> None:
    verdict = evaluate(licence(publishers=("https://",)), publisher="hm.com")
    assert codes(verdict) == [FailureCode.WRONG_PUBLISHER]
    assert "licence allows 'https://'" in only_message(verdict)


# ---------------------------------------------------------------------------------- channel


def test_channel_not_listed_is_channel_not_allowed() -> None:
    verdict = evaluate(licence(), channel="print")
    assert codes(verdict) == [FailureCode.CHANNEL_NOT_ALLOWED]
    assert only_message(verdict) == "used in channel print; licence allows social, ecommerce"


def test_channel_comparison_ignores_case_and_spaces() -> None:
    assert evaluate(licence(channels=("Social",)), channel=" SOCIAL ").verdict is Verdict.LICENSED


def test_any_channel_allows_every_and_unknown_channel() -> None:
    assert evaluate(licence(channels=(ANY,)), channel="billboard").verdict is Verdict.LICENSED
    assert evaluate(licence(channels=(ANY,)), channel=None).verdict is Verdict.LICENSED


def test_unknown_channel_needs_review() -> None:
    verdict = evaluate(licence(), channel=None)
    assert verdict.verdict is Verdict.REVIEW
    assert verdict.checks[0].unknowns == (UnknownFact.CHANNEL,)


def test_licence_listing_no_channels_fails_even_for_unknown_channel() -> None:
    verdict = evaluate(licence(channels=()), channel=None)
    assert only_message(verdict) == "licence lists no channels"


# -------------------------------------------------------------------------------- territory


def test_territory_not_listed_is_outside_territory() -> None:
    verdict = evaluate(licence(), territory="FR")
    assert codes(verdict) == [FailureCode.OUTSIDE_TERRITORY]
    assert only_message(verdict) == "seen in FR; licence allows GB, US"


def test_territory_comparison_ignores_case() -> None:
    assert evaluate(licence(territories=("gb",)), territory="Gb").verdict is Verdict.LICENSED


def test_any_territory_allows_every_and_unknown_territory() -> None:
    assert evaluate(licence(territories=(ANY,)), territory="JP").verdict is Verdict.LICENSED
    assert evaluate(licence(territories=(ANY,)), territory=None).verdict is Verdict.LICENSED


def test_unknown_territory_needs_review() -> None:
    verdict = evaluate(licence(), territory=None)
    assert verdict.verdict is Verdict.REVIEW
    assert verdict.checks[0].unknowns == ("territory",)


@pytest.mark.parametrize(
    ("territories", "seen", "expected"),
    [
        (("EU",), "FR", Verdict.LICENSED),
        (("EU",), "NO", Verdict.UNLICENSED),
        (("EEA",), "NO", Verdict.LICENSED),
        (("EEA",), "GB", Verdict.UNLICENSED),
        (("WORLD",), "JP", Verdict.LICENSED),
        (("GB",), "UK", Verdict.LICENSED),
    ],
)
def test_territory_groups_are_expanded_at_evaluation(
    territories: tuple[str, ...], seen: str, expected: Verdict
) -> None:
    assert evaluate(licence(territories=territories), territory=seen).verdict is expected


def test_licence_listing_no_territories_fails_even_for_unknown_territory() -> None:
    verdict = evaluate(licence(territories=()), territory=None)
    assert only_message(verdict) == "licence lists no territories"


# ------------------------------------------------------------------------ medium and labels


def test_ai_image_under_photo_only_licence_is_medium_not_allowed() -> None:
    verdict = evaluate(licence(), image=ai_image("iptc"))
    assert codes(verdict) == [FailureCode.MEDIUM_NOT_ALLOWED]
    assert only_message(verdict) == (
        "image declares AI-generated content (iptc label); licence covers photo only"
    )


@pytest.mark.parametrize("label", ["c2pa", "iptc"])
def test_labelled_ai_image_under_labelled_ai_licence_is_licensed(label: str) -> None:
    ai_licence = licence(media=(Medium.AI_REPLICA,), ai_label_required=True)
    assert evaluate(ai_licence, image=ai_image(label)).verdict is Verdict.LICENSED


def test_unlabelled_image_under_labelled_ai_only_licence_is_label_missing_not_medium() -> None:
    verdict = evaluate(licence(media=(Medium.AI_REPLICA,), ai_label_required=True))
    assert verdict.verdict is Verdict.UNLICENSED
    assert codes(verdict) == [FailureCode.AI_LABEL_MISSING]
    assert "no AI label" in only_message(verdict)


def test_unlabelled_image_under_unlabelled_ai_only_licence_needs_review_of_medium() -> None:
    verdict = evaluate(licence(media=(Medium.AI_REPLICA,), ai_label_required=False))
    assert verdict.verdict is Verdict.REVIEW
    assert verdict.checks[0].unknowns == ("medium",)


def test_unlabelled_image_under_photo_and_ai_licence_is_read_as_photo() -> None:
    both = licence(media=(Medium.PHOTO, Medium.AI_REPLICA), ai_label_required=True)
    assert evaluate(both).verdict is Verdict.LICENSED
    assert evaluate(both, image=ai_image()).verdict is Verdict.LICENSED


def test_licence_listing_no_media_is_medium_not_allowed() -> None:
    verdict = evaluate(licence(media=()))
    assert only_message(verdict) == "licence covers no media"


# ------------------------------------------------------------------------- approved assets


def test_licence_without_approved_assets_covers_any_image() -> None:
    assert (
        evaluate(licence(approved_assets=()), image=image(sha256=SHA_B)).verdict is Verdict.LICENSED
    )


def test_image_with_approved_sha256_is_covered_case_insensitively() -> None:
    approved = (AssetFingerprint(sha256=SHA_A.upper(), phash=None),)
    assert evaluate(only_assets(approved), image=image(phash=None)).verdict is Verdict.LICENSED


@pytest.mark.parametrize(
    ("distance", "expected"),
    [
        (0, Verdict.LICENSED),
        (NEAR_IDENTICAL_MAX_DISTANCE, Verdict.LICENSED),
        (NEAR_IDENTICAL_MAX_DISTANCE + 1, Verdict.UNLICENSED),
    ],
)
def test_phash_within_default_distance_is_approved(distance: int, expected: Verdict) -> None:
    approved = (AssetFingerprint(sha256=SHA_B, phash=flip_bits(PHASH, distance)),)
    assert evaluate(only_assets(approved)).verdict is expected


def test_unapproved_image_reports_closest_distance() -> None:
    approved = (
        AssetFingerprint(sha256=SHA_B, phash=flip_bits(PHASH, 12)),
        AssetFingerprint(sha256=SHA_B, phash=flip_bits(PHASH, 9)),
    )
    assert NEAR_IDENTICAL_MAX_DISTANCE < 9
    verdict = evaluate(only_assets(approved))
    assert codes(verdict) == [FailureCode.ASSET_NOT_APPROVED]
    assert only_message(verdict) == (
        "image is not one of the 2 approved assets of this licence "
        f"(no SHA-256 match; closest pHash distance 9, limit {NEAR_IDENTICAL_MAX_DISTANCE})"
    )


def test_image_without_phash_can_only_match_by_sha256() -> None:
    approved = (AssetFingerprint(sha256=SHA_B, phash=PHASH),)
    verdict = evaluate(only_assets(approved), image=image(phash=None))
    assert only_message(verdict) == (
        "image is not one of the 1 approved asset of this licence "
        "(no SHA-256 match; image has no pHash)"
    )


def test_max_phash_distance_keyword_overrides_default() -> None:
    approved = (AssetFingerprint(sha256=None, phash=flip_bits(PHASH, 10)),)
    terms = [only_assets(approved)]
    strict = evaluate_licences(licences=terms, context=context())
    loose = evaluate_licences(licences=terms, context=context(), max_phash_distance=10)
    assert strict.verdict is Verdict.UNLICENSED
    assert loose.verdict is Verdict.LICENSED


# ---------------------------------------------------------------- several failures / licences


def test_every_failure_of_a_licence_is_reported_in_rule_order() -> None:
    hopeless = licence(
        valid_from=datetime(2026, 6, 1, tzinfo=UTC),
        valid_until=datetime(2026, 2, 1, tzinfo=UTC),
        publishers=("hm.com",),
        channels=("print",),
        territories=("US",),
        media=(Medium.PHOTO,),
        approved_assets=(AssetFingerprint(sha256=SHA_B, phash=None),),
        asset_scope=AssetScope.APPROVED_ASSETS,
    )
    verdict = evaluate(hopeless, publisher="shop.example.net", image=ai_image())
    assert codes(verdict) == [
        FailureCode.NOT_YET_VALID,
        FailureCode.EXPIRED,
        FailureCode.WRONG_PUBLISHER,
        FailureCode.CHANNEL_NOT_ALLOWED,
        FailureCode.OUTSIDE_TERRITORY,
        FailureCode.MEDIUM_NOT_ALLOWED,
        FailureCode.ASSET_NOT_APPROVED,
    ]
    assert len(verdict.reasons) == 7
    assert all(reason.startswith("licence 3 (H&M): ") for reason in verdict.reasons)


def test_revoked_licence_says_revoked_once_and_nothing_else() -> None:
    hopeless = licence(
        revoked_at=datetime(2026, 1, 2, tzinfo=UTC),
        revocation_reason="talent withdrew",
        valid_from=datetime(2026, 6, 1, tzinfo=UTC),
        publishers=("hm.com",),
        channels=("print",),
        territories=("US",),
    )
    verdict = evaluate(hopeless, publisher="shop.example.net", territory=None, image=ai_image())
    assert codes(verdict) == [FailureCode.REVOKED]
    assert verdict.checks[0].unknowns == ()
    assert verdict.reasons == [
        "licence 3 (H&M): revoked on 2026-01-02 (talent withdrew); seen 2026-03-15T12:00+00:00"
    ]


def test_one_covering_licence_among_failing_ones_is_licensed_with_its_id() -> None:
    expired = licence(id=1, valid_until=datetime(2026, 2, 1, tzinfo=UTC))
    covering = licence(id=2, licensee="Zara")
    elsewhere = licence(id=3, territories=("US",))
    verdict = evaluate(expired, covering, elsewhere)
    assert verdict.verdict is Verdict.LICENSED
    assert verdict.licence_id == 2
    assert [check.covers for check in verdict.checks] == [False, True, False]
    assert verdict.reasons == ["licence 2 (Zara) covers this use"]


def test_latest_valid_from_wins_among_covering_licences() -> None:
    older = licence(id=1, valid_from=START)
    newer = licence(id=9, valid_from=START + timedelta(days=10))
    assert evaluate(older, newer).licence_id == 9


def test_lowest_id_breaks_valid_from_ties() -> None:
    assert evaluate(licence(id=7), licence(id=4), licence(id=5)).licence_id == 4


def test_checks_are_ordered_by_licence_id_whatever_the_input_order() -> None:
    verdict = evaluate(licence(id=5), licence(id=1), licence(id=3))
    assert [check.licence_id for check in verdict.checks] == [1, 3, 5]


def test_covering_licence_wins_over_one_needing_review() -> None:
    needs_channel = licence(id=1, channels=("social",))
    any_channel = licence(id=2, channels=(ANY,))
    verdict = evaluate(needs_channel, any_channel, channel=None)
    assert verdict.verdict is Verdict.LICENSED
    assert verdict.licence_id == 2


def test_licence_with_failures_and_unknowns_is_unlicensed_not_review() -> None:
    verdict = evaluate(licence(valid_until=datetime(2026, 2, 1, tzinfo=UTC)), territory=None)
    assert verdict.verdict is Verdict.UNLICENSED
    assert verdict.checks[0].unknowns == ("territory",)
    assert verdict.reasons == [
        "licence 3 (H&M): expired on 2026-02-01; seen 2026-03-15T12:00+00:00",
        "licence 3 (H&M): territory unknown; licence is limited to named territories",
    ]


def test_one_failure_free_licence_with_unknowns_makes_review() -> None:
    failing = licence(id=1, channels=("print",))
    unknown = licence(id=2, territories=("GB",))
    verdict = evaluate(failing, unknown, channel="social", territory=None)
    assert verdict.verdict is Verdict.REVIEW
    assert verdict.licence_id is None
    assert verdict.reasons == [
        "licence 1 (H&M): used in channel social; licence allows print",
        "licence 1 (H&M): territory unknown; licence is limited to named territories",
        "licence 2 (H&M): territory unknown; licence is limited to named territories",
    ]


def test_several_unknowns_are_all_listed() -> None:
    verdict = evaluate(licence(), publisher=None, page_url=None, channel=None, territory=None)
    assert verdict.checks[0].unknowns == ("publisher", "channel", "territory")


# ------------------------------------------------------------------ approved-asset reuse


def reuse_licence(**overrides: Any) -> LicenceTerms:
    values: dict[str, Any] = {
        "id": 7,
        "publishers": ("hm.com",),
        "approved_assets": (AssetFingerprint(sha256=SHA_A, phash=None),),
    }
    values.update(overrides)
    return licence(**values)


def test_approved_asset_reused_by_uncovered_publisher_is_reported() -> None:
    (reuse,) = find_approved_asset_reuse(
        licences=[reuse_licence()],
        context=context(publisher="shop.example.net"),
        max_phash_distance=6,
    )
    assert (reuse.licence_id, reuse.licensee, reuse.matched_by, reuse.distance) == (
        7,
        "H&M",
        "sha256",
        None,
    )
    assert reuse.publisher_covered is False
    assert reuse.message == (
        "this image is an approved asset of licence 7 (H&M) but was published by "
        "shop.example.net, which that licence does not cover"
    )


def test_approved_asset_reuse_by_covered_publisher_matches_by_phash() -> None:
    near = reuse_licence(
        approved_assets=(AssetFingerprint(sha256=SHA_B, phash=flip_bits(PHASH, 3)),)
    )
    (reuse,) = find_approved_asset_reuse(
        licences=[near], context=context(publisher="hm.com"), max_phash_distance=6
    )
    assert (reuse.matched_by, reuse.distance, reuse.publisher_covered) == ("phash", 3, True)
    assert "which that licence covers" in reuse.message


def test_no_reuse_when_image_matches_no_approved_asset() -> None:
    far = reuse_licence(
        approved_assets=(AssetFingerprint(sha256=SHA_B, phash=flip_bits(PHASH, 7)),)
    )
    assert (
        find_approved_asset_reuse(
            licences=[far, licence(id=8)], context=context(), max_phash_distance=6
        )
        == []
    )


def test_reuse_reports_expired_and_revoked_licences_too() -> None:
    expired = reuse_licence(id=7, valid_until=datetime(2026, 2, 1, tzinfo=UTC))
    revoked = reuse_licence(id=8, revoked_at=datetime(2026, 2, 1, tzinfo=UTC))
    reuses = find_approved_asset_reuse(
        licences=[revoked, expired], context=context(publisher="hm.com"), max_phash_distance=6
    )
    assert [(r.licence_id, r.publisher_covered) for r in reuses] == [(7, True), (8, True)]


def test_reuse_with_unknown_publisher_is_not_confirmed_covered() -> None:
    (reuse,) = find_approved_asset_reuse(
        licences=[reuse_licence()],
        context=context(publisher=None, page_url=None),
        max_phash_distance=6,
    )
    assert reuse.publisher_covered is False
    assert "publisher is unknown" in reuse.message


def test_reuse_reports_one_best_match_per_licence_preferring_sha256() -> None:
    assets = (
        AssetFingerprint(sha256=SHA_B, phash=PHASH),
        AssetFingerprint(sha256=SHA_A, phash=None),
    )
    (reuse,) = find_approved_asset_reuse(
        licences=[reuse_licence(approved_assets=assets)], context=context(), max_phash_distance=6
    )
    assert (reuse.matched_by, reuse.distance) == ("sha256", None)


def test_reuse_takes_closest_phash_within_limit() -> None:
    assets = (
        AssetFingerprint(sha256=None, phash=flip_bits(PHASH, 5)),
        AssetFingerprint(sha256=None, phash=flip_bits(PHASH, 2)),
    )
    (reuse,) = find_approved_asset_reuse(
        licences=[reuse_licence(approved_assets=assets)], context=context(), max_phash_distance=6
    )
    assert reuse.distance == 2


# ----------------------------------------------------------------- property-style (seeded)


def random_licence(rng: random.Random, licence_id: int) -> LicenceTerms:
    day = timedelta(days=1)
    return licence(
        id=licence_id,
        publishers=tuple(rng.sample(["hm.com", "*.hm.com", "instagram.com/hm", ANY], k=2)),
        channels=tuple(rng.sample([*Channel, ANY], k=2)),
        territories=tuple(rng.sample(["GB", "US", "FR", ANY], k=2)),
        valid_from=SEEN + rng.randint(-3, 1) * day,
        valid_until=rng.choice([None, SEEN + rng.randint(-1, 3) * day]),
        media=tuple(rng.sample(list(Medium), k=rng.randint(1, 2))),
        ai_label_required=rng.random() < 0.5,
        revoked_at=rng.choice([None, SEEN + rng.randint(-2, 2) * day]),
    )


def random_context(rng: random.Random) -> UsageContext:
    declares_ai = rng.random() < 0.5
    return context(
        publisher=rng.choice([None, "hm.com", "a.hm.com", "instagram.com/hm/x", "evil.net"]),
        page_url=None,
        channel=rng.choice([None, *Channel]),
        territory=rng.choice([None, "GB", "US", "JP"]),
        image=image(declares_ai=declares_ai, ai_label="c2pa" if declares_ai else None),
    )


def test_random_verdicts_follow_the_verdict_rules() -> None:
    rng = random.Random(20260315)
    for _ in range(400):
        terms = [random_licence(rng, licence_id) for licence_id in rng.sample(range(50), k=3)]
        verdict = evaluate_licences(licences=terms, context=random_context(rng))
        covering = {check.licence_id for check in verdict.checks if check.covers}
        reviewable = [c for c in verdict.checks if not c.failures and c.unknowns]
        assert all(c.covers == (not c.failures and not c.unknowns) for c in verdict.checks)
        assert (verdict.verdict is Verdict.LICENSED) == bool(covering)
        if covering:
            assert verdict.licence_id in covering
        else:
            assert verdict.licence_id is None
            assert (verdict.verdict is Verdict.REVIEW) == bool(reviewable)
        assert verdict.reasons


def test_verdict_does_not_depend_on_licence_input_order() -> None:
    rng = random.Random(7)
    for _ in range(200):
        terms = [random_licence(rng, licence_id) for licence_id in rng.sample(range(50), k=4)]
        usage = random_context(rng)
        shuffled = rng.sample(terms, k=len(terms))
        assert evaluate_licences(licences=terms, context=usage) == evaluate_licences(
            licences=shuffled, context=usage
        )


def test_wildcard_accepts_random_subdomains_and_rejects_lookalikes() -> None:
    rng = random.Random(11)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-"
    for _ in range(200):
        label = "".join(rng.choices(alphabet, k=rng.randint(1, 12))).strip("-") or "x"
        assert publisher_matches("*.hm.com", f"{label}.hm.com")
        assert not publisher_matches("*.hm.com", f"{label}hm.com")
        assert not publisher_matches("*.hm.com", f"{label}.hm.com.{label}.net")


def test_evaluation_leaves_inputs_unchanged() -> None:
    terms = [licence(id=1), licence(id=2, channels=("print",))]
    usage = context()
    snapshot = (list(terms), replace(usage))
    evaluate_licences(licences=terms, context=usage)
    assert (terms, usage) == snapshot


def test_approved_assets_do_not_restrict_a_licence_covering_any_image() -> None:
    approved = (AssetFingerprint(sha256=SHA_B, phash=None),)
    verdict = evaluate(licence(approved_assets=approved), image=image(phash=None))
    assert verdict.verdict is Verdict.LICENSED


def test_licence_limited_to_approved_assets_without_any_covers_nothing() -> None:
    verdict = evaluate(only_assets(()))
    assert codes(verdict) == [FailureCode.ASSET_NOT_APPROVED]
    assert only_message(verdict) == "licence covers its approved assets only and has none yet"
