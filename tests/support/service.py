"""Shared set-up for API tests: a real app on a temp database with the real model pack."""

from __future__ import annotations

import itertools
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from fastapi.testclient import TestClient

from indexer.demo_fixtures import (
    DemoFixture,
    enrol_demo_talents,
    load_demo_fixture,
    reference_from_crop,
)
from indexer.engine import FaceEngine
from indexer.imaging import decode_image
from service.access.keys import TenantKind, create_key, create_tenant, list_tenants
from service.api.app import create_app
from service.context import AppContext
from service.core.principal import Role
from service.core.settings import ServiceSettings
from service.startup import start
from tests.conftest import MODEL_CACHE, TEST_DATABASE_URL, seed_migrated_database


@dataclass
class ServiceWorld:
    """A running app with keys for every role and the demo talents registered."""

    client: TestClient
    ctx: AppContext
    keys: dict[str, str]
    talents: dict[str, int]
    fixture: DemoFixture
    group_photo: bytes
    stranger_photo: bytes

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


def service_settings(tmp_path: Path, **overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "var",
        "model_cache_dir": MODEL_CACHE,
        "database_url": TEST_DATABASE_URL,
        "run_worker_in_process": False,
        "worker_poll_s": 0.05,
    }
    values.update(overrides)
    settings = ServiceSettings(**values)
    seed_migrated_database(settings.data_dir)
    return settings


def make_keys(ctx: AppContext) -> dict[str, str]:
    specs: dict[str, dict[str, str]] = {
        "admin": {"role": Role.ADMIN},
        "agency": {"role": Role.AGENCY, "agency": "Demo Agency"},
        "other_agency": {"role": Role.AGENCY, "agency": "Other Agency"},
        "monitor": {"role": Role.MONITOR, "monitor": "Model Alliance"},
        "other_monitor": {"role": Role.MONITOR, "monitor": "Another Watchdog"},
        "brand": {"role": Role.BRAND, "brand": "H&M"},
        "other_brand": {"role": Role.BRAND, "brand": "Zara"},
    }
    keys = {}
    with ctx.db.session() as session:
        existing = {kind: {t.name for t in list_tenants(session, kind=kind)} for kind in TenantKind}
        for spec in specs.values():
            for kind in TenantKind:
                if kind.value in spec and spec[kind.value] not in existing[kind]:
                    create_tenant(session, kind=kind, name=spec[kind.value])
        for name, spec in specs.items():
            keys[name] = create_key(session, **spec).key  # type: ignore[arg-type]
    return keys


def register_demo_talents(ctx: AppContext, fixture: DemoFixture) -> dict[str, int]:
    enrolled = enrol_demo_talents(ctx.registry, fixture, max_pixels=10**8)
    assert all(outcome.accepted for _, _, outcome in enrolled), enrolled
    return {name: talent_id for name, talent_id, _ in enrolled}


@contextmanager
def service_world(tmp_path: Path, engine: FaceEngine, **overrides: Any) -> Iterator[ServiceWorld]:
    ctx = start(service_settings(tmp_path, **overrides), analyser=engine)
    fixture = load_demo_fixture()
    talents = register_demo_talents(ctx, fixture)
    keys = make_keys(ctx)
    with TestClient(create_app(context=ctx)) as client:
        yield ServiceWorld(
            client,
            ctx,
            keys,
            talents,
            fixture,
            fixture.reference_source.read_bytes(),
            fixture.scan[1].read_bytes(),
        )
    ctx.close()


def face_crop_jpeg(fixture: DemoFixture, name: str, *, quality: int = 92) -> bytes:
    """A photo showing only one demo talent (a wide crop of the group photo)."""
    source = decode_image(fixture.reference_source.read_bytes(), max_pixels=10**8).bgr
    item = next(t for t in fixture.talents if t.name == name)
    return reference_from_crop(
        source, item.box, scale=1.0, rotate_deg=0, jpeg_quality=quality, margin=0.8
    )


def jpeg_bytes(bgr: np.ndarray, quality: int = 90) -> bytes:
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return bytes(data.tobytes())


# --- a real HTTP receiver for webhooks and URL fetches --------------------------------------
@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when it arrived (time.monotonic)


@dataclass
class LocalServer:
    port: int
    received: list[Received] = field(default_factory=list)
    responses: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)
    fail_next_posts: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def local_server() -> Iterator[LocalServer]:
    """A threaded HTTP server on 127.0.0.1: GET serves ``responses``, POST records bodies."""
    state = LocalServer(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = state.responses.get(
                self.path, (404, "text/plain", b"not found")
            )
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.received.append(Received(self.path, dict(self.headers.items()), body))
            failing = state.fail_next_posts > 0
            state.fail_next_posts -= 1 if failing else 0
            self.send_response(500 if failing else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class DrippingServer:
    port: int
    connections: list[float] = field(default_factory=list)  # when each came (time.monotonic)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def dripping_server(
    *,
    first: bytes = b"",
    drip: bytes = b"",
    interval_s: float = 1.0,
    http: bool = True,
    hang_up_after_s: float = 10.0,
) -> Iterator[DrippingServer]:
    """A hostile receiver on 127.0.0.1 that never finishes answering: it reads the HTTP
    request (``http``; an SMTP client waits for the server instead), sends ``first`` at once,
    then one byte every ``interval_s``: ``drip``, then "x", until the client goes (or, so
    that a client with no deadline is held long, not for ever, ``hang_up_after_s``)."""
    state = DrippingServer(port=0)
    stopped = threading.Event()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            state.connections.append(time.monotonic())
            try:
                if http:
                    _read_http_request(self.rfile)
                self.wfile.write(first)
                hang_up_at = time.monotonic() + hang_up_after_s
                for byte in itertools.chain(drip, itertools.repeat(ord("x"))):
                    if stopped.wait(interval_s) or time.monotonic() > hang_up_at:
                        return
                    self.wfile.write(bytes([byte]))
            except OSError:  # the client went away
                return

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        stopped.set()
        server.shutdown()
        server.server_close()


def _read_http_request(rfile: Any) -> None:
    length = 0
    while (line := rfile.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    rfile.read(length)
