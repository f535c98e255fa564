"""SSRF-safe image fetching, against a real HTTP server on 127.0.0.1.

Every request in these tests goes to 127.0.0.1 only: forbidden targets are refused before
any connection, and names are resolved by an injected resolver that answers loopback or
addresses that must be refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gzip
import io
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from PIL import Image

import service.core.fetching
from service.core.errors import (
    UrlFetchError,
    UrlFetchFailedError,
    UrlFetchTimeoutError,
    UrlHostForbiddenError,
    UrlInvalidError,
    UrlNotAnImageError,
    UrlResponseTooLargeError,
    UrlSchemeNotAllowedError,
    UrlTooManyRedirectsError,
)
from service.core.fetching import (
    FetchedImage,
    FetchLimits,
    Resolver,
    VettedUrl,
    check_url,
    ensure_address_allowed,
    fetch_image,
    pinned_request,
    system_resolver,
)

pytestmark = pytest.mark.anyio

LIMITS = FetchLimits(max_bytes=64 * 1024, timeout_s=3.0, max_redirects=3)
HTML = b"<!doctype html><html><body><img src=x></body></html>" * 4
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>'
STOP = threading.Event()


def _encode(fmt: str) -> bytes:
    img = Image.linear_gradient("L").resize((64, 48)).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


JPEG = _encode("JPEG")
PNG = _encode("PNG")
MP4_HEAD = b"\x00\x00\x00\x18ftypisom"


@dataclass
class SeenRequest:
    path: str
    host: str | None
    accept_encoding: str | None


@dataclass
class LocalServer:
    base: str
    port: int
    seen: list[SeenRequest] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def paths(self) -> list[str]:
        return [r.path for r in self.seen]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        self.server.seen.append(
            SeenRequest(self.path, self.headers.get("Host"), self.headers.get("Accept-Encoding"))
        )
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        route = getattr(
            self, "route_" + parts.path.strip("/").split("/")[0].replace("-", "_"), None
        )
        try:
            if route is None:
                self._send(404, b"not found", "text/plain")
            else:
                route(parts.path, query)
        except OSError:  # the client hung up (as it should on refusals)
            self.close_connection = True

    def _send(
        self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def route_image(self, _path: str, q: dict[str, str]) -> None:
        body = PNG if q.get("format") == "png" else JPEG
        self._send(200, body, q.get("type", "image/jpeg"))

    def route_html(self, _path: str, q: dict[str, str]) -> None:
        self._send(200, HTML, q.get("type", "text/html; charset=utf-8"))

    def route_svg(self, _path: str, _q: dict[str, str]) -> None:
        self._send(200, SVG, "image/svg+xml")

    def route_status(self, path: str, _q: dict[str, str]) -> None:
        self._send(int(path.rsplit("/", 1)[1]), b"error page", "text/plain")

    def route_gzip(self, _path: str, _q: dict[str, str]) -> None:
        self._send(200, gzip.compress(JPEG), "image/jpeg", {"Content-Encoding": "gzip"})

    def route_redirect(self, _path: str, q: dict[str, str]) -> None:
        extra = {"Location": q["to"]} if "to" in q else {}
        self._send(int(q.get("status", "302")), b"", "text/plain", extra)

    def route_chain(self, path: str, _q: dict[str, str]) -> None:
        left = int(path.rsplit("/", 1)[1])
        if left == 0:
            self._send(200, JPEG, "image/jpeg")
        else:
            self._send(302, b"", "text/plain", {"Location": f"/chain/{left - 1}"})

    def route_big(self, _path: str, q: dict[str, str]) -> None:
        """A 1 MiB JPEG-looking body (MP4-looking with ``video=1``, served as ``type``),
        framed by Content-Length, chunked or connection close."""
        head, served = (MP4_HEAD, "video/mp4") if q.get("video") else (JPEG, "image/jpeg")
        body = head + b"\0" * (1024 * 1024)
        served = q.get("type", served)
        mode = q.get("framing", "length")
        if mode == "length":
            self._send(200, body, served)
            return
        self.send_response(200)
        self.send_header("Content-Type", served)
        if mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        for start in range(0, len(body), 16 * 1024):
            piece = body[start : start + 16 * 1024]
            if mode == "chunked":
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            else:
                self.wfile.write(piece)
        if mode == "chunked":
            self.wfile.write(b"0\r\n\r\n")

    def route_drip(self, _path: str, q: dict[str, str]) -> None:
        """Headers at once, then one body byte every 50 ms (a slow-loris upstream)."""
        self.send_response(200)
        self.send_header("Content-Type", q.get("type", "image/jpeg"))
        self.send_header("Content-Length", q.get("declare", str(len(JPEG))))
        self.end_headers()
        for byte in JPEG[:100]:
            if STOP.wait(0.05):
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()

    def route_stall(self, _path: str, _q: dict[str, str]) -> None:
        """Never answers (until the test server stops)."""
        STOP.wait(5.0)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    seen: list[SeenRequest]

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # client disconnects are expected here


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


GUARD_ALLOWED = frozenset({ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")})


def _is_loopback(host: object) -> bool:
    """Only 127.0.0.1 and ::1 (127.0.0.2 stays refused, so the guard can test itself)."""
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]) in GUARD_ALLOWED
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the code under test does, these tests never reach past this machine: any
    connection to, or system lookup of, something other than loopback fails instead."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if not _is_loopback(host):
            raise PermissionError(f"test guard: refused a connection to {host!r}")

    def connect(sock: socket.socket, address: object) -> None:
        check(address)
        real_connect(sock, address)  # type: ignore[arg-type]

    def connect_ex(sock: socket.socket, address: object) -> int:
        check(address)
        return real_connect_ex(sock, address)  # type: ignore[arg-type]

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host is not None and not _is_loopback(host):
            raise socket.gaierror(socket.EAI_NONAME, f"test guard: no lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@contextlib.contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[LocalServer]:
    """A threaded HTTP (or HTTPS) test server on 127.0.0.1, ephemeral port."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.seen = []
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    port = int(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield LocalServer(base=f"{scheme}://127.0.0.1:{port}", port=port, seen=httpd.seen)
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    STOP.clear()
    with serving() as local:
        yield local
    STOP.set()


@pytest.fixture
def srv(server: LocalServer) -> LocalServer:
    server.seen.clear()
    return server


def resolver_for(mapping: dict[str, list[str]], calls: list[str] | None = None) -> Resolver:
    """A resolver answering from ``mapping`` (recording the names asked in ``calls``)."""

    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(mapping[host])

    return resolve


async def fetch_local(
    url: str, *, limits: FetchLimits = LIMITS, resolver: Resolver | None = None
) -> FetchedImage:
    """Fetch with loopback allowed, as the tests' server lives on 127.0.0.1."""
    return await fetch_image(url, limits=limits, resolver=resolver, allow_private_networks=True)


# --- success paths --------------------------------------------------------------------------
async def test_good_jpeg_is_fetched_from_a_local_server_when_private_networks_are_allowed(
    srv: LocalServer,
) -> None:
    url = srv.url("/image")
    fetched = await fetch_local(url)
    assert fetched.data == JPEG
    assert fetched.content_type == "image/jpeg"
    assert (fetched.url, fetched.final_url) == (url, url)
    assert srv.seen[0].accept_encoding == "identity"


async def test_untyped_image_is_accepted_on_its_sniffed_bytes(srv: LocalServer) -> None:
    fetched = await fetch_local(srv.url("/image?format=png&type=application/octet-stream"))
    assert fetched.data == PNG
    assert fetched.content_type == "image/png"


async def test_name_is_resolved_once_and_the_vetted_ip_is_connected_with_the_original_host(
    srv: LocalServer,
) -> None:
    calls: list[str] = []
    resolve = resolver_for({"images.twinwatch.test": ["127.0.0.1"]}, calls)
    url = f"http://images.twinwatch.test:{srv.port}/image"
    fetched = await fetch_local(url, resolver=resolve)
    assert fetched.data == JPEG and fetched.final_url == url
    assert calls == ["images.twinwatch.test"]
    assert srv.seen[0].host == f"images.twinwatch.test:{srv.port}"


async def test_relative_redirect_is_followed_and_reported_as_final_url(srv: LocalServer) -> None:
    fetched = await fetch_local(srv.url("/redirect?to=/image&status=301"))
    assert fetched.data == JPEG
    assert fetched.final_url == srv.url("/image")
    assert fetched.url == srv.url("/redirect?to=/image&status=301")


async def test_exactly_max_redirects_hops_are_followed(srv: LocalServer) -> None:
    fetched = await fetch_local(srv.url("/chain/3"))
    assert fetched.final_url == srv.url("/chain/0")
    assert srv.paths() == ["/chain/3", "/chain/2", "/chain/1", "/chain/0"]


# --- refusals: addresses and names ----------------------------------------------------------
async def test_loopback_url_is_refused_without_the_allow_flag(srv: LocalServer) -> None:
    with pytest.raises(UrlHostForbiddenError, match="loopback") as info:
        await fetch_image(srv.url("/image"), limits=LIMITS)
    assert info.value.code == "url_host_forbidden"
    assert srv.seen == []


FORBIDDEN_LITERALS = [
    "http://127.0.0.1/",
    "http://127.8.9.10/",
    "http://[::1]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.1.1/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fd00::1]/",
    "http://[fd00:ec2::254]/",
    "http://[fc00::5]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[2002:7f00:1::]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[::127.0.0.1]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://0.1.2.3/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://198.18.0.1/",
    "http://[fec0::1]/",
    "http://100.100.100.200/",
    "http://[::93.184.216.34]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
]


@pytest.mark.parametrize("url", FORBIDDEN_LITERALS)
async def test_non_public_ip_literals_are_refused(url: str) -> None:
    with pytest.raises(UrlHostForbiddenError):
        await fetch_image(url, limits=LIMITS)


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0x7f000001/",
        "http://017700000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://0/",
        "http://0x0a.1.2.3/",
    ],
)
async def test_legacy_numeric_ip_spellings_are_refused(url: str) -> None:
    with pytest.raises(UrlHostForbiddenError, match="non-canonical"):
        await fetch_image(url, limits=LIMITS)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/",
        "http://LOCALHOST./x",
        "http://api.localhost/",
        "http://metadata.google.internal/",
    ],
)
async def test_local_and_metadata_host_names_are_refused_without_resolving(url: str) -> None:
    calls: list[str] = []
    with pytest.raises(UrlHostForbiddenError):
        await fetch_image(url, limits=LIMITS, resolver=resolver_for({}, calls))
    assert calls == []


@pytest.mark.parametrize(
    "answer",
    [
        ["10.1.2.3"],
        ["127.0.0.1"],
        ["169.254.169.254"],
        ["::1"],
        ["fd12:3456::1"],
        ["::ffff:192.168.0.1"],
        ["93.184.216.34", "10.0.0.7"],
        ["2606:4700::1111", "fe80::9"],
    ],
)
async def test_public_name_resolving_to_any_forbidden_address_is_refused(answer: list[str]) -> None:
    resolve = resolver_for({"cdn.example.test": answer})
    with pytest.raises(UrlHostForbiddenError, match=r"'cdn\.example\.test' resolves to"):
        await fetch_image("https://cdn.example.test/a.jpg", limits=LIMITS, resolver=resolve)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::]/",
        "http://[fd00:ec2::254]/",
    ],
)
async def test_metadata_link_local_and_unspecified_stay_refused_with_the_allow_flag(
    url: str,
) -> None:
    with pytest.raises(UrlHostForbiddenError):
        await fetch_local(url)


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "8.8.8.8",
        "2606:4700:4700::1111",
        "2a00:1450:4001:80b::200e",
        "::ffff:93.184.216.34",
        "64:ff9b::5db8:d822",
        "2002:5db8:d822::1",
    ],
)
def test_public_addresses_pass_the_address_check(address: str) -> None:
    ensure_address_allowed(address)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://example.test/a.jpg", UrlSchemeNotAllowedError),
        ("file:///etc/passwd", UrlSchemeNotAllowedError),
        ("gopher://127.0.0.1:6379/_INFO", UrlSchemeNotAllowedError),
        ("/relative/path.jpg", UrlSchemeNotAllowedError),
        ("http://user:secret@example.test/a.jpg", UrlInvalidError),
        ("http:///nohost", UrlInvalidError),
        ("http://ex%41mple.test/", UrlInvalidError),
        ("http://1.2.3.4.5/", UrlInvalidError),
        ("http://256.1.1.1/", UrlInvalidError),
    ],
)
async def test_malformed_or_unsupported_urls_are_refused_with_their_own_code(
    url: str, error: type[UrlFetchError]
) -> None:
    with pytest.raises(error) as info:
        await fetch_image(url, limits=LIMITS, resolver=resolver_for({}))
    assert "secret" not in info.value.message


async def test_https_only_limits_refuse_plain_http(srv: LocalServer) -> None:
    https_only = FetchLimits(
        max_bytes=1024, timeout_s=1, max_redirects=0, allowed_schemes=("https",)
    )
    with pytest.raises(UrlSchemeNotAllowedError, match="'http'"):
        await fetch_local(srv.url("/image"), limits=https_only)
    assert srv.seen == []


# --- refusals: redirects --------------------------------------------------------------------
@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://0x7f.1/",
        "http://metadata.google.internal/",
    ],
)
async def test_redirect_to_a_forbidden_address_is_refused_before_connecting(
    srv: LocalServer, target: str
) -> None:
    with pytest.raises(UrlHostForbiddenError):
        await fetch_local(srv.url(f"/redirect?to={target}"))
    assert len(srv.seen) == 1


async def test_redirect_to_a_name_resolving_to_link_local_is_refused(srv: LocalServer) -> None:
    resolve = resolver_for({"rebind.example.test": ["169.254.169.254"]})
    with pytest.raises(UrlHostForbiddenError, match="rebind"):
        await fetch_local(srv.url("/redirect?to=http://rebind.example.test/x"), resolver=resolve)
    assert len(srv.seen) == 1


async def test_redirect_to_a_forbidden_scheme_is_refused(srv: LocalServer) -> None:
    with pytest.raises(UrlSchemeNotAllowedError, match="'file'"):
        await fetch_local(srv.url("/redirect?to=file:///etc/passwd&status=307"))


async def test_redirect_check_refuses_a_private_target_without_the_allow_flag() -> None:
    resolve = resolver_for(
        {"public.example.test": ["93.184.216.34"], "internal.example.test": ["10.20.30.40"]}
    )
    vetted = await check_url("https://public.example.test/a.jpg", resolver=resolve)
    assert vetted.address == "93.184.216.34" and vetted.port == 443
    with pytest.raises(UrlHostForbiddenError, match=r"10\.20\.30\.40"):
        await check_url("https://internal.example.test/a.jpg", resolver=resolve)


async def test_too_many_redirects_are_refused(srv: LocalServer) -> None:
    with pytest.raises(UrlTooManyRedirectsError) as info:
        await fetch_local(srv.url("/chain/4"))
    assert info.value.code == "url_too_many_redirects"
    assert len(srv.seen) == LIMITS.max_redirects + 1


async def test_redirect_without_location_fails(srv: LocalServer) -> None:
    with pytest.raises(UrlFetchFailedError, match="without a Location"):
        await fetch_local(srv.url("/redirect"))


# --- refusals: time and size ----------------------------------------------------------------
async def test_slow_server_hits_the_total_timeout_although_each_read_is_quick(
    srv: LocalServer,
) -> None:
    limits = FetchLimits(max_bytes=1 << 20, timeout_s=0.5, max_redirects=0)
    started = time.monotonic()
    with pytest.raises(UrlFetchTimeoutError) as info:
        await fetch_local(srv.url("/drip"), limits=limits)
    assert time.monotonic() - started < 2.0
    assert info.value.code == "url_fetch_timeout"


async def test_server_that_never_answers_hits_the_timeout(srv: LocalServer) -> None:
    limits = FetchLimits(max_bytes=1 << 20, timeout_s=0.3, max_redirects=0)
    started = time.monotonic()
    with pytest.raises(UrlFetchTimeoutError):
        await fetch_local(srv.url("/stall"), limits=limits)
    assert time.monotonic() - started < 2.0


async def test_slow_resolver_counts_against_the_timeout() -> None:
    async def slow(host: str, port: int) -> list[str]:
        await asyncio.sleep(5)
        return ["127.0.0.1"]

    limits = FetchLimits(max_bytes=1024, timeout_s=0.2, max_redirects=0)
    with pytest.raises(UrlFetchTimeoutError):
        await fetch_local("http://slow.example.test/", limits=limits, resolver=slow)


async def test_oversize_content_length_is_refused_before_reading_the_body(srv: LocalServer) -> None:
    # The body drips for seconds: only a refusal on the header alone is this quick.
    started = time.monotonic()
    with pytest.raises(UrlResponseTooLargeError, match="Content-Length"):
        await fetch_local(srv.url(f"/drip?declare={100 * 1024 * 1024}"))
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
async def test_oversize_body_is_refused_whatever_its_framing(
    srv: LocalServer, framing: str
) -> None:
    with pytest.raises(UrlResponseTooLargeError) as info:
        await fetch_local(srv.url(f"/big?framing={framing}"))
    assert info.value.details["max_bytes"] == LIMITS.max_bytes


VIDEO_LIMITS = FetchLimits(
    max_bytes=64 * 1024, timeout_s=3.0, max_redirects=3, video_max_bytes=2 * 1024 * 1024
)


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
@pytest.mark.parametrize("served", ["video/mp4", "application/octet-stream"])
async def test_a_video_may_pass_the_image_bound_up_to_its_own(
    srv: LocalServer, framing: str, served: str
) -> None:
    fetched = await fetch_local(
        srv.url(f"/big?video=1&type={served}&framing={framing}"), limits=VIDEO_LIMITS
    )
    assert fetched.content_type == "video/mp4"
    assert len(fetched.data) == len(MP4_HEAD) + 1024 * 1024


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
async def test_a_video_over_its_own_bound_is_refused(srv: LocalServer, framing: str) -> None:
    limits = FetchLimits(
        max_bytes=64 * 1024, timeout_s=3.0, max_redirects=3, video_max_bytes=512 * 1024
    )
    with pytest.raises(UrlResponseTooLargeError) as info:
        await fetch_local(srv.url(f"/big?video=1&framing={framing}"), limits=limits)
    assert info.value.details["max_bytes"] == 512 * 1024


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
@pytest.mark.parametrize("served", ["image/jpeg", "application/octet-stream"])
async def test_an_image_keeps_the_image_bound_beside_a_video_bound(
    srv: LocalServer, framing: str, served: str
) -> None:
    with pytest.raises(UrlResponseTooLargeError) as info:
        await fetch_local(srv.url(f"/big?type={served}&framing={framing}"), limits=VIDEO_LIMITS)
    assert info.value.details["max_bytes"] == VIDEO_LIMITS.max_bytes


# --- refusals: content ----------------------------------------------------------------------
async def test_html_page_is_refused_as_not_an_image(srv: LocalServer) -> None:
    with pytest.raises(UrlNotAnImageError, match="text/html") as info:
        await fetch_local(srv.url("/html"))
    assert info.value.code == "url_not_an_image"


async def test_non_image_type_is_refused_without_waiting_for_the_body(srv: LocalServer) -> None:
    started = time.monotonic()
    with pytest.raises(UrlNotAnImageError):
        await fetch_local(srv.url("/drip?type=text/html"))
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    "path", ["/html?type=image/jpeg", "/html?type=application/octet-stream", "/svg"]
)
async def test_response_claiming_an_image_type_but_not_an_image_is_refused(
    srv: LocalServer, path: str
) -> None:
    with pytest.raises(UrlNotAnImageError, match="bytes are not"):
        await fetch_local(srv.url(path))


@pytest.mark.parametrize("status", [403, 404, 500, 503])
async def test_http_error_status_is_reported_with_the_status(srv: LocalServer, status: int) -> None:
    with pytest.raises(UrlFetchFailedError, match=str(status)) as info:
        await fetch_local(srv.url(f"/status/{status}"))
    assert info.value.details["status"] == status


async def test_compressed_response_is_refused(srv: LocalServer) -> None:
    with pytest.raises(UrlFetchFailedError, match="gzip"):
        await fetch_local(srv.url("/gzip"))


async def test_connection_refused_is_a_fetch_failure() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UrlFetchFailedError, match="ConnectError"):
        await fetch_local(f"http://127.0.0.1:{port}/a.jpg")


@pytest.mark.parametrize("answer", [OSError("resolver down"), []])
async def test_unresolvable_name_is_a_fetch_failure(answer: OSError | list[str]) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        if isinstance(answer, OSError):
            raise answer
        return answer

    with pytest.raises(UrlFetchFailedError, match=r"nowhere\.example\.test"):
        await fetch_image("http://nowhere.example.test/", limits=LIMITS, resolver=resolve)


# --- HTTPS: connect to the vetted IP, verify the certificate against the name ---------------
@dataclass(frozen=True)
class TlsFixture:
    client: ssl.SSLContext  # trusts the test CA only
    server_for: dict[str, ssl.SSLContext]  # server contexts by certificate name
    sni_seen: list[str | None]


def _issue(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _server_context(
    name: str,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    sni_seen: list[str | None],
    tmp: Path,
) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _issue(name, key, ca.subject, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    path = tmp / f"{name}.pem"
    path.write_bytes(
        cert.public_bytes(pem)
        + key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(path)
    context.sni_callback = lambda _sock, server_name, _ctx: sni_seen.append(server_name)
    return context


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFixture:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "twinwatch test CA")])
    ca = _issue("twinwatch test CA", ca_key, ca_name, ca_key, ca=True)
    tmp = tmp_path_factory.mktemp("tls")
    sni_seen: list[str | None] = []
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return TlsFixture(
        client=client,
        sni_seen=sni_seen,
        server_for={
            name: _server_context(name, ca, ca_key, sni_seen, tmp)
            for name in ("images.twinwatch.test", "other.twinwatch.test")
        },
    )


async def test_https_connects_to_the_vetted_ip_and_verifies_the_certificate_for_the_name(
    tls: TlsFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service.core.fetching, "_tls_context", lambda: tls.client)
    tls.sni_seen.clear()
    with serving(tls.server_for["images.twinwatch.test"]) as https:
        url = f"https://images.twinwatch.test:{https.port}/image"
        fetched = await fetch_local(
            url, resolver=resolver_for({"images.twinwatch.test": ["127.0.0.1"]})
        )
        assert fetched.data == JPEG and fetched.final_url == url
        assert https.seen[0].host == f"images.twinwatch.test:{https.port}"
    assert tls.sni_seen == ["images.twinwatch.test"]


async def test_https_certificate_for_another_name_is_a_fetch_failure(
    tls: TlsFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service.core.fetching, "_tls_context", lambda: tls.client)
    with serving(tls.server_for["other.twinwatch.test"]) as https:
        with pytest.raises(UrlFetchFailedError, match="CERTIFICATE_VERIFY_FAILED"):
            await fetch_local(
                f"https://images.twinwatch.test:{https.port}/image",
                resolver=resolver_for({"images.twinwatch.test": ["127.0.0.1"]}),
            )
        assert https.seen == []


async def test_https_redirect_to_another_name_on_the_same_ip_is_verified_for_that_name(
    tls: TlsFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No connection reuse across hops: the TLS session verified for the first name must
    not carry a request for a second name served from the same address."""
    monkeypatch.setattr(service.core.fetching, "_tls_context", lambda: tls.client)
    resolve = resolver_for(
        {"images.twinwatch.test": ["127.0.0.1"], "cdn.twinwatch.test": ["127.0.0.1"]}
    )
    with serving(tls.server_for["images.twinwatch.test"]) as https:
        url = (
            f"https://images.twinwatch.test:{https.port}/redirect"
            f"?to=https://cdn.twinwatch.test:{https.port}/image"
        )
        with pytest.raises(UrlFetchFailedError, match="CERTIFICATE_VERIFY_FAILED"):
            await fetch_local(url, resolver=resolve)
        assert https.paths() == [url.split(str(https.port), 1)[1]]


# --- request construction and API details ---------------------------------------------------
async def test_the_test_guard_sits_on_the_connection_and_lookup_paths(srv: LocalServer) -> None:
    # 127.0.0.2 is loopback too (harmless if the guard failed) but outside the guard's set.
    with pytest.raises(UrlFetchFailedError) as info:
        await fetch_local(f"http://127.0.0.2:{srv.port}/image")
    causes: list[BaseException] = []
    cause: BaseException | None = info.value
    while cause is not None and len(causes) < 20:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    assert any("test guard" in str(c) for c in causes), causes
    with pytest.raises(socket.gaierror, match="test guard"):
        await asyncio.get_running_loop().getaddrinfo("127.0.0.2", 80)


async def test_system_resolver_answers_ip_strings() -> None:
    assert await system_resolver("127.0.0.1", 80) == ["127.0.0.1"]


def test_https_request_goes_to_the_vetted_ip_with_host_header_and_sni() -> None:
    target = VettedUrl(
        url=httpx.URL("https://cdn.example.test:8443/a.jpg?x=1"),
        host="cdn.example.test",
        port=8443,
        address="2606:4700::1111",
        is_ip_literal=False,
    )
    request = pinned_request(httpx.AsyncClient(), target)
    assert str(request.url) == "https://[2606:4700::1111]:8443/a.jpg?x=1"
    assert request.headers["Host"] == "cdn.example.test:8443"
    assert request.extensions["sni_hostname"] == "cdn.example.test"


def test_fetched_image_repr_never_shows_the_bytes() -> None:
    fetched = FetchedImage(url="u", final_url="u", content_type="image/jpeg", data=JPEG)
    assert "JFIF" not in repr(fetched) and f"{len(JPEG)} bytes" in repr(fetched)


@pytest.mark.parametrize("kwargs", [{"max_bytes": 0}, {"timeout_s": 0}, {"max_redirects": -1}])
def test_fetch_limits_reject_nonsense(kwargs: dict[str, float]) -> None:
    values: dict[str, float] = {"max_bytes": 10, "timeout_s": 1.0, "max_redirects": 1, **kwargs}
    with pytest.raises(ValueError, match="positive"):
        FetchLimits(**values)  # type: ignore[arg-type]
