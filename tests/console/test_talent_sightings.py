"""A talent's own sightings in the console: each with her face as it was seen and a status
her agency's triage decides (licensed, confirmed, under review, rejected: hidden unless she
asks), and face crops served only to those entitled (the talent: her own sightings; an
agency: its own talents')."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.access import accounts
from service.access.keys import create_key
from service.alerts.sightings import LABELS, sighting_status
from service.alerts.states import SightingStatus
from service.core.principal import Role
from service.core.tables.alerts import AlertSighting
from tests.support.agency import agency_world, bearer, lookalike_photo, scan_bytes, signed_in
from tests.support.console import PASSWORD, ConsoleWorld, sign_in

pytestmark = pytest.mark.postgres
ADA_EMAIL, GRACE_EMAIL = "ada@talent.example", "grace@talent.example"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with agency_world(tmp_path) as built:
        with built.ctx.db.session() as session:
            for email, name in ((ADA_EMAIL, "Ada Lovelace"), (GRACE_EMAIL, "Grace Hopper")):
                talent = built.talents[name]
                accounts.create_user(session, email=email, role=Role.TALENT, talent=talent)
                token = accounts.issue_invitation(session, email=email, valid_hours=1)
                accounts.accept_invitation(session, token=token, password=PASSWORD)
        yield built


def _talent(world: ConsoleWorld, email: str) -> TestClient:
    client = TestClient(world.client.app)
    assert sign_in(client, email).status_code == 303
    return client


def _finding_of(world: ConsoleWorld, alert_id: int) -> int:
    with world.ctx.db.session() as session:
        return int(
            session.scalars(
                select(AlertSighting.finding_id).where(AlertSighting.alert_id == alert_id)
            ).one()
        )


def _alerts(world: ConsoleWorld) -> dict[str, int]:
    items = world.client.get("/v1/alerts?limit=50", headers=bearer(world, "agency")).json()
    return {a["publisher"]: a["id"] for a in items["items"]}


@pytest.mark.parametrize(
    ("alert_status", "verdict", "expected"),
    [
        (None, "licensed", SightingStatus.LICENSED),
        ("licensed_elsewhere", "unlicensed", SightingStatus.LICENSED),
        ("confirmed_violation", "unlicensed", SightingStatus.CONFIRMED),
        ("open", "licensed", SightingStatus.UNDER_REVIEW),  # a possible face, not yet paid
        ("acknowledged", "unlicensed", SightingStatus.UNDER_REVIEW),
        ("dismissed_false_match", "unlicensed", SightingStatus.REJECTED),
        (None, "unlicensed", SightingStatus.UNDER_REVIEW),
    ],
)
def test_a_sightings_status_follows_its_alert_then_its_verdict(
    alert_status: str | None, verdict: str, expected: SightingStatus
) -> None:
    assert sighting_status(alert_status, verdict) is expected


def _three_triaged(world: ConsoleWorld) -> dict[str, int]:
    """Ada seen on three publishers; her agency leaves open.example open, confirms
    confirmed.example and rejects lookalike.example (not her). Alert ids by publisher."""
    world.scan(7, publisher="open.example", seed=3)
    world.scan(7, publisher="confirmed.example", seed=4)
    scan_bytes(world, lookalike_photo(7), publisher="lookalike.example")
    alerts = _alerts(world)
    agency = bearer(world, "agency")
    world.client.post(
        f"/v1/alerts/{alerts['confirmed.example']}/triage",
        headers=agency,
        json={"action": "confirm_violation"},
    )
    world.client.post(
        f"/v1/alerts/{alerts['lookalike.example']}/review",
        headers=agency,
        json={"decision": "not_same_person"},
    )
    return alerts


def test_talent_sees_her_sightings_with_pictures_and_statuses_rejected_ones_hidden(
    world: ConsoleWorld,
) -> None:
    alerts = _three_triaged(world)
    ada = _talent(world, ADA_EMAIL)
    html = ada.get("/console/me").text
    assert html.count('class="sighting ') == 2
    assert LABELS[SightingStatus.UNDER_REVIEW] in html
    assert LABELS[SightingStatus.CONFIRMED] in html
    assert "lookalike.example" not in html and LABELS[SightingStatus.REJECTED] not in html
    assert "Your agency said 1 sighting is not you" in html
    for publisher in ("open.example", "confirmed.example"):
        finding = _finding_of(world, alerts[publisher])
        assert f'src="/console/me/sightings/{finding}/face.jpg"' in html
        crop = ada.get(f"/console/me/sightings/{finding}/face.jpg")
        assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
        assert crop.content[:2] == b"\xff\xd8"

    shown = ada.get("/console/me?rejected=true").text
    assert shown.count('class="sighting ') == 3
    assert LABELS[SightingStatus.REJECTED] in shown and "lookalike.example" in shown
    rejected = _finding_of(world, alerts["lookalike.example"])
    assert f"/console/me/sightings/{rejected}/face.jpg" not in shown  # not her face
    assert ada.get(f"/console/me/sightings/{rejected}/face.jpg").status_code == 404
    assert ada.get("/console/me?rejected=maybe").status_code == 422


def test_the_talent_api_gives_each_sighting_the_status_her_console_shows(
    world: ConsoleWorld,
) -> None:
    _three_triaged(world)
    with world.ctx.db.session() as session:
        key = create_key(session, role=Role.TALENT, talent=world.talents["Ada Lovelace"]).key
    answer = world.client.get("/v1/me/sightings", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    by_publisher = {
        s["publisher"]: (s["status"], s["status_label"]) for s in answer.json()["items"]
    }
    expected = {
        "open.example": SightingStatus.UNDER_REVIEW,
        "confirmed.example": SightingStatus.CONFIRMED,
        "lookalike.example": SightingStatus.REJECTED,  # listed: the API hides nothing
    }
    assert by_publisher == {p: (s.value, LABELS[s]) for p, s in expected.items()}
    html = _talent(world, ADA_EMAIL).get("/console/me?rejected=true").text
    assert all(LABELS[s] in html for s in expected.values())


def test_face_crops_go_only_to_those_entitled_to_them(world: ConsoleWorld) -> None:
    world.scan(7, publisher="open.example")
    (alert_id,) = _alerts(world).values()
    finding = _finding_of(world, alert_id)
    own = f"/console/me/sightings/{finding}/face.jpg"
    assert _talent(world, GRACE_EMAIL).get(own).status_code == 404  # another talent's
    assert signed_in(world, "agency").get(own).status_code == 403  # the talent pages' gate
    assert signed_in(world, "agency").get(f"/console/alerts/{alert_id}/face.jpg").status_code == 200
    other = signed_in(world, "other_agency")
    assert other.get(f"/console/alerts/{alert_id}/face.jpg").status_code == 404
    assert signed_in(world, "brand").get(f"/console/alerts/{alert_id}/face.jpg").status_code in (
        403,
        404,
    )
    assert TestClient(world.client.app).get(own).status_code == 401  # signed out
    assert _talent(world, ADA_EMAIL).get("/console/me/sightings/0/face.jpg").status_code == 422
