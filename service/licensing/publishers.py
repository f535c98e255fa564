"""Where an image was published: the one normaliser for publishers, page URLs and licence
publisher patterns. The licence evaluator, alert deduplication, the usage ledger and the
alert filter all go through it.

Normalising a publisher or URL (:func:`parse_location`)
========================================================

- Scheme, userinfo, port, query and fragment are dropped; ``hm.com`` and
  ``https://user@HM.com:443/x?y#z`` name the same host.
- Host: percent-escapes decoded, lower case, trailing dots dropped, IDNA (UTS #46, via the
  ``idna`` package; Python's IDNA 2003 codec as a fallback), so ``bücher.de`` and
  ``xn--bcher-kva.de`` are one host. A host that is still not a DNS name or IP address does
  not parse.
- Path: each segment percent-decoded and lower-cased, empty and ``.`` segments dropped,
  ``..`` removes the segment before it (``/HM/../hm2`` is ``/hm2``, ``/h%6D`` is ``/hm``).
- **Site**: leading ``www.`` and ``m.`` labels are dropped when they are subdomain labels
  according to the Public Suffix List (``tldextract``'s bundled snapshot, never fetched), so
  ``www.hm.com`` and ``m.hm.com`` are ``hm.com`` while ``www.com`` and ``www.co.uk`` stay.
- **Account**: on sites where a path names an account (:data:`ACCOUNT_SITES`, e.g.
  ``instagram.com/<handle>``, ``youtube.com/channel/<id>``, ``tiktok.com/@<handle>``), the
  account is the handle part of the path; ``/p/xyz`` after it is a post of that account.

The **publisher key** (:func:`publisher_key`) is what a use and an alert are keyed by: the
registrable domain (PSL, private suffixes included: ``alice.github.io`` is its own
publisher), plus ``/<account>`` on account sites. It is idempotent:
``publisher_key(publisher_key(x)) == publisher_key(x)``.

Page URLs (:func:`web_url`, :func:`stated_page_url`)
====================================================

A page URL is an absolute ``http``/``https`` URL that names a host, nothing else: a scan's
or a batch's ``page_url`` field, a manifest entry's and a crawled record's Referer alike
(``javascript:``, ``data:``, ``file:`` and scheme-less text are refused, or, for a crawled
Referer, mean "no page known"). The console renders a stored page URL as a link only when
it passes the same test, so a value stored before this rule is shown as text.

Publisher and page URL together (:func:`derive_location`)
=========================================================

The stated ``publisher`` wins when it parses; the ``page_url`` is used instead when the
publisher is missing or does not parse, and also when it is on the same site and more
specific (``publisher=instagram.com`` with ``page_url=…/maisonverte/p/xyz`` is the
``maisonverte`` account). So ``publisher=instagram.com/maisonverte`` and
``page_url=https://www.instagram.com/maisonverte/p/xyz`` are one publisher.

Licence patterns (:func:`parse_pattern`)
========================================

- ``"hm.com"`` (domain): site ``hm.com`` (also ``www.``/``m.hm.com``), any path; not
  ``shop.hm.com``.
- ``"*.hm.com"`` (wildcard): any host strictly below ``hm.com``, including ``www.hm.com``
  and ``a.b.hm.com``; not the apex, ``evilhm.com`` or ``hm.com.evil.net``.
- ``"instagram.com/hm"`` (account or path): the same site with a path equal to or below
  ``/hm`` on segment boundaries (``/hm/p/1`` yes, ``/hmx`` no).
- ``"*"``: any publisher, known or not. A pattern that does not parse matches nothing.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import quote, unquote

import idna
import tldextract

from service.core.errors import UrlInvalidError, UrlSchemeNotAllowedError
from service.core.fetching import split_url

ANY = "*"
WEB_SCHEMES = ("http", "https")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(?!\d)")  # "host:8080" is a port
SITE_PREFIX_LABELS = frozenset({"www", "m"})
_SEGMENT_SAFE = "@!$&'()*+,;=:~"
_HOST = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*|[0-9a-f:.]*:[0-9a-f:.]*")

# The bundled Public Suffix List snapshot only: no download, no cache directory.
_PSL = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


@dataclass(frozen=True)
class AccountRule:
    """How a path names an account on a site: ``/<handle>``, or ``/<prefix>/<handle>`` for
    the listed prefixes; first segments in ``reserved`` are site pages, not accounts."""

    prefixes: frozenset[str] = frozenset()
    reserved: frozenset[str] = frozenset()

    def account(self, path: tuple[str, ...]) -> tuple[str, ...]:
        if not path:
            return ()
        first = path[0]
        if first in self.prefixes:
            return path[:2] if len(path) > 1 else ()
        return () if first in self.reserved else (first,)


def _rule(prefixes: str = "", reserved: str = "") -> AccountRule:
    return AccountRule(frozenset(prefixes.split()), frozenset(reserved.split()))


ACCOUNT_SITES: dict[str, AccountRule] = {
    "instagram.com": _rule("stories", "p reel reels tv explore accounts direct about legal"),
    "tiktok.com": _rule("", "tag music discover foryou video explore"),
    "x.com": _rule("", "i home search explore hashtag settings intent share"),
    "twitter.com": _rule("", "i home search explore hashtag settings intent share"),
    "facebook.com": _rule(
        "pg groups",
        "watch photo.php profile.php events marketplace share sharer.php story.php reel",
    ),
    "youtube.com": _rule("channel c user", "watch shorts results playlist embed feed"),
    "pinterest.com": _rule("", "pin search ideas"),
    "threads.net": _rule("", "search"),
    "linkedin.com": _rule("in company school", "feed posts jobs"),
    "vimeo.com": _rule("channels user", ""),
    "behance.net": _rule("", "gallery search"),
    "snapchat.com": _rule("add", "discover spotlight"),
}


@dataclass(frozen=True)
class Location:
    """A normalised host (lower-case ASCII, no port/trailing dot) and decoded path segments."""

    host: str
    path: tuple[str, ...]
    site: str = field(init=False)
    registered: str = field(init=False)

    def __post_init__(self) -> None:
        site, registered = _site_and_registered(self.host)
        object.__setattr__(self, "site", site)
        object.__setattr__(self, "registered", registered)

    @property
    def account(self) -> tuple[str, ...]:
        rule = ACCOUNT_SITES.get(self.registered)
        return rule.account(self.path) if rule is not None else ()

    @property
    def key(self) -> str:
        """What a use or an alert is keyed by: registrable domain (+ ``/account``)."""
        return _join(self.registered, self.account)

    def display(self) -> str:
        return _join(self.site, self.path)


def _join(host: str, segments: tuple[str, ...]) -> str:
    host = f"[{host}]" if ":" in host else host  # an IPv6 literal
    return "/".join((host, *(quote(segment, safe=_SEGMENT_SAFE) for segment in segments)))


@lru_cache(maxsize=8192)
def _site_and_registered(host: str) -> tuple[str, str]:
    parts = _PSL.extract_str(host)
    if parts.suffix and parts.domain:
        registered = f"{parts.domain}.{parts.suffix}"
        labels = parts.subdomain.split(".") if parts.subdomain else []
    elif parts.suffix or _is_ip_address(host) or "." not in host:
        return host, host  # an IP address, localhost, or a bare public suffix
    else:  # a top-level label the list does not know: its implicit "*" rule, one label
        *labels, domain, top = host.split(".")
        registered = f"{domain}.{top}"
    while labels and labels[0] in SITE_PREFIX_LABELS:
        labels.pop(0)
    return ".".join((*labels, registered)), registered


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _ascii_host(raw: str) -> str | None:
    host = unquote(raw).strip().lower().rstrip(".")
    if not host:
        return None
    try:
        host = idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host if _HOST.fullmatch(host) else None


def _path_segments(path: str) -> tuple[str, ...]:
    segments: list[str] = []
    for segment in path.split("/"):
        decoded = unquote(segment).lower()
        if decoded == "..":
            if segments:
                segments.pop()
        elif decoded not in ("", "."):
            segments.append(decoded)
    return tuple(segments)


@lru_cache(maxsize=8192)
def parse_location(text: str) -> Location | None:
    """The normalised host and path of a publisher or URL; ``None`` when it has no host."""
    try:
        parts = split_url(text)
    except UrlInvalidError:
        return None
    host = _ascii_host(parts.hostname or "")
    if host is None:
        return None
    return Location(host=host, path=_path_segments(parts.path))


def stated_location(value: str | None, field: str) -> str | None:
    """A stated publisher or page URL (a form field, a manifest entry, a crawled URI),
    stripped; ``url_invalid`` naming ``field`` if it names no host."""
    text = value.strip() or None if value is not None else None
    if text is None:
        return None
    try:
        split_url(text)  # says what is wrong: an unbalanced "[", a bad port, no host
    except UrlInvalidError as exc:
        raise UrlInvalidError(f"{field}: {exc.message}", **exc.details, field=field) from exc
    if parse_location(text) is None:
        raise UrlInvalidError(
            f"{field} {text[:80]!r} names no host (a domain, account URL or page URL).", field=field
        )
    return text


def web_url(text: str | None) -> str | None:
    """``text``, stripped, if it is an absolute http(s) URL naming a host; else ``None``."""
    stripped = text.strip() if text is not None else ""
    scheme, separator, _ = stripped.partition("://")
    if not separator or scheme.lower() not in WEB_SCHEMES:
        return None
    return stripped if parse_location(stripped) is not None else None


def stated_page_url(value: str | None, field: str = "page_url") -> str | None:
    """A stated page URL (a form field, a manifest entry), stripped; ``url_invalid`` when it
    is malformed or not absolute, ``url_scheme_not_allowed`` for a scheme other than
    http(s) (``javascript:``, ``data:``, ``file:``), each naming ``field``."""
    text = value.strip() or None if value is not None else None
    if text is None or web_url(text) is not None:
        return text
    scheme = _SCHEME.match(text)
    if scheme is not None and scheme.group(1).lower() not in WEB_SCHEMES:
        raise UrlSchemeNotAllowedError(
            f"{field} must be an http(s) URL; the scheme {scheme.group(1)[:20]!r} is not allowed.",
            field=field,
            scheme=scheme.group(1)[:20].lower(),
            allowed=list(WEB_SCHEMES),
        )
    stated_location(text, field)  # says what is wrong: an unbalanced "[", a bad port, no host
    raise UrlInvalidError(
        f"{field} {text[:80]!r} is not an absolute http(s) URL (https://host/path).", field=field
    )


def derive_location(publisher: str | None, page_url: str | None) -> Location | None:
    """Where a use was published, from the stated publisher and the page URL together."""
    stated = parse_location(publisher) if publisher else None
    page = parse_location(page_url) if page_url else None
    if stated is None:
        return page
    if (
        page is not None
        and page.site == stated.site
        and len(page.path) > len(stated.path)
        and page.path[: len(stated.path)] == stated.path
    ):
        return page
    return stated


def publisher_key(publisher: str | None, page_url: str | None) -> str:
    """The key a use and an alert are deduplicated by; ``""`` when the publisher is unknown."""
    location = derive_location(publisher, page_url)
    return location.key if location is not None else ""


@dataclass(frozen=True)
class PublisherPattern:
    raw: str
    location: Location | None  # None: the pattern does not parse and matches nothing
    wildcard: bool = False
    anything: bool = False

    def display(self) -> str:
        if self.anything:
            return ANY
        if self.location is None:
            return repr(self.raw[:80])
        if self.wildcard:
            return "*." + _join(self.location.host, self.location.path)
        return self.location.display()

    def matches(self, candidate: Location) -> bool:
        if self.anything:
            return True
        if self.location is None or not self._host_matches(candidate):
            return False
        prefix = self.location.path
        return candidate.path[: len(prefix)] == prefix

    def _host_matches(self, candidate: Location) -> bool:
        assert self.location is not None
        if self.wildcard:
            return candidate.host.endswith("." + self.location.host)
        return candidate.site == self.location.site


@lru_cache(maxsize=8192)
def parse_pattern(raw: str) -> PublisherPattern:
    stripped = raw.strip()
    if stripped == ANY:
        return PublisherPattern(raw=raw, location=None, anything=True)
    wildcard = stripped.startswith("*.")
    location = parse_location(stripped[2:] if wildcard else stripped)
    return PublisherPattern(raw=raw, location=location, wildcard=wildcard)


def validate_pattern(raw: str) -> str:
    """A licence's publisher entry, stripped; ``ValueError`` when it cannot match anything."""
    pattern = parse_pattern(raw)
    if not pattern.anything and pattern.location is None:
        raise ValueError(f"{raw[:80]!r} is not a domain, *.domain, account URL or *")
    return raw.strip()
