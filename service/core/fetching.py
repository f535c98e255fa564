"""Fetch an image by URL without becoming a way into the network (SSRF-safe).

:func:`fetch_image` is the only way the service downloads a URL it was given. It:

* accepts only the configured schemes (http, https) and refuses URLs with credentials;
* refuses hosts that are, or resolve to, anything but a public unicast address: loopback,
  private-use (RFC 1918, ULA, CGNAT), link-local (incl. cloud metadata such as
  169.254.169.254), multicast, reserved, unspecified/"this network", broadcast, IPv4
  embedded in IPv6 (mapped ``::ffff:a.b.c.d``, 6to4, Teredo, NAT64, IPv4-compatible),
  the names ``localhost``/``*.localhost`` and legacy numeric spellings such as
  ``http://2130706433/`` or ``http://0x7f.1/``;
* resolves the name itself, refuses if *any* address is forbidden, then connects to the
  vetted address (not the name), sending the original ``Host`` header and TLS SNI, so a
  DNS rebinding cannot swap the address between the check and the connection;
* follows redirects itself, vetting every hop the same way, at most ``max_redirects``;
* asks for an uncompressed body, refuses a compressed one, refuses early on an oversize
  ``Content-Length`` and stops reading once ``max_bytes`` is passed whatever was declared
  (a video, told by its first bytes, once ``video_max_bytes`` is, when that is given);
* puts one deadline (``timeout_s``) on the whole fetch: resolution, every hop, the body;
* accepts only an image or a video: the declared type must be ``image/*`` or one of
  ``indexer.formats.VIDEO_MEDIA_TYPES`` (or say nothing specific: absent or
  ``application/octet-stream``), *and* the bytes must sniff as an image format twinwatch
  decodes (:func:`indexer.imaging.sniff_format`) or a video container
  (:func:`indexer.formats.video_media_type`; the demuxer checks the rest).

``allow_private_networks=True`` lifts only the loopback/private-use refusals, so tests can
fetch from a server on 127.0.0.1 through the whole path; link-local, metadata, multicast,
reserved and unspecified addresses stay refused even then. The service never enables it
by default.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import ipaddress
import logging
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

import httpx

from indexer.formats import (
    VIDEO_MEDIA_TYPES,
    VIDEO_SIGNATURE_BYTES,
    looks_like_video,
    media_type,
    size_bound,
    video_media_type,
)
from indexer.imaging import sniff_format
from service.core.errors import (
    PageNotHtmlError,
    UrlFetchFailedError,
    UrlFetchTimeoutError,
    UrlHostForbiddenError,
    UrlInvalidError,
    UrlNotAnImageError,
    UrlResponseTooLargeError,
    UrlSchemeNotAllowedError,
    UrlTooManyRedirectsError,
)

logger = logging.getLogger(__name__)

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Async ``(host, port) -> [IP address strings]``; injectable for tests."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PrivateAccess = bool | frozenset[str]
"""Whether private addresses may be reached: ``True`` everywhere (tests, closed labs), or only
at these ``host:port`` entries (a test's own server), checked at every hop."""

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
SUCCESS_STATUSES = frozenset({200, 203})
USER_AGENT = "twinwatch-fetcher/0.1"
# Declared types that say nothing about the content: the sniffed bytes decide alone.
GENERIC_CONTENT_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
# Refused even with allow_private_networks: instance-metadata endpoints of cloud providers
# (AWS/GCP/Azure/OpenStack 169.254.169.254, AWS IPv6 fd00:ec2::254, Alibaba 100.100.100.200).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata"})
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_HOSTNAME = re.compile(r"[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*\.?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int  # e.g. 20 MiB
    timeout_s: float  # total wall time for the whole fetch incl. resolution and redirects
    max_redirects: int  # e.g. 3
    allowed_schemes: tuple[str, ...] = ("http", "https")
    # A video's own bound (media fetches only): a body whose first bytes are a video
    # container may be this large; anything else stays within ``max_bytes``.
    video_max_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.timeout_s <= 0 or self.max_redirects < 0:
            raise ValueError(f"FetchLimits must be positive: {self}")
        if self.video_max_bytes is not None and self.video_max_bytes <= 0:
            raise ValueError(f"FetchLimits must be positive: {self}")

    def bound(self, *, video: bool | None) -> int:
        """The body's bound: a video's (``video``), anything else's, or while it is not
        known yet (``None``) the larger of the two."""
        return size_bound(image_bytes=self.max_bytes, video_bytes=self.video_max_bytes, video=video)


@dataclass(frozen=True)
class FetchedImage:
    url: str  # the URL asked for
    final_url: str  # after redirects
    content_type: str  # the media type of ``data`` as sniffed (e.g. image/jpeg)
    data: bytes

    def __repr__(self) -> str:  # never print the bytes
        return (
            f"FetchedImage(url={self.url!r}, final_url={self.final_url!r}, "
            f"content_type={self.content_type!r}, data=<{len(self.data)} bytes>)"
        )


@dataclass(frozen=True)
class VettedUrl:
    """A URL whose scheme and host passed the checks, with the address to connect to."""

    url: httpx.URL
    host: str  # lowercase ASCII (IDNA) host as written in the URL, or the IP literal
    port: int
    address: str  # the vetted IP address the connection must go to
    is_ip_literal: bool


@dataclass(frozen=True)
class FetchedPage:
    """An HTML page fetched for the images on it (:func:`fetch_page`)."""

    url: str
    final_url: str  # after redirects: relative image URLs resolve against it
    html: bytes

    def __repr__(self) -> str:
        return (
            f"FetchedPage(url={self.url!r}, final_url={self.final_url!r}, "
            f"html=<{len(self.html)} bytes>)"
        )


HTML_MEDIA_TYPES = frozenset({"text/html", "application/xhtml+xml"})
NOT_MODIFIED = 304
THROTTLED_STATUSES = frozenset({429, 503})
RETRY_AFTER_MAX_S = 86_400.0


@dataclass(frozen=True)
class Validators:
    """What a server said identifies a response's version (for a conditional request)."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        asked = {}
        if self.etag:
            asked["If-None-Match"] = self.etag
        if self.last_modified:
            asked["If-Modified-Since"] = self.last_modified
        return asked


@dataclass(frozen=True)
class DocumentRequest:
    """A document fetch (:func:`fetch_document`): the media types accepted (any if None), a
    ``User-Agent`` of its own, and the validators that make it conditional."""

    media_types: frozenset[str] | None = None
    user_agent: str | None = None
    validators: Validators = Validators()


@dataclass(frozen=True)
class FetchedDocument:
    """A fetched document, or ``status`` 304 (unchanged since the validators; no body)."""

    url: str
    final_url: str
    status: int
    content_type: str
    data: bytes
    validators: Validators

    @property
    def not_modified(self) -> bool:
        return self.status == NOT_MODIFIED

    def __repr__(self) -> str:
        return (
            f"FetchedDocument(url={self.url!r}, status={self.status}, "
            f"data=<{len(self.data)} bytes>)"
        )


@dataclass(frozen=True)
class _Answer:
    media_type: str
    data: bytes
    status: int
    validators: Validators


# --- public API -----------------------------------------------------------------------------
async def fetch_page(
    url: str,
    *,
    limits: FetchLimits,
    resolver: Resolver | None = None,
    allow_private_networks: PrivateAccess = False,
) -> FetchedPage:
    """Download the HTML page at ``url`` with every safeguard of :func:`fetch_image`; the
    answer must say it is HTML (``url_not_html`` otherwise)."""
    resolve = resolver or system_resolver
    try:
        async with asyncio.timeout(limits.timeout_s):
            fetched = await _fetch(
                url,
                limits=limits,
                resolver=resolve,
                allow_private_networks=allow_private_networks,
                html=True,
            )
    except TimeoutError as exc:
        raise UrlFetchTimeoutError(
            f"Fetching {url} took longer than the limit of {limits.timeout_s:g} s.",
            url=url,
            timeout_s=limits.timeout_s,
        ) from exc
    return FetchedPage(url=url, final_url=fetched.final_url, html=fetched.data)


async def fetch_image(
    url: str,
    *,
    limits: FetchLimits,
    resolver: Resolver | None = None,
    allow_private_networks: PrivateAccess = False,
) -> FetchedImage:
    """Download the image at ``url`` within ``limits``, refusing anything unsafe.

    Raises a :class:`service.core.errors.UrlFetchError` subclass naming what was wrong.
    """
    resolve = resolver or system_resolver
    try:
        async with asyncio.timeout(limits.timeout_s):
            return await _fetch(
                url, limits=limits, resolver=resolve, allow_private_networks=allow_private_networks
            )
    except TimeoutError as exc:
        raise UrlFetchTimeoutError(
            f"Fetching {url} took longer than the limit of {limits.timeout_s:g} s.",
            url=url,
            timeout_s=limits.timeout_s,
        ) from exc


async def fetch_document(
    url: str,
    *,
    limits: FetchLimits,
    request: DocumentRequest,
    resolver: Resolver | None = None,
    allow_private_networks: PrivateAccess = False,
) -> FetchedDocument:
    """Download any document (a page, robots.txt, a sitemap, a feed, an image) with every
    safeguard of :func:`fetch_image`, conditionally when ``request`` has validators: a 304
    comes back as itself. A 429 or 503 raises ``url_fetch_failed`` with ``status`` and
    ``retry_after`` (seconds, when the server said) in its details."""
    try:
        async with asyncio.timeout(limits.timeout_s):
            answer = await _fetch_answer(
                url,
                limits=limits,
                resolver=resolver or system_resolver,
                allow_private_networks=allow_private_networks,
                ask=request,
            )
    except TimeoutError as exc:
        raise UrlFetchTimeoutError(
            f"Fetching {url} took longer than the limit of {limits.timeout_s:g} s.",
            url=url,
            timeout_s=limits.timeout_s,
        ) from exc
    final_url, got = answer
    return FetchedDocument(
        url=url,
        final_url=final_url,
        status=got.status,
        content_type=got.media_type,
        data=got.data,
        validators=got.validators,
    )


def private_allowed(access: PrivateAccess, host: str, port: int) -> bool:
    """Whether ``access`` lets ``host:port`` be a private address."""
    if isinstance(access, bool):
        return access
    return f"{host.rstrip('.').lower()}:{port}" in access


async def check_url(
    url: str,
    *,
    allowed_schemes: tuple[str, ...] = ("http", "https"),
    resolver: Resolver | None = None,
    allow_private_networks: PrivateAccess = False,
) -> VettedUrl:
    """Check one URL (the first or a redirect target): scheme, host, every resolved address.

    Returns the address to connect to; raises ``url_invalid``, ``url_scheme_not_allowed``,
    ``url_host_forbidden`` or ``url_fetch_failed`` (name does not resolve).
    """
    parsed = _parse_url(url, allowed_schemes=allowed_schemes)
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    allow_private_networks = private_allowed(allow_private_networks, host, port)
    literal = _literal_address(host)
    if literal is not None:
        ensure_address_allowed(literal, allow_private_networks=allow_private_networks)
        return VettedUrl(url=parsed, host=host, port=port, address=str(literal), is_ip_literal=True)
    _check_host_name(host, allow_private_networks=allow_private_networks)
    address = await _resolve_vetted(
        host,
        port,
        resolver=resolver or system_resolver,
        allow_private_networks=allow_private_networks,
    )
    return VettedUrl(url=parsed, host=host, port=port, address=address, is_ip_literal=False)


def ensure_address_allowed(
    address: IPAddress | str,
    *,
    allow_private_networks: bool = False,
    resolved_from: str | None = None,
) -> None:
    """Raise ``url_host_forbidden`` unless ``address`` is one twinwatch may connect to.

    ``resolved_from`` is the host name ``address`` came from, for the message.
    """
    ip = _to_ip(address, host=resolved_from)
    reason, waivable = _refusal(ip) or ("", True)
    if not reason or (waivable and allow_private_networks):
        return
    shown = f"{resolved_from!r} resolves to {ip}, which" if resolved_from else str(ip)
    raise UrlHostForbiddenError(
        f"The URL's host is forbidden: {shown} is {reason}.",
        host=resolved_from or str(ip),
        address=str(ip),
        reason=reason,
    )


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the system resolver, without blocking the event loop."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# --- address policy -------------------------------------------------------------------------
def _refusal(ip: IPAddress) -> tuple[str, bool] | None:
    """Why ``ip`` is refused and whether allow_private_networks waives it; None if public."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            verdict = _refusal(inner)
            if verdict is not None:
                return f"{verdict[0]} (as the IPv4 address {inner} embedded in IPv6)", verdict[1]
            if ip.ipv4_mapped is not None or ip in _NAT64_WELL_KNOWN:
                return None  # these reach exactly that (public) IPv4 address
    return _fixed_refusal(ip) or _waivable_refusal(ip)


def _fixed_refusal(ip: IPAddress) -> tuple[str, bool] | None:
    """Refusals that no setting lifts."""
    checks: tuple[tuple[bool, str], ...] = (
        (ip in METADATA_ADDRESSES, "a cloud instance-metadata endpoint"),
        (
            ip.is_unspecified or ip in _THIS_NETWORK,
            "the unspecified address or 'this network' (0.0.0.0/8, ::)",
        ),
        (ip.is_multicast, "a multicast address"),
        (ip.is_link_local, "a link-local address (169.254.0.0/16, fe80::/10)"),
        (ip == _BROADCAST, "the broadcast address"),
    )
    for hit, reason in checks:
        if hit:
            return reason, False
    if ip.is_reserved and not ip.is_loopback:
        return "a reserved address", False
    return None


def _waivable_refusal(ip: IPAddress) -> tuple[str, bool] | None:
    """Refusals that allow_private_networks lifts (for tests against 127.0.0.1)."""
    if ip.is_loopback:
        return "a loopback address", True
    site_local = isinstance(ip, ipaddress.IPv6Address) and (ip.is_site_local or ip in _NAT64_LOCAL)
    if ip.is_private or not ip.is_global or site_local:
        return "a private-use or otherwise non-public address", True
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64, compatible)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    value = int(ip)
    if ip in _NAT64_WELL_KNOWN or (value >> 32 == 0 and value > 1):
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


def _to_ip(address: IPAddress | str, *, host: str | None) -> IPAddress:
    if not isinstance(address, str):
        return address
    try:
        return ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError as exc:
        raise UrlHostForbiddenError(
            f"The URL's host {host or address} resolved to {address!r}, which is not an IP "
            "address.",
            host=host or address,
            address=address,
        ) from exc


# --- URL and host parsing -------------------------------------------------------------------
def split_url(text: str, *, require_host: bool = True) -> SplitResult:
    """``text`` split into URL parts, or :class:`UrlInvalidError` (never a bare ValueError).

    The one safe entry to ``urlsplit`` for text from outside: a value without ``scheme://``
    (a publisher written ``hm.com`` or ``instagram.com/hm``) is read host first. Refused:
    an unbalanced IPv6 bracket (``[::1``), a port that is not a number in 0-65535, a host
    that changes under NFKC normalisation, and (with ``require_host``) no host at all.
    """
    stripped = text.strip()
    readable = stripped if "://" in stripped or stripped.startswith("//") else f"//{stripped}"
    shown = _shown(text)
    try:
        parts = urlsplit(readable)
        _ = parts.port  # parsed lazily: out of range or not a number raises here
    except ValueError as exc:
        raise UrlInvalidError(f"{shown!r} is not a valid URL or host: {exc}.", url=shown) from exc
    if require_host and not parts.hostname:
        raise UrlInvalidError(f"{shown!r} names no host.", url=shown)
    return parts


def check_url_syntax(url: str, *, allowed_schemes: tuple[str, ...] = ("http", "https")) -> None:
    """Refuse, before anything is queued, a URL no fetch could use: not a URL, another
    scheme, no host, credentials (the address itself is vetted again at each fetch)."""
    _parse_url(url, allowed_schemes=allowed_schemes)


def _shown(text: str, limit: int = 200) -> str:
    """Text from outside as it may appear in an error message (bounded in length)."""
    return text if len(text) <= limit else text[:limit] + "..."


def _parse_url(url: str, *, allowed_schemes: tuple[str, ...]) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        _refuse_numeric_spelling(url)  # httpx rejects "0177.0.0.1": say what it really is
        raise UrlInvalidError(f"The URL {url!r} is not valid: {exc}.", url=url) from exc
    allowed = tuple(s.lower() for s in allowed_schemes)
    if parsed.scheme not in allowed:
        shown = parsed.scheme or "(none)"
        raise UrlSchemeNotAllowedError(
            f"The URL scheme {shown!r} is not allowed; use one of {', '.join(allowed)}.",
            url=url,
            scheme=parsed.scheme,
            allowed=list(allowed),
        )
    if not parsed.raw_host:
        raise UrlInvalidError(f"The URL {url!r} has no host.", url=url)
    if parsed.userinfo:
        raise UrlInvalidError(
            "The URL carries credentials (user:password@); they are not accepted.",
            url=_without_userinfo(parsed),
        )
    return parsed


def _refuse_numeric_spelling(url: str) -> None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return
    if host and _NUMERIC_LABEL.fullmatch(host.rstrip(".").rsplit(".", 1)[-1]):
        _literal_address(host)


def _without_userinfo(url: httpx.URL) -> str:
    return str(url.copy_with(username=None, password=None))


def _literal_address(host: str) -> IPAddress | None:
    """The IP a host literal names; refuses legacy numeric spellings (``0x7f.1``)."""
    try:
        return ipaddress.ip_address(unquote(host).split("%", 1)[0])
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if not _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    legacy = _parse_legacy_ipv4(labels)
    if legacy is None:
        raise UrlInvalidError(
            f"The URL's host {host!r} is neither a name nor an IP address.", host=host
        )
    verdict = _refusal(legacy)
    why = f"{legacy}, {verdict[0]}" if verdict else f"{legacy}"
    raise UrlHostForbiddenError(
        f"The URL's host is forbidden: {host!r} is a non-canonical spelling of the IP "
        f"address {why}; write IPv4 addresses as four decimal numbers.",
        host=host,
        address=str(legacy),
        reason="non-canonical IP address spelling",
    )


def _parse_legacy_ipv4(labels: list[str]) -> ipaddress.IPv4Address | None:
    """inet_aton-style parsing: 1 to 4 parts, each decimal, octal (0..) or hex (0x..)."""
    if not 1 <= len(labels) <= 4:
        return None
    numbers = [_parse_ipv4_part(label) for label in labels]
    if any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    *head, last = values
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(values)):
        return None
    value = sum(n << (8 * (3 - i)) for i, n in enumerate(head)) + last
    return ipaddress.IPv4Address(value)


def _parse_ipv4_part(part: str) -> int | None:
    if part.startswith("0x"):
        return int(part[2:] or "0", 16) if re.fullmatch(r"0x[0-9a-f]*", part) else None
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if re.fullmatch(r"0[0-7]+", part) else None
    return int(part) if part.isdigit() else None


def _check_host_name(host: str, *, allow_private_networks: bool) -> None:
    if len(host) > 254 or not _HOSTNAME.fullmatch(host):
        raise UrlInvalidError(f"The URL's host {host!r} is not a valid host name.", host=host)
    name = host.rstrip(".")
    if name in METADATA_NAMES:
        raise UrlHostForbiddenError(
            f"The URL's host is forbidden: {host!r} names a cloud instance-metadata service.",
            host=host,
            reason="metadata host name",
        )
    is_local = name == "localhost" or name.endswith(".localhost")
    if is_local and not allow_private_networks:
        raise UrlHostForbiddenError(
            f"The URL's host is forbidden: {host!r} always names this machine (loopback).",
            host=host,
            reason="localhost name",
        )


async def _resolve_vetted(
    host: str, port: int, *, resolver: Resolver, allow_private_networks: bool
) -> str:
    """Resolve once; refuse if ANY address is forbidden; return the address to connect to."""
    try:
        addresses = await resolver(host, port)
    except OSError as exc:
        raise UrlFetchFailedError(
            f"The host {host!r} could not be resolved: {exc}.", host=host
        ) from exc
    if not addresses:
        raise UrlFetchFailedError(f"The host {host!r} resolved to no address.", host=host)
    for address in addresses:
        ensure_address_allowed(
            address, allow_private_networks=allow_private_networks, resolved_from=host
        )
    return str(_to_ip(addresses[0], host=host))


# --- the exchange ---------------------------------------------------------------------------
async def _fetch(
    url: str,
    *,
    limits: FetchLimits,
    resolver: Resolver,
    allow_private_networks: PrivateAccess,
    html: bool = False,
) -> FetchedImage:
    ask = DocumentRequest(media_types=HTML_MEDIA_TYPES) if html else None
    final_url, answer = await _fetch_answer(
        url,
        limits=limits,
        resolver=resolver,
        allow_private_networks=allow_private_networks,
        ask=ask,
    )
    return FetchedImage(
        url=url, final_url=final_url, content_type=answer.media_type, data=answer.data
    )


async def _fetch_answer(
    url: str,
    *,
    limits: FetchLimits,
    resolver: Resolver,
    allow_private_networks: PrivateAccess,
    ask: DocumentRequest | None,
) -> tuple[str, _Answer]:
    """Follow redirects (each hop vetted) to the final URL and its answer; ``ask`` None
    fetches an image (sniffed), else a document of ``ask``'s media types."""
    current = url
    async with _new_client(limits, ask=ask) as client:
        for _hop in range(limits.max_redirects + 1):
            target = await check_url(
                current,
                allowed_schemes=limits.allowed_schemes,
                resolver=resolver,
                allow_private_networks=allow_private_networks,
            )
            logger.debug("fetching %s via %s", target.url, target.address)
            outcome = await _exchange(client, target, limits=limits, ask=ask)
            if isinstance(outcome, str):
                current = outcome
                continue
            return str(target.url), outcome
    raise UrlTooManyRedirectsError(
        f"Fetching {url} was redirected more than {limits.max_redirects} times.",
        url=url,
        max_redirects=limits.max_redirects,
    )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Certificate-verifying TLS context, built once (loading the CA bundle takes ~50 ms)."""
    return httpx.create_ssl_context()


def _new_client(limits: FetchLimits, *, ask: DocumentRequest | None = None) -> httpx.AsyncClient:
    """One client per fetch. trust_env=False: no proxy from the environment (it would bypass
    the address pinning), no .netrc credentials. No keep-alive: a connection (and its TLS
    session, verified for one name) is never reused for another hop's host."""
    if ask is None:
        accept = "image/*, video/*"
    elif ask.media_types is None:
        accept = "*/*"
    else:
        accept = ", ".join(sorted(ask.media_types))
    headers = {
        "User-Agent": (ask.user_agent if ask and ask.user_agent else USER_AGENT),
        "Accept": accept,
        "Accept-Encoding": "identity",
        **(ask.validators.headers() if ask else {}),
    }
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(limits.timeout_s),
        verify=_tls_context(),
        headers=headers,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


def pinned_request(
    client: httpx.AsyncClient,
    target: VettedUrl,
    *,
    method: str = "GET",
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Request:
    """A request to the vetted address that still names the original host (Host header, SNI).

    Used for image fetches and webhook deliveries alike, so neither can be re-resolved to
    another address between the check and the connection.
    """
    headers = dict(headers or {})
    if target.is_ip_literal:
        return client.build_request(method, target.url, content=content, headers=headers)
    default_port = 443 if target.url.scheme == "https" else 80
    headers["Host"] = (
        target.host if target.port == default_port else (f"{target.host}:{target.port}")
    )
    extensions = {"sni_hostname": target.host.rstrip(".")} if target.url.scheme == "https" else {}
    return client.build_request(
        method,
        target.url.copy_with(host=target.address),
        content=content,
        headers=headers,
        extensions=extensions,
    )


async def _exchange(
    client: httpx.AsyncClient,
    target: VettedUrl,
    *,
    limits: FetchLimits,
    ask: DocumentRequest | None = None,
) -> str | _Answer:
    """One request: a redirect's next URL, or the answer."""
    try:
        response = await client.send(pinned_request(client, target), stream=True)
        try:
            return await _handle_response(response, target, limits=limits, ask=ask)
        finally:
            await response.aclose()
    except httpx.TimeoutException as exc:
        raise UrlFetchTimeoutError(
            f"Fetching {target.url} timed out ({type(exc).__name__}).",
            url=str(target.url),
            timeout_s=limits.timeout_s,
        ) from exc
    except httpx.HTTPError as exc:
        raise UrlFetchFailedError(
            f"Fetching {target.url} failed: {type(exc).__name__}: {exc}.", url=str(target.url)
        ) from exc


def _validators(response: httpx.Response) -> Validators:
    etag = response.headers.get("etag", "")[:500] or None
    modified = response.headers.get("last-modified", "")[:100] or None
    return Validators(etag=etag, last_modified=modified)


def retry_after_s(value: str | None, *, now: float | None = None) -> float | None:
    """A ``Retry-After`` header in seconds (delta or HTTP date), bounded; None if absent or
    unreadable."""
    if not value:
        return None
    text = value.strip()[:100]
    if text.isdigit():
        return min(float(text), RETRY_AFTER_MAX_S)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    delta = when.timestamp() - (time.time() if now is None else now)
    return min(max(delta, 0.0), RETRY_AFTER_MAX_S)


def _refuse_status(response: httpx.Response, target: VettedUrl) -> None:
    status = response.status_code
    if status >= 400:
        extra: dict[str, object] = {}
        if status in THROTTLED_STATUSES:
            extra["retry_after"] = retry_after_s(response.headers.get("retry-after"))
        raise UrlFetchFailedError(
            f"The server answered {status} {response.reason_phrase} for {target.url}.",
            url=str(target.url),
            status=status,
            **extra,
        )
    if status not in SUCCESS_STATUSES:
        raise UrlFetchFailedError(
            f"The server answered with the unexpected status {status} for {target.url}.",
            url=str(target.url),
            status=status,
        )


async def _handle_response(
    response: httpx.Response,
    target: VettedUrl,
    *,
    limits: FetchLimits,
    ask: DocumentRequest | None = None,
) -> str | _Answer:
    status = response.status_code
    if status in REDIRECT_STATUSES:
        return _redirect_location(response, target)
    if status == NOT_MODIFIED and ask is not None and ask.validators.headers():
        return _Answer("", b"", status, _validators(response))
    _refuse_status(response, target)
    declared = _check_headers(response, target, limits=limits, ask=ask)
    data = await _read_limited(response, target, limits=limits, media=ask is None)
    if ask is not None:
        return _Answer(declared, data, status, _validators(response))
    media = _sniffed_media_type(data, declared=declared, target=target)
    return _Answer(media, data, status, _validators(response))


def _redirect_location(response: httpx.Response, target: VettedUrl) -> str:
    location = response.headers.get("location", "").strip()
    if not location:
        raise UrlFetchFailedError(
            f"The server redirected {target.url} ({response.status_code}) without a Location.",
            url=str(target.url),
            status=response.status_code,
        )
    try:
        return str(target.url.join(location))
    except (httpx.InvalidURL, ValueError) as exc:
        raise UrlInvalidError(
            f"The redirect from {target.url} points to an invalid URL {location!r}.",
            url=str(target.url),
            location=location,
        ) from exc


def _check_headers(
    response: httpx.Response,
    target: VettedUrl,
    *,
    limits: FetchLimits,
    ask: DocumentRequest | None = None,
) -> str:
    """Refuse before reading the body: compressed, non-image or declared-oversize responses."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise UrlFetchFailedError(
            f"The server sent {target.url} with Content-Encoding {encoding!r} although an "
            "uncompressed body was asked for.",
            url=str(target.url),
            encoding=encoding,
        )
    declared: str = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ask is not None and ask.media_types is not None and declared not in ask.media_types:
        what = "HTML" if ask.media_types == HTML_MEDIA_TYPES else "of an expected type"
        raise PageNotHtmlError(
            f"The page {target.url} is not {what}: the server says its type is {declared!r}.",
            url=str(target.url),
            content_type=declared,
            expected=sorted(ask.media_types),
        )
    if ask is None and not (
        declared.startswith("image/")
        or declared in VIDEO_MEDIA_TYPES
        or declared in GENERIC_CONTENT_TYPES
    ):
        raise UrlNotAnImageError(
            f"The URL {target.url} is not an image: the server says its type is {declared!r}.",
            url=str(target.url),
            content_type=declared,
        )
    length = _declared_length(response)
    # a video's bound while a video may come (declared one, or untyped); the bytes decide
    video: bool | None = False if ask is not None or declared.startswith("image/") else None
    bound = limits.bound(video=video)
    if length is not None and length > bound:
        raise UrlResponseTooLargeError(
            f"The file at {target.url} is {length:,} bytes (Content-Length), over the limit "
            f"of {bound:,}.",
            url=str(target.url),
            max_bytes=bound,
        )
    return declared


def _declared_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


async def _read_limited(
    response: httpx.Response, target: VettedUrl, *, limits: FetchLimits, media: bool = False
) -> bytes:
    """The body, stopped at the first chunk past the bound: for a media fetch, a video's
    (``limits.video_max_bytes``) once its first bytes show a video container, else
    ``max_bytes``."""
    body = bytearray()
    video: bool | None = None if media else False
    async for chunk in response.aiter_raw():
        if video is None and len(body) + len(chunk) >= VIDEO_SIGNATURE_BYTES:
            head = bytes(body[:VIDEO_SIGNATURE_BYTES]) + chunk[:VIDEO_SIGNATURE_BYTES]
            video = looks_like_video(head)
        bound = limits.bound(video=video)
        if len(body) + len(chunk) > bound:
            raise UrlResponseTooLargeError(
                f"The file at {target.url} is over the limit of {bound:,} bytes; "
                "the download was stopped.",
                url=str(target.url),
                max_bytes=bound,
            )
        body += chunk
    return bytes(body)


def _sniffed_media_type(data: bytes, *, declared: str, target: VettedUrl) -> str:
    sniffed = media_type(sniff_format(data)) or video_media_type(data)
    if sniffed is None:
        raise UrlNotAnImageError(
            f"The URL {target.url} is not an image: it is served as {declared or 'untyped'!r} "
            "but its bytes are not in a supported image format.",
            url=str(target.url),
            content_type=declared,
        )
    return sniffed
