"""Every console page, as every kind of person, with real ids of everybody's objects (task H8).

Two agencies (Ada Lovelace at Demo Agency, Grace Hopper at Other Agency), each talent with a
licence of distinctive terms, an offline signed consent document, an alert with a triage note,
a drafted notice and a portfolio image of a distinctive name; both agencies' takedown profiles
and e-mail recipients; a brand's pre-checks and a monitor's batch; Ada and Grace signed in as
talents. Each person opens every console GET route with every planted id: never a 5xx, and
never a string that is not theirs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from indexer.copies.tables import PortfolioImage
from service.access import accounts
from service.core.principal import Role
from service.core.tables.access import ApiKey, User
from service.core.tables.jobs import Job
from service.core.tables.licensing import ConsentRecord
from service.core.tables.scanning import Finding, Scan
from service.core.tables.watches import Watch
from tests.support.console import ConsoleWorld, console_world, sign_in
from tests.support.fakes import face_photo

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`

NOW = datetime.now(UTC)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
TALENT_USERS = {
    "talent_ada": ("ada@talent.example", "Ada Lovelace"),
    "talent_grace": ("grace@talent.example", "Grace Hopper"),
}
#: per agency: its talent, identity, licence secrets, note, profile, recipient, document name
SIDES = {
    "agency": (
        "Ada Lovelace",
        7,
        ("ada-secret-publisher.example", "24680.13"),
        "ada-agency-triage-note",
        "agency-one-rights-holder",
        "alerts-one@agency-one.example",
        "ada-consent-scan.pdf",
    ),
    "other_agency": (
        "Grace Hopper",
        9,
        ("grace-secret-publisher.example", "97531.86"),
        "grace-agency-triage-note",
        "agency-two-rights-holder",
        "alerts-two@agency-two.example",
        "grace-consent-scan.pdf",
    ),
}

#: per agency: the name of its talent's portfolio image (only that agency may see it)
PORTFOLIO_NAMES = {"agency": "ada-portfolio-shoot.png", "other_agency": "grace-portfolio-shoot.png"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path) as built:
        yield built


def _auth(world: ConsoleWorld, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.keys[who]}"}


def _secrets(agency: str) -> set[str]:
    _, _, terms, note, holder, mail, document = SIDES[agency]
    return {*terms, note, holder, mail, document, PORTFOLIO_NAMES[agency]}


def _plant_side(world: ConsoleWorld, agency: str) -> None:
    talent, identity, (publisher, fee), note, holder, mail, document = SIDES[agency]
    headers = _auth(world, agency)
    created = world.client.post(
        f"/v1/talents/{world.talents[talent]}/licences",
        headers=headers,
        json={
            "licensee": "Zara",
            "publishers": [publisher],
            "channels": ["print"],
            "territories": ["FR"],
            "media": ["photo"],
            "requires_talent_consent": True,
            "valid_from": (NOW - timedelta(days=3)).isoformat(),
            "compensation": {"flat_fee": fee, "currency": "EUR"},
        },
    )
    assert created.status_code == 201, created.text
    flagged = world.client.put(
        f"/v1/licences/{created.json()['id']}/talent-consent",
        json={"requires_talent_consent": True},
        headers=headers,
    )
    assert flagged.status_code == 200, flagged.text
    uploaded = world.client.post(
        f"/v1/licences/{created.json()['id']}/consent/documents",
        files={"file": (document, PDF)},
        data={"signer_name": talent},
        headers=headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    world.scan(identity, publisher="shop.example")
    [alert] = world.alert_ids(agency)
    triaged = world.client.post(
        f"/v1/alerts/{alert}/triage", headers=headers, json={"action": "acknowledge", "note": note}
    )
    assert triaged.status_code == 200, triaged.text
    notice = world.client.post(
        "/v1/takedowns", headers=headers, json={"kind": "dmca", "alert_ids": [alert]}
    )
    assert notice.status_code == 201, notice.text
    profile = world.client.put(
        "/v1/takedown-profile",
        headers=headers,
        json={
            "rights_holder": holder,
            "address": "1 Example Street",
            "email": mail,
            "phone": "+44 20 0000 0000",
            "signature_name": "Jane Booker",
        },
    )
    assert profile.status_code == 200, profile.text
    prefs = world.client.put("/v1/email-preferences", headers=headers, json={"recipients": [mail]})
    assert prefs.status_code == 200, prefs.text
    shoot = face_photo([(identity, 120)], size=200, seed=11, textured=True)
    added = world.client.post(
        f"/v1/talents/{world.talents[talent]}/portfolio",
        headers=headers,
        files=[("files", (PORTFOLIO_NAMES[agency], shoot, "image/png"))],
    )
    assert added.status_code == 200 and added.json()["files"][0]["accepted"], added.text


def _plant(world: ConsoleWorld) -> None:
    for agency in SIDES:
        _plant_side(world, agency)
    with world.ctx.db.session() as session:
        for email, name in TALENT_USERS.values():
            accounts.create_user(session, email=email, role=Role.TALENT, talent=world.talents[name])
            token = accounts.issue_invitation(session, email=email, valid_hours=1)
            accounts.accept_invitation(
                session, token=token, password="correct horse battery staple"
            )
    pre = world.client.post(
        "/v1/prechecks",
        headers=_auth(world, "brand"),
        files={"file": ("a.png", face_photo([(7, 90)], size=130, seed=5, textured=True))},
        data={"publisher": "hm.example", "channel": "social", "territory": "FR"},
    )
    assert pre.status_code == 201, pre.text
    job = world.client.post(
        "/v1/scan-jobs",
        headers=_auth(world, "monitor"),
        files=[("files", ("b.png", face_photo([(9, 90)], size=130, seed=6, textured=True)))],
        data={"publisher": "seen.example"},
    )
    assert job.status_code == 202, job.text
    watch = world.client.post(
        "/v1/watches",
        headers=_auth(world, "monitor"),
        json={"url": "https://seen.example/look", "kind": "page", "every_hours": 24},
    )
    assert watch.status_code == 201, watch.text


def _ids(world: ConsoleWorld) -> dict[str, list[str]]:
    with world.ctx.db.session() as session:
        ids = {
            "alert_id": world.alert_ids("admin"),
            "licence_id": [r.licence_id for r in session.scalars(select(ConsentRecord))],
            "record_id": [r.id for r in session.scalars(select(ConsentRecord))],
            "precheck_id": list(session.scalars(select(Scan.id))),
            "finding_id": list(session.scalars(select(Finding.id))),  # a talent's face crops
            "job_id": list(session.scalars(select(Job.id))),
            "talent_id": list(world.talents.values()),
            "reference_id": [1, 2],
            "notice_id": [
                n["id"]
                for who in SIDES
                for n in world.client.get("/v1/takedowns", headers=_auth(world, who)).json()[
                    "items"
                ]
            ],
            "token": ["not-a-token"],
            "user_id": list(session.scalars(select(User.id))),
            "key_id": list(session.scalars(select(ApiKey.id))),
            "watch_id": list(session.scalars(select(Watch.id))),
            "image_id": list(session.scalars(select(PortfolioImage.id))),  # portfolio images
        }
    assert all(ids.values()), ids
    return {name: [str(v) for v in values] for name, values in ids.items()}


def _routes(routes: list[Any]) -> Iterator[Any]:
    for route in routes:  # included routers stay nested (FastAPI 0.165)
        inner = getattr(route, "original_router", None)
        yield from _routes(inner.routes) if inner is not None else [route]


def _console_gets(world: ConsoleWorld) -> list[str]:
    app = world.client.app
    return sorted(
        {
            route.path
            for route in _routes(app.routes)  # type: ignore[attr-defined]
            if isinstance(route, APIRoute)
            and route.path.startswith("/console")
            and "GET" in (route.methods or set())
        }
    )


def _urls(path: str, ids: dict[str, list[str]]) -> list[str]:
    urls = [path]
    for name in re.findall(r"{(\w+)}", path):
        urls = [u.replace("{" + name + "}", value) for u in urls for value in ids[name]]
    return urls


def _talents_own(who: str) -> set[str]:
    """What a talent's own pages show her of her agency's records: the publisher her licence
    names, her consent document, her portfolio image."""
    agency = "agency" if who == "talent_ada" else "other_agency"
    _, _, (publisher, _), _, _, _, document = SIDES[agency]
    return {publisher, document, PORTFOLIO_NAMES[agency]}


def _forbidden(who: str) -> set[str]:
    every = _secrets("agency") | _secrets("other_agency")
    return {
        "agency": _secrets("other_agency") | {"Grace Hopper"},
        "other_agency": _secrets("agency") | {"Ada Lovelace"},
        "talent_ada": every - _talents_own("talent_ada") - {"24680.13"} | {"Grace Hopper"},
        "talent_grace": every - _talents_own("talent_grace") - {"97531.86"} | {"Ada Lovelace"},
        "brand": every,
        "monitor": every,
    }[who]


def _person(world: ConsoleWorld, who: str) -> TestClient:
    client = TestClient(world.client.app)
    email = TALENT_USERS[who][0] if who in TALENT_USERS else world.email(who)
    assert sign_in(client, email).status_code == 303
    return client


@pytest.mark.parametrize(
    "who", ["talent_ada", "talent_grace", "brand", "monitor", "agency", "other_agency"]
)
def test_every_console_page_shows_each_person_only_their_own(world: ConsoleWorld, who: str) -> None:
    _plant(world)
    ids, paths = _ids(world), _console_gets(world)
    assert "/console/notices/{notice_id}" in paths and "/console/me" in paths
    client, forbidden = _person(world, who), _forbidden(who)
    seen = b""
    for path in paths:
        for url in _urls(path, ids):
            response = client.get(url, follow_redirects=False)
            assert response.status_code < 500, (who, url, response.text[:500])
            leaked = sorted(s for s in forbidden if s.encode() in response.content)
            assert not leaked, (who, url, leaked, response.text[:1000])
            seen += response.content if response.status_code == 200 else b""
    own = {
        "agency": _secrets("agency"),
        "other_agency": _secrets("other_agency"),
        "talent_ada": _talents_own("talent_ada"),
        "talent_grace": _talents_own("talent_grace"),
    }
    assert all(s.encode() in seen for s in own.get(who, set())), who  # the sweep reached them
