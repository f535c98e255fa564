"""One rule says whether an alert needs review (service.alerts.states.needs_review), and an
agency can take back its newest triage or review (``POST /v1/alerts/{id}/undo``): the
status, the billing and the remembered face go back, and the history records the undo."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from service.alerts.states import AlertBand, AlertStatus, needs_review
from service.core.tables.alerts import AlertEvent, FaceRejection
from tests.support.agency import (
    agency_world,
    bearer,
    csrf_of,
    lookalike_photo,
    scan_bytes,
    signed_in,
)
from tests.support.console import ConsoleWorld

pytestmark = pytest.mark.postgres


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with agency_world(tmp_path) as built:
        yield built


def _post(world: ConsoleWorld, path: str, body: Any = None, who: str = "agency") -> httpx.Response:
    response: httpx.Response = world.client.post(path, headers=bearer(world, who), json=body)
    return response


def _get(world: ConsoleWorld, path: str) -> Any:
    return world.client.get(path, headers=bearer(world, "agency")).json()


def _possible_alert(world: ConsoleWorld) -> dict[str, Any]:
    scan_bytes(world, lookalike_photo(7))
    (alert,) = _get(world, "/v1/alerts?status=open")["items"]
    assert alert["band"] == "possible" and alert["needs_review"] is True
    return dict(alert)


@pytest.mark.parametrize(
    ("status", "band", "verdict_is_review", "face_confirmed", "expected"),
    [
        (AlertStatus.OPEN, AlertBand.POSSIBLE, False, False, True),
        (AlertStatus.ACKNOWLEDGED, AlertBand.POSSIBLE, False, False, True),
        (AlertStatus.OPEN, AlertBand.POSSIBLE, False, True, False),
        (AlertStatus.OPEN, AlertBand.MATCH, False, False, False),
        (AlertStatus.OPEN, AlertBand.MATCH, True, True, True),  # a licence fact is missing
        (AlertStatus.DISMISSED_FALSE_MATCH, AlertBand.POSSIBLE, True, False, False),
        (AlertStatus.CONFIRMED_VIOLATION, AlertBand.POSSIBLE, True, False, False),
        (AlertStatus.LICENSED_ELSEWHERE, AlertBand.MATCH, True, False, False),
    ],
)
def test_needs_review_is_false_once_decided_and_true_only_for_an_open_question(
    status: AlertStatus,
    band: AlertBand,
    verdict_is_review: bool,
    face_confirmed: bool,
    expected: bool,
) -> None:
    assert (
        needs_review(
            status=status,
            band=band,
            verdict_is_review=verdict_is_review,
            face_confirmed=face_confirmed,
        )
        is expected
    )


def test_not_the_same_person_no_longer_needs_review_in_the_api_or_its_filter(
    world: ConsoleWorld,
) -> None:
    alert = _possible_alert(world)
    decided = _post(world, f"/v1/alerts/{alert['id']}/review", {"decision": "not_same_person"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["needs_review"] is False
    assert _get(world, f"/v1/alerts/{alert['id']}")["needs_review"] is False
    assert _get(world, "/v1/alerts?needs_review=true")["total"] == 0


def test_reopening_a_false_match_asks_for_review_again(world: ConsoleWorld) -> None:
    alert = _possible_alert(world)
    _post(world, f"/v1/alerts/{alert['id']}/review", {"decision": "not_same_person"})
    reopened = _post(world, f"/v1/alerts/{alert['id']}/triage", {"action": "reopen"})
    assert reopened.json()["status"] == "open" and reopened.json()["needs_review"] is True


def test_undo_of_same_person_asks_for_review_again_and_is_in_the_history(
    world: ConsoleWorld,
) -> None:
    alert = _possible_alert(world)
    same = _post(world, f"/v1/alerts/{alert['id']}/review", {"decision": "same_person"})
    assert same.json()["needs_review"] is False
    undone = _post(world, f"/v1/alerts/{alert['id']}/undo")
    assert undone.status_code == 200, undone.text
    assert undone.json()["needs_review"] is True and undone.json()["status"] == "open"
    history = _get(world, f"/v1/alerts/{alert['id']}/history")
    assert [(h["action"], h["from_status"], h["to_status"]) for h in history] == [
        ("review_same_person", "open", "open"),
        ("undo", "open", "open"),
    ]


def test_undo_of_not_the_same_person_reopens_and_forgets_the_face(world: ConsoleWorld) -> None:
    alert = _possible_alert(world)
    _post(world, f"/v1/alerts/{alert['id']}/review", {"decision": "not_same_person"})
    with world.ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(FaceRejection)) == 1
    undone = _post(world, f"/v1/alerts/{alert['id']}/undo")
    assert undone.status_code == 200, undone.text
    assert (undone.json()["status"], undone.json()["needs_review"]) == ("open", True)
    with world.ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(FaceRejection)) == 0
    (face,) = scan_bytes(world, lookalike_photo(7), page="/p/2")["faces"]
    assert face["talent"] is not None  # the same image matches her again
    assert _get(world, f"/v1/alerts/{alert['id']}")["sightings"] == 2


def test_undo_restores_the_status_and_note_before_a_triage(world: ConsoleWorld) -> None:
    world.scan(7)
    (alert,) = _get(world, "/v1/alerts")["items"]
    path = f"/v1/alerts/{alert['id']}"
    _post(world, f"{path}/triage", {"action": "acknowledge", "note": "looking"})
    _post(world, f"{path}/triage", {"action": "confirm_violation", "note": "takedown sent"})
    undone = _post(world, f"{path}/undo").json()
    assert (undone["status"], undone["triage_note"]) == ("acknowledged", "looking")
    undone = _post(world, f"{path}/undo").json()  # the change before it, also mine
    assert (undone["status"], undone["triage_note"], undone["triaged_at"]) == ("open", None, None)
    nothing = _post(world, f"{path}/undo")
    assert nothing.status_code == 409
    assert nothing.json()["error"]["code"] == "undo_not_allowed"


def test_only_the_one_who_acted_can_undo_and_only_soon_after(world: ConsoleWorld) -> None:
    world.scan(7)
    (alert,) = _get(world, "/v1/alerts")["items"]
    path = f"/v1/alerts/{alert['id']}"
    _post(world, f"{path}/triage", {"action": "acknowledge"})
    assert _post(world, f"{path}/undo", who="other_agency").status_code == 404
    assert _post(world, f"{path}/undo", who="monitor").status_code == 403
    with world.ctx.db.session() as session:
        session.execute(update(AlertEvent).values(user_id=None, key_id=None))
    someone_else = _post(world, f"{path}/undo")
    assert someone_else.status_code == 409 and "someone else" in someone_else.text
    _post(world, f"{path}/triage", {"action": "reopen"})
    with world.ctx.db.session() as session:
        newest = session.scalar(select(func.max(AlertEvent.id)))
        old = session.get(AlertEvent, newest)
        assert old is not None
        old.at = old.at - timedelta(minutes=16)
    too_late = _post(world, f"{path}/undo")
    assert too_late.status_code == 409 and "minutes old" in too_late.text
    assert _get(world, path)["status"] == "open"


def test_the_inbox_toast_offers_undo_only_for_ones_own_alert(world: ConsoleWorld) -> None:
    world.scan(7)
    (alert,) = _get(world, "/v1/alerts")["items"]
    agency = signed_in(world, "agency")
    done = agency.post(
        f"/console/alerts/{alert['id']}/triage",
        data={"action": "acknowledge", "csrf": csrf_of(agency), "back": "/console/alerts"},
        follow_redirects=False,
    )
    assert done.headers["location"] == f"/console/alerts?done={alert['id']}"
    page = agency.get(done.headers["location"]).text
    assert f"Alert {alert['id']} (Ada Lovelace) acknowledged." in page
    assert f'action="/console/alerts/{alert["id"]}/undo"' in page
    undone = agency.post(
        f"/console/alerts/{alert['id']}/undo",
        data={"csrf": csrf_of(agency), "back": "/console/alerts"},
    )
    assert f"Undone: alert {alert['id']} (Ada Lovelace) is open again." in undone.text
    other = signed_in(world, "other_agency")
    crafted = other.get(f"/console/alerts?done={alert['id']}")
    assert crafted.status_code == 200 and "Ada Lovelace" not in crafted.text
    refused = other.post(f"/console/alerts/{alert['id']}/undo", data={"csrf": csrf_of(other)})
    assert refused.status_code == 404
