"""Property tests for the edge's parsers (issue 7 §3): URL/publisher splitting, client
timestamps, bounded text. Whatever a client sends, the answer is a value or a typed 4xx."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from service.core.errors import UrlInvalidError
from service.core.fetching import split_url
from service.core.schemas import NAME_MAX
from service.talents.schemas import TalentCreate

#: Unicode's White_Space property (pydantic-core strips these; Python's str.strip also
#: strips the separators \x1c-\x1f).
UNICODE_WHITE_SPACE = "".join(
    chr(c) for c in range(0x110000) if chr(c).isspace() and not 0x1C <= c <= 0x1F
)
HOST_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
HOSTS = st.lists(HOST_LABEL, min_size=2, max_size=4).map(".".join)
OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(st.text(max_size=300))
def test_split_url_gives_parts_or_url_invalid_never_a_bare_value_error(text: str) -> None:
    try:
        parts = split_url(text)
    except UrlInvalidError as exc:
        assert exc.code == "url_invalid"
        assert len(exc.details["url"]) <= 203  # bounded in what it echoes back
    else:
        assert parts.hostname
        port = parts.port
        assert port is None or 0 <= port <= 65535


@given(
    HOSTS,
    st.sampled_from(["", "/", "/hm", "/p/summer-dress"]),
    st.sampled_from(["", "https://", "http://", "//"]),
)
def test_split_url_reads_hosts_with_or_without_a_scheme(host: str, path: str, scheme: str) -> None:
    parts = split_url(f"  {scheme}{host}{path} ")
    assert parts.hostname == host
    assert parts.path == path


@pytest.mark.parametrize(
    "text",
    [
        "[::1",
        "http://[",
        "https://[::1/x",
        "hm.com:99999",
        "hm.com:port",
        "http://",
        "/only/a/path",
        "",
        "   ",
    ],
)
def test_split_url_refuses_what_cannot_name_a_host(text: str) -> None:
    with pytest.raises(UrlInvalidError):
        split_url(text)


@given(st.text(min_size=1, max_size=NAME_MAX + 20))
def test_talent_names_are_accepted_iff_bounded_and_free_of_control_characters(name: str) -> None:
    stripped = name.strip(UNICODE_WHITE_SPACE)  # what pydantic strips (not \x1c-\x1f)
    control = any(ord(c) < 0x20 or c == "\x7f" for c in stripped)
    try:
        TalentCreate(name=name)
    except ValidationError:
        assert control or not 1 <= len(stripped) <= NAME_MAX
    else:
        assert not control and 1 <= len(stripped) <= NAME_MAX
