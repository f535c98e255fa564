"""Shared set-up for console tests: a real app on a temp database with the fake analyser
(faces are coloured squares), two agencies with a talent each, users for every role, and
alerts raised by real scans through the API."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from indexer.registry import PhotoInput
from service.access import accounts
from service.api.app import create_app
from service.cli import server_options
from service.console.links import PREFIX
from service.console.mount import install_console
from service.context import AppContext
from service.core.principal import Role
from service.startup import start
from tests.support.fakes import FakeAnalyser, face_photo
from tests.support.service import make_keys, service_settings

PASSWORD = "correct horse battery staple"
# identity (red channel of the fake face) per talent
TALENTS = {"Ada Lovelace": ("Demo Agency", 7), "Grace Hopper": ("Other Agency", 9)}
USERS = {
    "agency": ("booker@demo.example", Role.AGENCY, {"agency": "Demo Agency"}),
    "other_agency": ("booker@other.example", Role.AGENCY, {"agency": "Other Agency"}),
    "brand": ("desk@brand.example", Role.BRAND, {"brand": "H&M"}),
    "monitor": ("volunteer@watch.example", Role.MONITOR, {"monitor": "Model Alliance"}),
    "admin": ("root@twinwatch.example", Role.ADMIN, {}),
}


@dataclass
class ConsoleWorld:
    ctx: AppContext
    client: TestClient
    keys: dict[str, str]
    talents: dict[str, int]

    def email(self, who: str) -> str:
        return USERS[who][0]

    def scan(
        self,
        identity: int,
        *,
        publisher: str = "shop.example",
        page: str = "/p/1",
        seed: int = 3,
        side: int = 90,
    ) -> dict[str, Any]:
        """A monitor's scan through the API (the same path crawlers use)."""
        response = self.client.post(
            "/v1/scans",
            headers={"Authorization": f"Bearer {self.keys['monitor']}"},
            files={"file": ("seen.png", face_photo([(identity, side)], size=side + 40, seed=seed))},
            data={"page_url": f"https://{publisher}{page}", "publisher": publisher},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def alert_ids(self, who: str = "agency") -> list[int]:
        response = self.client.get(
            "/v1/alerts", headers={"Authorization": f"Bearer {self.keys[who]}"}
        )
        return [item["id"] for item in response.json()["items"]]


def add_users(ctx: AppContext, password: str = PASSWORD) -> None:
    with ctx.db.session() as session:
        for email, role, scope in USERS.values():
            accounts.create_user(session, email=email, role=role, **scope)  # type: ignore[arg-type]
            token = accounts.issue_invitation(session, email=email, valid_hours=1)
            accounts.accept_invitation(session, token=token, password=password)


def add_talents(ctx: AppContext) -> dict[str, int]:
    ids = {}
    for name, (agency, identity) in TALENTS.items():
        agency_id = ctx.registry.ensure_agency(name=agency).id
        talent, _ = ctx.registry.ensure_talent(agency_id=agency_id, name=name)
        (outcome,) = ctx.registry.enrol_photos(
            talent_id=talent.id,
            photos=[PhotoInput("reference.png", face_photo([(identity, 120)], size=200, seed=1))],
        )
        assert outcome.accepted, outcome.reasons
        ids[name] = talent.id
    return ids


def console_context(tmp_path: Path, **overrides: Any) -> AppContext:
    values: dict[str, Any] = {"console_secure_cookies": False}
    values.update(overrides)
    return start(service_settings(tmp_path, **values), analyser=FakeAnalyser())


@contextmanager
def console_world(tmp_path: Path, **overrides: Any) -> Iterator[ConsoleWorld]:
    ctx = console_context(tmp_path, **overrides)
    talents = add_talents(ctx)
    keys = make_keys(ctx)
    add_users(ctx)
    with TestClient(create_app(context=ctx)) as client:
        yield ConsoleWorld(ctx, client, keys, talents)
    ctx.close()


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    """Sign in like a browser: fetch the form (its CSRF cookie), then post it."""
    client.get("/console/login")
    csrf = client.cookies.get("twinwatch_login_csrf")
    return client.post(
        "/console/login",
        data={"email": email, "password": password, "csrf": csrf or ""},
        follow_redirects=False,
    )


@contextmanager
def served_like_serve(ctx: AppContext) -> Iterator[str]:
    """The app in a real uvicorn server on 127.0.0.1, configured exactly as `twinwatch serve`
    configures it (``service.cli.server_options``); yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = server_options(ctx.settings, host="127.0.0.1", port=port)
    server = uvicorn.Server(uvicorn.Config(create_app(context=ctx), **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _flattened(routes: list[Any]) -> Iterator[Any]:
    for route in routes:  # included routers stay nested (FastAPI 0.165)
        inner = getattr(route, "original_router", None)
        yield from _flattened(inner.routes) if inner is not None else [route]


def console_page_routes() -> list[APIRoute]:
    """Every GET route under the console, read from the routes the app mounts."""
    app = FastAPI()
    install_console(app)
    return [
        route
        for route in _flattened(app.routes)
        if isinstance(route, APIRoute)
        and "GET" in (route.methods or set())
        and (route.path == PREFIX or route.path.startswith(PREFIX + "/"))
    ]
