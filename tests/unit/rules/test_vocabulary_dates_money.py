"""Closed vocabularies (service.rules.vocabulary), dates as people write them (service.rules.dates),
money (service.rules.money), and properties of the licence evaluator over random licences."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.licensing.evaluate import (
    ImageFacts,
    LicenceTerms,
    Medium,
    UsageContext,
    Verdict,
    evaluate_licences,
)
from service.rules.dates import (
    EARLIEST,
    LATEST,
    end_of,
    last_instant,
    parse_moment,
    require_not_future,
    start_of,
)
from service.rules.errors import ChannelUnknownError, InvalidDateError
from service.rules.money import MAX_AMOUNT, from_cents, parse_currency, to_cents, total
from service.rules.vocabulary import (
    EU_MEMBERS,
    WORLD,
    Channel,
    channel_or_error,
    expand_territories,
    parse_channel,
    parse_country,
    parse_licence_channel,
    parse_licence_territory,
)

# ---------------------------------------------------------------------------------- channels


@pytest.mark.parametrize(
    ("written", "channel"),
    [
        ("ecommerce", Channel.ECOMMERCE),
        ("e-commerce", Channel.ECOMMERCE),
        ("E_Commerce", Channel.ECOMMERCE),
        (" E COMMERCE ", Channel.ECOMMERCE),
        ("Instagram", Channel.SOCIAL),
        ("TikTok", Channel.SOCIAL),
        ("social media", Channel.SOCIAL),
        ("YouTube", Channel.VIDEO),
        ("OOH", Channel.OUTDOOR),
        ("Print", Channel.PRINT),
    ],
)
def test_channel_spellings_and_synonyms_mean_one_channel(written: str, channel: Channel) -> None:
    assert parse_channel(written) is channel


@given(st.sampled_from(list(Channel)), st.sampled_from(["", "-", "_", " "]), st.booleans())
def test_every_channel_survives_case_and_separators(
    channel: Channel, sep: str, upper: bool
) -> None:
    text = channel.value[:2] + sep + channel.value[2:]
    assert parse_channel(text.upper() if upper else text) is channel


@pytest.mark.parametrize("bad", ["catalogue", "", "e-commerce-ish", "*"])
def test_unknown_channel_is_refused_naming_the_allowed_list(bad: str) -> None:
    with pytest.raises(ValueError, match="allowed: social, ecommerce, print"):
        parse_channel(bad)
    with pytest.raises(ChannelUnknownError) as caught:
        channel_or_error(bad)
    assert caught.value.details["allowed"] == [c.value for c in Channel]


def test_licence_channels_may_allow_everything() -> None:
    assert parse_licence_channel(" * ") == "*"
    assert parse_licence_channel("e-commerce") == "ecommerce"


# ------------------------------------------------------------------------------- territories


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("de", "DE"),
        ("GB", "GB"),
        ("uk", "GB"),
        ("eu", "EU"),
        ("EEA", "EEA"),
        ("*", WORLD),
        ("world", WORLD),
    ],
)
def test_licence_territories_are_countries_or_named_groups(written: str, stored: str) -> None:
    assert parse_licence_territory(written) == stored


@pytest.mark.parametrize("bad", ["XX", "ZZ", "E", "EUR", "", "123"])
def test_licence_territory_outside_iso_3166_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="ISO 3166-1"):
        parse_licence_territory(bad)


@pytest.mark.parametrize("group", ["EU", "EEA", "WORLD", "*"])
def test_a_sighting_happens_in_a_country_not_a_group(group: str) -> None:
    with pytest.raises(ValueError, match="ISO 3166-1"):
        parse_country(group)


def test_groups_expand_to_their_members() -> None:
    assert expand_territories(["EU"]) == EU_MEMBERS
    assert expand_territories(["EEA"]) == EU_MEMBERS | {"IS", "LI", "NO"}
    assert len(expand_territories(["*"])) == len(expand_territories([WORLD])) >= 249
    assert expand_territories(["GB", "EU"]) == EU_MEMBERS | {"GB"}


# ------------------------------------------------------------------------------------ dates


def test_a_date_alone_is_a_whole_day_in_utc() -> None:
    assert start_of("2026-11-28") == datetime(2026, 11, 28, tzinfo=UTC)
    assert end_of("2026-12-01", inclusive=False) == datetime(2026, 12, 2, tzinfo=UTC)
    assert last_instant("2026-12-01") == datetime(2026, 12, 1, 23, 59, 59, 999999, tzinfo=UTC)


def test_date_times_keep_their_zone_and_naive_ones_are_utc() -> None:
    assert start_of("2026-11-28T09:30:00+01:00") == datetime(2026, 11, 28, 8, 30, tzinfo=UTC)
    assert start_of("2026-11-28T09:30:00Z") == datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    assert start_of("2026-11-28T09:30:00") == datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    instant = datetime(2026, 1, 1, tzinfo=UTC)
    assert end_of(instant, inclusive=False) == instant
    assert end_of(instant, inclusive=True) == instant + timedelta(microseconds=1)


@pytest.mark.parametrize(
    "bad",
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01",
        "9999-12-31",
        "1899-12-31T23:59:59Z",
        "yesterday",
        "2026-13-01",
        "2026-02-30",
        "",
        "x" * 200,
    ],
)
def test_out_of_range_or_malformed_dates_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        start_of(bad)
    with pytest.raises(ValueError):
        end_of(bad, inclusive=True)


@settings(max_examples=200)
@given(
    st.dates(min_value=EARLIEST.date(), max_value=(LATEST - timedelta(days=2)).date()), st.times()
)
def test_a_date_only_range_includes_every_instant_of_that_day(day: date, at: time) -> None:
    instant = datetime.combine(day, at, tzinfo=UTC)
    assert start_of(day.isoformat()) <= instant < end_of(day.isoformat(), inclusive=False)
    assert instant <= last_instant(day.isoformat())
    next_day = datetime.combine(day + timedelta(days=1), at, tzinfo=UTC)
    assert not next_day < end_of(day.isoformat(), inclusive=False)


@settings(max_examples=200)
@given(
    st.datetimes(min_value=datetime(1901, 1, 1), max_value=datetime(9998, 1, 1)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_parsing_any_offset_gives_the_same_utc_instant(naive: datetime, minutes: int) -> None:
    zone = timezone(timedelta(minutes=minutes))
    aware = naive.replace(tzinfo=zone)
    parsed = parse_moment(aware.isoformat())
    assert parsed == aware and isinstance(parsed, datetime) and parsed.tzinfo is UTC


def test_sightings_from_the_future_are_refused_beyond_clock_skew() -> None:
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert require_not_future(now + timedelta(minutes=2), now=now, field="observed_at")
    with pytest.raises(InvalidDateError, match="in the future"):
        require_not_future(now + timedelta(hours=1), now=now, field="observed_at")


# ------------------------------------------------------------------------------------ money


def test_money_round_trips_through_cents_up_to_the_column_limit() -> None:
    assert to_cents(Decimal("40.00")) == 4000
    assert from_cents(to_cents(MAX_AMOUNT)) == MAX_AMOUNT == Decimal("21474836.47")
    assert total(4000, 1) == Decimal("40.00")
    assert total(to_cents(MAX_AMOUNT), 10**6) == MAX_AMOUNT * 10**6
    assert total(None, 3) is None


@pytest.mark.parametrize(
    "bad",
    [
        Decimal("1e20"),
        MAX_AMOUNT + Decimal("0.01"),
        Decimal("-1"),
        Decimal("0.001"),
        Decimal("NaN"),
        Decimal("Infinity"),
    ],
)
def test_money_outside_the_column_or_finer_than_cents_is_refused(bad: Decimal) -> None:
    with pytest.raises(ValueError):
        to_cents(bad)


def test_currencies_are_iso_4217() -> None:
    assert parse_currency("eur") == "EUR"
    with pytest.raises(ValueError, match="ISO 4217"):
        parse_currency("XYZ")


# ---------------------------------------------------------------- evaluator, randomised

COUNTRIES = st.sampled_from(["FR", "DE", "GB", "US", "NO", "JP", "SE", "BR"])
LICENCE_TERRITORIES = st.sampled_from(["FR", "DE", "GB", "US", "NO", "JP", "EU", "EEA", WORLD, "*"])
CHANNEL_VALUES = st.sampled_from([c.value for c in Channel])
BASE = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = st.integers(min_value=0, max_value=400).map(lambda d: BASE + timedelta(days=d))


@st.composite
def licences(draw: st.DrawFn) -> LicenceTerms:
    start = draw(DAYS)
    until = draw(st.one_of(st.none(), DAYS.filter(lambda d: d > start)))
    channels = draw(st.lists(st.one_of(CHANNEL_VALUES, st.just("*")), min_size=1, max_size=3))
    return LicenceTerms(
        id=draw(st.integers(1, 50)),
        talent_id=1,
        licensee="H&M",
        publishers=("*",),
        channels=tuple(channels),
        territories=tuple(draw(st.lists(LICENCE_TERRITORIES, min_size=1, max_size=3))),
        valid_from=start,
        valid_until=until,
        media=(Medium.PHOTO,),
        ai_label_required=False,
        revoked_at=draw(st.one_of(st.none(), DAYS)),
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(licences(), max_size=4, unique_by=lambda lic: lic.id), DAYS, COUNTRIES, CHANNEL_VALUES
)
def test_evaluator_never_licenses_outside_territory_channel_dates_or_after_revocation(
    terms: list[LicenceTerms], seen: datetime, country: str, channel: str
) -> None:
    context = UsageContext(
        page_url=None,
        publisher="hm.com",
        observed_at=seen,
        channel=channel,
        territory=country,
        image=ImageFacts(sha256="a" * 64, phash=None, declares_ai=False, ai_label=None),
    )
    verdict = evaluate_licences(licences=terms, context=context)
    if verdict.verdict is not Verdict.LICENSED:
        return
    chosen = next(lic for lic in terms if lic.id == verdict.licence_id)
    everywhere = any(t in (WORLD, "*") for t in chosen.territories)
    assert everywhere or country in expand_territories(chosen.territories)
    assert "*" in chosen.channels or channel in chosen.channels
    assert chosen.valid_from <= seen
    assert chosen.valid_until is None or seen < chosen.valid_until
    assert chosen.revoked_at is None or seen < chosen.revoked_at


@settings(max_examples=200, deadline=None)
@given(licences(), DAYS, COUNTRIES, CHANNEL_VALUES)
def test_a_revoked_licence_reports_exactly_one_reason(
    licence: LicenceTerms, seen: datetime, country: str, channel: str
) -> None:
    context = UsageContext(
        page_url=None,
        publisher=None,
        observed_at=seen,
        channel=channel,
        territory=country,
        image=ImageFacts(sha256="a" * 64, phash=None, declares_ai=False, ai_label=None),
    )
    (check,) = evaluate_licences(licences=[licence], context=context).checks
    if licence.revoked_at is not None and licence.revoked_at <= seen:
        assert [f.code.value for f in check.failures] == ["revoked"]
        assert check.unknowns == () and len(check.reason_lines()) == 1
