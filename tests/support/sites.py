"""A small web site on 127.0.0.1 for crawl tests: pages, images, robots.txt, sitemaps and
feeds served with an ETag each (a matching If-None-Match gets a 304), answers that can be
throttled (429 + Retry-After) or dripped, and a log of every request with its times, so a
test can assert what was asked, with which headers, when, and how many at once."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    status: int
    started: float
    ended: float = 0.0


@dataclass
class Site:
    port: int = 0
    pages: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # path: (type, body)
    throttle: dict[str, list[float]] = field(default_factory=dict)  # path: Retry-After values
    slow_s: float = 0.0  # each answer takes this long (to see overlapping requests)
    redirects: dict[str, str] = field(default_factory=dict)  # path: Location
    drip: set[str] = field(default_factory=set)  # paths whose body comes a byte a 0.1 s
    hits: list[Hit] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def paths(self) -> list[str]:
        return [hit.path for hit in self.hits]

    def statuses(self, *, since: int = 0) -> list[int]:
        return [hit.status for hit in self.hits[since:]]

    def html(self, path: str, body: str) -> None:
        self.pages[path] = ("text/html; charset=utf-8", body.encode())

    def image(self, path: str, data: bytes) -> None:
        self.pages[path] = ("image/jpeg", data)


def _answer(site: Site, handler: BaseHTTPRequestHandler) -> int:
    path = handler.path
    waits = site.throttle.get(path)
    if waits:
        handler.send_response(429)
        handler.send_header("Retry-After", f"{waits.pop(0):g}")
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return 429
    if path in site.redirects:
        handler.send_response(302)
        handler.send_header("Location", site.redirects[path])
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return 302
    if path not in site.pages:
        handler.send_response(404)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return 404
    content_type, body = site.pages[path]
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    if handler.headers.get("If-None-Match") == etag:
        handler.send_response(304)
        handler.send_header("ETag", etag)
        handler.end_headers()
        return 304
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("ETag", etag)
    handler.end_headers()
    if path in site.drip:
        for byte in body:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.1)
    else:
        handler.wfile.write(body)
    return 200


@contextmanager
def local_site() -> Iterator[Site]:
    site = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hit = Hit(self.path, dict(self.headers.items()), 0, time.monotonic())
            with site.lock:
                site.in_flight += 1
                site.most_in_flight = max(site.most_in_flight, site.in_flight)
            try:
                if site.slow_s:
                    time.sleep(site.slow_s)
                hit.status = _answer(site, self)
            finally:
                hit.ended = time.monotonic()
                with site.lock:
                    site.in_flight -= 1
                    site.hits.append(hit)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
