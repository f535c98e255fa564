"""Set-up for the pay tests: the agency world whose analyser also draws lookalikes
(``tests.support.agency``: a scan can be a ``possible`` match on purpose), a second talent of
the same agency, talent keys and Ada's own console account, and helpers that go through the
real API: record a licence, scan, review, read the ledger and the statements."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from indexer.db import utcnow
from indexer.registry import PhotoInput
from service.access import accounts
from service.access.keys import create_key
from service.core.principal import Role
from service.licensing.statements import StatementFormat
from tests.support.agency import agency_world, bearer, scan_bytes
from tests.support.console import PASSWORD, ConsoleWorld, sign_in
from tests.support.fakes import face_photo

ADA, GRACE, BEA = "Ada Lovelace", "Grace Hopper", "Bea Arthur"
IDENTITY = {ADA: 7, GRACE: 9, BEA: 11}
ADA_EMAIL = "ada@talent.example"
KEY_OF = {ADA: "agency", BEA: "agency", GRACE: "other_agency"}


@contextmanager
def pay_world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    """Ada and Bea (Demo Agency), Grace (Other Agency); keys "ada", "bea", "grace"."""
    with agency_world(tmp_path) as world:
        ctx = world.ctx
        agency_id = ctx.registry.ensure_agency(name="Demo Agency").id
        bea, _ = ctx.registry.ensure_talent(agency_id=agency_id, name=BEA)
        (outcome,) = ctx.registry.enrol_photos(
            talent_id=bea.id,
            photos=[PhotoInput("ref.png", face_photo([(IDENTITY[BEA], 120)], size=200, seed=1))],
        )
        assert outcome.accepted, outcome.reasons
        world.talents[BEA] = bea.id
        with ctx.db.session() as session:
            for name in (ADA, BEA, GRACE):
                world.keys[name.split()[0].lower()] = create_key(
                    session, role=Role.TALENT, talent=world.talents[name]
                ).key
            accounts.create_user(
                session, email=ADA_EMAIL, role=Role.TALENT, talent=world.talents[ADA]
            )
            token = accounts.issue_invitation(session, email=ADA_EMAIL, valid_hours=1)
            accounts.accept_invitation(session, token=token, password=PASSWORD)
        yield world


def person(world: ConsoleWorld, email: str) -> TestClient:
    """A browser of its own, signed in with ``email``."""
    client = TestClient(world.client.app)
    assert sign_in(client, email).status_code == 303
    return client


def licence(world: ConsoleWorld, talent: str = ADA, **overrides: Any) -> dict[str, Any]:
    """A licence for shop.example through the API (25.00 EUR per use unless told)."""
    body: dict[str, Any] = {
        "licensee": "Maison Verte",
        "publishers": ["shop.example"],
        "media": ["photo"],
        "valid_from": (utcnow() - timedelta(days=400)).isoformat(),
        "compensation": {"per_use": "25.00", "currency": "EUR"},
        **overrides,
    }
    response = world.client.post(
        f"/v1/talents/{world.talents[talent]}/licences",
        headers=bearer(world, KEY_OF[talent]),
        json=body,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def sighting(
    world: ConsoleWorld, talent: str = ADA, *, seed: int = 3, **context: str
) -> dict[str, Any]:
    """A monitor's sure (``match``) sighting of the talent on shop.example."""
    data = face_photo([(IDENTITY[talent], 90)], size=130, seed=seed)
    (face,) = scan_bytes(world, data, **context)["faces"]
    assert face["band"] == "match", face
    return dict(face)


def get(world: ConsoleWorld, who: str, path: str, **params: Any) -> Any:
    return world.client.get(path, params=params, headers=bearer(world, who))


def ledger(world: ConsoleWorld, who: str = "agency", **params: Any) -> dict[str, Any]:
    response = get(world, who, "/v1/usage", **params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def review(world: ConsoleWorld, alert_id: int, decision: str, note: str | None = None) -> Any:
    return world.client.post(
        f"/v1/alerts/{alert_id}/review",
        headers=bearer(world, "agency"),
        json={"decision": decision, "note": note},
    )


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def statement(
    world: ConsoleWorld,
    who: str,
    month: str,
    form: StatementFormat = StatementFormat.JSON,
    **params: Any,
) -> Any:
    """``/v1/me/statements`` for a talent key, ``/v1/usage/statements`` for any other."""
    path = "/v1/me/statements" if who in ("ada", "bea", "grace") else "/v1/usage/statements"
    return get(world, who, path, month=month, format=form.value, **params)
