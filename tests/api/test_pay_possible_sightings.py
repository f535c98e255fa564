"""A licensed ``possible`` sighting is paid for only once a person says it is the talent,
and only once: through the real API (TestClient, a real database), with the fake analyser's
lookalikes (a bright background makes the same square a ``possible`` match)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support.agency import bearer, lookalike_photo, scan_bytes
from tests.support.console import ConsoleWorld
from tests.support.pay import ADA, IDENTITY, ledger, licence, pay_world, review, sighting

pytestmark = pytest.mark.postgres


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with pay_world(tmp_path) as built:
        yield built


def possible_sighting(world: ConsoleWorld, seed: int = 45) -> dict[str, Any]:
    """Ada's lookalike on shop.example, which her licence covers."""
    (face,) = scan_bytes(world, lookalike_photo(IDENTITY[ADA], seed=seed))["faces"]
    assert face["band"] == "possible", face
    assert face["licence"]["verdict"] == "licensed", face
    return dict(face)


def the_alert(world: ConsoleWorld) -> dict[str, Any]:
    (alert,) = world.client.get("/v1/alerts", headers=bearer(world, "agency")).json()["items"]
    return dict(alert)


def uses(world: ConsoleWorld) -> list[tuple[int, int, bool]]:
    """(licence, sightings, confirmed by review) per use on the agency's ledger."""
    return [
        (e["licence_id"], e["sightings"], e["confirmed_by_review"]) for e in ledger(world)["events"]
    ]


def test_a_licensed_possible_sighting_is_not_billed_before_review_but_raised_for_review(
    world: ConsoleWorld,
) -> None:
    licence(world)
    possible_sighting(world)
    assert uses(world) == []
    alert = the_alert(world)
    assert (alert["band"], alert["verdict"], alert["needs_review"]) == (
        "possible",
        "licensed",
        True,
    )
    assert ledger(world, "ada")["events"] == []  # the talent's Pay sees nothing owed yet


def test_a_possible_sighting_is_billed_once_when_confirmed(world: ConsoleWorld) -> None:
    lid = licence(world)["id"]
    possible_sighting(world)
    alert_id = the_alert(world)["id"]

    confirmed = review(world, alert_id, "same_person", note="her mole")
    assert confirmed.status_code == 200, confirmed.text
    assert uses(world) == [(lid, 1, True)]
    again = review(world, alert_id, "same_person", note="checked twice")  # another reviewer
    assert again.status_code == 200, again.text
    assert review(world, alert_id, "same_person", note="checked twice").status_code == 200
    assert uses(world) == [(lid, 1, True)]

    possible_sighting(world)  # the same image seen again: one more sighting, the same use
    assert uses(world) == [(lid, 2, True)]
    report = ledger(world)
    assert report["owed"][0]["amount_owed"] == "25.00" and report["owed"][0]["uses"] == 1
    assert ledger(world, "ada")["owed"][0]["amount_owed"] == "25.00"


def test_concurrent_confirmations_bill_once(world: ConsoleWorld) -> None:
    lid = licence(world)["id"]
    possible_sighting(world)
    alert_id = the_alert(world)["id"]
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(lambda n: review(world, alert_id, "same_person", note=f"r{n}"), range(4))
        )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert uses(world) == [(lid, 1, True)]


def test_not_the_same_person_never_bills_a_possible_sighting(world: ConsoleWorld) -> None:
    licence(world)
    possible_sighting(world)
    alert_id = the_alert(world)["id"]
    assert review(world, alert_id, "not_same_person").status_code == 200
    assert uses(world) == []
    scan_bytes(world, lookalike_photo(IDENTITY[ADA]))  # the rejected face is not Ada any more
    assert uses(world) == [] and the_alert(world)["status"] == "dismissed_false_match"


def test_a_confirmation_dismissed_later_takes_the_use_off_and_a_new_one_bills_it_once_more(
    world: ConsoleWorld,
) -> None:
    lid = licence(world)["id"]
    possible_sighting(world)
    alert_id = the_alert(world)["id"]
    assert review(world, alert_id, "same_person").status_code == 200
    assert uses(world) == [(lid, 1, True)]

    dismissed = world.client.post(
        f"/v1/alerts/{alert_id}/triage",
        headers=bearer(world, "agency"),
        json={"action": "dismiss_false_match", "note": "a lookalike after all"},
    )
    assert dismissed.status_code == 200, dismissed.text
    assert uses(world) == []
    reopened = world.client.post(
        f"/v1/alerts/{alert_id}/triage",
        headers=bearer(world, "agency"),
        json={"action": "reopen"},
    )
    assert reopened.status_code == 200, reopened.text
    assert uses(world) == []  # a reopened alert needs a new "same person"
    assert review(world, alert_id, "same_person", note="it is her").status_code == 200
    assert uses(world) == [(lid, 1, True)]
    assert review(world, alert_id, "not_same_person").status_code == 200
    assert uses(world) == []


def test_confirming_an_unlicensed_possible_sighting_bills_nothing(world: ConsoleWorld) -> None:
    licence(world)  # covers shop.example only
    data = lookalike_photo(IDENTITY[ADA])
    (face,) = scan_bytes(world, data, publisher="knockoff.example")["faces"]
    assert (face["band"], face["licence"]["verdict"]) == ("possible", "unlicensed")
    assert review(world, the_alert(world)["id"], "same_person").status_code == 200
    assert uses(world) == []


def test_a_sure_match_is_billed_at_once_and_a_possible_one_of_another_image_waits(
    world: ConsoleWorld,
) -> None:
    lid = licence(world)["id"]
    assert sighting(world, seed=3)["licence"]["verdict"] == "licensed"
    assert uses(world) == [(lid, 1, False)]
    possible_sighting(world)
    assert uses(world) == [(lid, 1, False)]
    assert review(world, the_alert(world)["id"], "same_person").status_code == 200
    assert sorted(uses(world)) == [(lid, 1, False), (lid, 1, True)]
    assert ledger(world)["owed"][0]["amount_owed"] == "50.00"


def test_undo_takes_a_confirmation_off_the_ledger_and_a_dismissal_puts_it_back(
    world: ConsoleWorld,
) -> None:
    lid = licence(world)["id"]
    possible_sighting(world)
    alert_id = the_alert(world)["id"]
    agency = bearer(world, "agency")
    assert review(world, alert_id, "same_person").status_code == 200
    assert uses(world) == [(lid, 1, True)]
    undone = world.client.post(f"/v1/alerts/{alert_id}/undo", headers=agency)
    assert undone.status_code == 200 and undone.json()["needs_review"] is True
    assert uses(world) == []  # "same person" taken back: not a paid use

    assert review(world, alert_id, "same_person").status_code == 200
    dismissed = world.client.post(
        f"/v1/alerts/{alert_id}/triage", headers=agency, json={"action": "dismiss_false_match"}
    )
    assert dismissed.status_code == 200 and uses(world) == []
    restored = world.client.post(f"/v1/alerts/{alert_id}/undo", headers=agency)
    assert restored.status_code == 200, restored.text
    assert (restored.json()["status"], restored.json()["needs_review"]) == ("open", False)
    assert uses(world) == [(lid, 1, True)]  # the confirmation stands again, billed once
