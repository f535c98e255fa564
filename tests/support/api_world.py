"""A running app on the FakeAnalyser (no model runs), with keys for every role and a few
objects of every kind made through the API, so tests and the fuzzer hit real rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from service.access.keys import create_key
from service.api.app import create_app
from service.context import AppContext
from service.core.principal import Role
from service.core.tables.alerts import Webhook
from service.startup import start
from tests.conftest import TEST_DATABASE_URL, reset_shared_database
from tests.support.fakes import FakeAnalyser, face_photo
from tests.support.service import make_keys, service_settings

TALENT_IDENTITY = 7


@dataclass
class FakeWorld:
    client: TestClient
    ctx: AppContext
    keys: dict[str, str]
    ids: dict[str, int] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


def _created(response: Any) -> dict[str, Any]:
    assert response.status_code in (201, 202), response.text
    body: dict[str, Any] = response.json()
    return body


def seed(world: FakeWorld) -> None:
    """One of each: talent with a photo, licence, scan with an alert, pre-check, jobs, webhook."""
    client, ids = world.client, world.ids
    talent = _created(
        client.post("/v1/talents", json={"name": "Ines Moreau"}, headers=world.auth("agency"))
    )
    ids["talent"] = talent["id"]
    enrol = client.post(
        f"/v1/talents/{talent['id']}/photos",
        headers=world.auth("agency"),
        files=[("files", ("ines.png", face_photo([(TALENT_IDENTITY, 100)]), "image/png"))],
    )
    assert enrol.status_code == 200 and enrol.json()["photos"][0]["accepted"], enrol.text
    ids["reference"] = enrol.json()["photos"][0]["reference_id"]
    licence = _created(
        client.post(
            f"/v1/talents/{talent['id']}/licences",
            headers=world.auth("agency"),
            json={
                "licensee": "H&M",
                "publishers": ["hm.com"],
                "media": ["photo"],
                "valid_from": "2026-01-01T00:00:00Z",
            },
        )
    )
    ids["licence"] = licence["id"]
    photo = face_photo([(TALENT_IDENTITY, 100)], seed=3)
    scan = _created(
        client.post(
            "/v1/scans",
            headers=world.auth("monitor"),
            data={"publisher": "knockoff.example.net", "territory": "FR"},
            files={"file": ("seen.png", photo, "image/png")},
        )
    )
    ids["scan"] = scan["id"]
    precheck = _created(
        client.post(
            "/v1/prechecks",
            headers=world.auth("brand"),
            data={"publisher": "hm.com", "channel": "social", "territory": "FR"},
            files={"file": ("asset.png", photo, "image/png")},
        )
    )
    ids["precheck"] = precheck["id"]
    job = _created(
        client.post(
            "/v1/scan-jobs",
            headers=world.auth("monitor"),
            files=[("files", ("one.png", photo, "image/png"))],
        )
    )
    ids["job"] = job["id"]
    with world.ctx.db.session() as session:  # stored directly: its URL is never called
        hook = Webhook(
            agency_id=talent["agency_id"], url="https://hooks.agency.example/tw", secret="s" * 32
        )
        session.add(hook)
        session.flush()
        ids["webhook"] = hook.id
    alerts = client.get("/v1/alerts", headers=world.auth("agency")).json()["items"]
    assert alerts, "the seeded scan should raise an alert"
    ids["alert"] = alerts[0]["id"]
    ids["notice"] = _created(
        client.post(
            "/v1/takedowns",
            headers=world.auth("agency"),
            json={"kind": "dsa", "alert_ids": [ids["alert"]]},
        )
    )["id"]
    _seed_consent(world)


def _seed_consent(world: FakeWorld) -> None:
    """The talent's own key, and a consent record with an offline signed document."""
    client, ids = world.client, world.ids
    with world.ctx.db.session() as session:
        world.keys["talent"] = create_key(session, role=Role.TALENT, talent=ids["talent"]).key
    flagged = client.put(
        f"/v1/licences/{ids['licence']}/talent-consent",
        headers=world.auth("agency"),
        json={"requires_talent_consent": True},
    )
    assert flagged.status_code == 200, flagged.text
    ids["consent_record"] = _created(
        client.post(
            f"/v1/licences/{ids['licence']}/consent/documents",
            headers=world.auth("agency"),
            data={"signer_name": "Ines Moreau"},
            files={"file": ("signed.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")},
        )
    )["id"]


def empty_test_database() -> None:
    """On the shared PostgreSQL test database, start from an empty schema (modules that
    keep one world for all their tests turn off conftest's per-test wipe)."""
    if TEST_DATABASE_URL is not None:
        reset_shared_database(TEST_DATABASE_URL)


@contextmanager
def fake_world(tmp_path: Path, **overrides: Any) -> Iterator[FakeWorld]:
    empty_test_database()
    ctx = start(service_settings(tmp_path, **overrides), analyser=FakeAnalyser())
    try:
        keys = make_keys(ctx)
        with TestClient(create_app(context=ctx), raise_server_exceptions=False) as client:
            world = FakeWorld(client, ctx, keys)
            seed(world)
            yield world
    finally:
        ctx.close()
