"""The one publisher normaliser (service.licensing.publishers): Public Suffix List, IDNA,
percent-decoding, dot segments, www./m. hosts and account paths, with property tests."""

from __future__ import annotations

from urllib.parse import quote

import idna
import pytest
import tldextract
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from service.licensing.publishers import (
    derive_location,
    parse_location,
    parse_pattern,
    publisher_key,
    validate_pattern,
)

LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
UNICODE_LABEL = st.sampled_from(["bücher", "münchen", "straße", "café", "ñandú", "日本"])
SUFFIX = st.sampled_from(["com", "net", "de", "co.uk", "com.au", "fr", "github.io"])
SEGMENT = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_@.", min_size=1, max_size=12
).filter(lambda s: s not in (".", ".."))
ACCOUNT_HOSTS = st.sampled_from(["instagram.com", "tiktok.com", "x.com", "pinterest.com"])


# The same snapshot the normaliser reads (no download, private suffixes included).
BUNDLED_PSL = tldextract.TLDExtract(
    suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
)


@st.composite
def publishers(draw: st.DrawFn) -> str:
    labels = draw(st.lists(st.one_of(LABEL, UNICODE_LABEL), min_size=1, max_size=3))
    host = ".".join([*labels, draw(SUFFIX)])
    path = draw(st.lists(SEGMENT, max_size=3))
    return "/".join([host, *path])


@pytest.mark.parametrize(
    ("publisher", "page_url", "key"),
    [
        ("www.com", None, "www.com"),
        ("www.co.uk", None, "www.co.uk"),
        ("https://www.hm.com/en_gb", None, "hm.com"),
        ("m.hm.com", None, "hm.com"),
        ("shop.hm.com", None, "hm.com"),
        ("hm.co.uk", None, "hm.co.uk"),
        ("alice.github.io/blog", None, "alice.github.io"),
        ("instagram.com/h%6D", None, "instagram.com/hm"),
        ("instagram.com/HM/../hm2", None, "instagram.com/hm2"),
        ("instagram.com/maisonverte", None, "instagram.com/maisonverte"),
        (None, "https://www.instagram.com/maisonverte/p/xyz", "instagram.com/maisonverte"),
        ("instagram.com", "https://m.instagram.com/maisonverte/p/xyz", "instagram.com/maisonverte"),
        (None, "https://www.instagram.com/p/xyz", "instagram.com"),
        ("tiktok.com/@hm/video/1", None, "tiktok.com/@hm"),
        ("youtube.com/channel/UC123/videos", None, "youtube.com/channel/uc123"),
        ("https://BÜCHER.de/shop", None, "xn--bcher-kva.de"),
        ("http://user:pw@HM.com:8443/x?y=1#z", None, "hm.com"),
        ("[::1]/x", None, "[::1]"),
        ("", None, ""),
        ("https://", None, ""),
        (None, None, ""),
    ],
)
def test_publisher_key_examples(publisher: str | None, page_url: str | None, key: str) -> None:
    assert publisher_key(publisher, page_url) == key


def test_stated_account_and_page_url_of_that_account_are_one_publisher() -> None:
    stated = publisher_key("instagram.com/maisonverte", None)
    from_page = publisher_key(None, "https://www.instagram.com/maisonverte/p/xyz")
    both = publisher_key("instagram.com/maisonverte", "https://www.instagram.com/maisonverte/p/xyz")
    assert stated == from_page == both == "instagram.com/maisonverte"


def test_stated_publisher_wins_over_a_page_on_another_site() -> None:
    location = derive_location("hm.com", "https://www.instagram.com/other/p/1")
    assert location is not None and location.site == "hm.com"


def test_unparseable_stated_publisher_falls_back_to_page_url() -> None:
    assert publisher_key("https://", "https://hm.com/x") == "hm.com"


@pytest.mark.parametrize("bad", ["https://", "*.", "   ", "http://exa mple.com", "a..b"])
def test_pattern_that_cannot_match_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a domain"):
        validate_pattern(bad)


def test_valid_patterns_are_kept_stripped() -> None:
    assert validate_pattern(" *.hm.com ") == "*.hm.com"
    assert validate_pattern("*") == "*"


@settings(max_examples=100, deadline=None)
@given(publishers())
def test_publisher_key_is_idempotent(text: str) -> None:
    key = publisher_key(text, None)
    assert key
    assert publisher_key(key, None) == key
    assert publisher_key(None, "https://" + key) == key


@settings(max_examples=100, deadline=None)
@given(
    publishers(),
    st.sampled_from(["", "www.", "m.", "WWW.", "M."]),
    st.sampled_from(["", "https://", "http://", "//"]),
    st.booleans(),
)
def test_key_ignores_case_scheme_www_and_m(
    text: str, prefix: str, scheme: str, upper: bool
) -> None:
    # A bare public suffix (uk.com, github.io) is its own key, and www. below it is a
    # registrable domain of its own, as www.com is: the prefixes are dropped only below a
    # registrable domain.
    assume(BUNDLED_PSL.extract_str(text.partition("/")[0]).domain)
    cased = text.upper() if upper and text.upper().lower() == text else text  # not ß -> SS
    variant = scheme + prefix + cased
    assert publisher_key(variant, None) == publisher_key(text, None)


@settings(max_examples=100, deadline=None)
@given(publishers())
def test_key_is_the_same_for_unicode_and_punycode_hosts(text: str) -> None:
    host, _, path = text.partition("/")
    punycode = idna.encode(host, uts46=True).decode("ascii")  # IDNA 2008, as browsers do
    assert publisher_key(punycode + ("/" + path if path else ""), None) == publisher_key(text, None)


@settings(max_examples=100, deadline=None)
@given(
    ACCOUNT_HOSTS,
    SEGMENT.filter(lambda s: s not in ("p", "i", "pin", "search")),
    st.lists(SEGMENT, max_size=2),
)
def test_account_key_ignores_percent_encoding_and_dot_segments(
    host: str, handle: str, rest: list[str]
) -> None:
    plain = "/".join([host, handle, *rest])
    encoded = "/".join([host, quote(handle, safe=""), *rest]).replace("a", "%61")
    dotted = "/".join([host, "x", "..", ".", handle, *rest])
    expected = publisher_key(plain, None)
    assert expected.startswith(host + "/")
    assert publisher_key(encoded, None) == expected
    assert publisher_key(dotted, None) == expected
    assert publisher_key(None, f"https://www.{host}/{handle}/p/1") == publisher_key(
        f"{host}/{handle}", None
    )


@settings(max_examples=100, deadline=None)
@given(publishers())
def test_a_pattern_always_matches_the_publisher_it_was_written_from(text: str) -> None:
    location = parse_location(text)
    assert location is not None
    assert parse_pattern(text).matches(location)
    assert parse_pattern(location.display()).matches(location)


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("www.blog.example", "blog.example"),
        ("shop.blog.example", "blog.example"),
        ("blog.example", "blog.example"),
        ("10.0.0.1", "10.0.0.1"),
        ("localhost", "localhost"),
    ],
)
def test_a_top_level_label_unknown_to_the_list_is_one_public_label(host: str, key: str) -> None:
    """The Public Suffix List's implicit "*" rule: reserved or new top-level labels
    (``.example``, ``.internal``) still give a registrable domain of two labels."""
    location = parse_location(host)
    assert location is not None and location.key == key
