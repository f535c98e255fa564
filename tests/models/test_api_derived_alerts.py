"""Alerts from derived images through the HTTP API (issue 22), real models and real photos:
licences say what alterations they allow, a copy with another face pasted on alerts even
under a licence covering the use, a cropped copy alerts only where no licence covers it
(or its licence allows no alterations), only the talent's agency sees those alerts, and a
copy whose face also matched her makes one alert, not two."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from indexer.db import utcnow
from indexer.engine import FaceEngine
from service.access import accounts
from service.core.principal import Role
from tests.support import copies as edits
from tests.support.console import PASSWORD, add_users, sign_in
from tests.support.service import ServiceWorld, service_world
from tests.support.takedowns import PROFILE

pytestmark = [pytest.mark.model, pytest.mark.shared_faces]

TALENT = "Demo Talent C"
ORIGINAL = "scenes/Angelina/img6.jpg"
DONOR = "lfw/Aaron_Sorkin/Aaron_Sorkin_0001.jpg"
SHOP = "shop.example.net"


@pytest.fixture
def world(tmp_path: Path, real_engine: FaceEngine) -> Iterator[ServiceWorld]:
    with service_world(tmp_path, real_engine, console_secure_cookies=False) as built:
        yield built


def portfolio_image(world: ServiceWorld, data: bytes) -> int:
    response = world.client.post(
        f"/v1/talents/{world.talents[TALENT]}/portfolio",
        files=[("files", ("campaign.jpg", data))],
        headers=world.auth("agency"),
    )
    assert response.status_code == 200, response.text
    image_id = response.json()["files"][0]["image_id"]
    assert image_id is not None
    return int(image_id)


def licence(world: ServiceWorld, **overrides: Any) -> Any:
    body: dict[str, Any] = {
        "licensee": "Maison Verte",
        "publishers": [SHOP],
        "media": ["photo"],
        "valid_from": (utcnow() - timedelta(days=30)).isoformat(),
        **overrides,
    }
    return world.client.post(
        f"/v1/talents/{world.talents[TALENT]}/licences", json=body, headers=world.auth("agency")
    )


def scan(world: ServiceWorld, data: bytes, publisher: str = SHOP) -> dict[str, Any]:
    response = world.client.post(
        "/v1/scans",
        files={"file": ("image.jpg", data)},
        data={"publisher": publisher, "channel": "ecommerce", "territory": "SE"},
        headers=world.auth("monitor"),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def alerts(world: ServiceWorld, who: str = "agency") -> list[dict[str, Any]]:
    response = world.client.get("/v1/alerts", headers=world.auth(who))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def cropped_copy(shared_faces: Path, engine: FaceEngine) -> tuple[bytes, bytes]:
    """The original and a copy showing half of it around her face, recoloured."""
    original_bytes = (shared_faces / ORIGINAL).read_bytes()
    original = edits.decode(original_bytes)
    centre = edits.face_centre(edits.largest_face(engine, original), original)
    return original_bytes, edits.jpeg(edits.recolour(edits.crop_area(original, 0.5, centre)))


def test_licence_alterations_default_to_none_round_trip_and_bad_values_are_422(
    world: ServiceWorld,
) -> None:
    plain = licence(world)
    assert plain.status_code == 201, plain.text
    assert plain.json()["alterations_allowed"] == "none"
    retouching = licence(world, alterations_allowed="retouching")
    assert retouching.json()["alterations_allowed"] == "retouching"
    for bad in ("face_replacement", "x" * 5000, 3):
        refused = licence(world, alterations_allowed=bad)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "invalid_request"


def face_swapped(shared_faces: Path, engine: FaceEngine) -> tuple[bytes, bytes]:
    """The original and a copy with another person's face pasted on hers."""
    original_bytes = (shared_faces / ORIGINAL).read_bytes()
    original = edits.decode(original_bytes)
    face = edits.largest_face(engine, original)
    donor = edits.decode((shared_faces / DONOR).read_bytes())
    donor_face = edits.largest_face(engine, donor)
    assert face is not None and donor_face is not None
    return original_bytes, edits.jpeg(edits.paste_face(original, face, donor, donor_face), 88)


def red_pixels(bgr: np.ndarray) -> int:
    b, g, r = (bgr[:, :, i].astype(int) for i in range(3))
    return int(((r > 180) & (g < 80) & (b < 80)).sum())


def talent_browser(world: ServiceWorld) -> TestClient:
    """Signed in as the talent herself."""
    email = "talent-c@demo.example"
    with world.ctx.db.session() as session:
        accounts.create_user(session, email=email, role=Role.TALENT, talent=world.talents[TALENT])
        token = accounts.issue_invitation(session, email=email, valid_hours=1)
        accounts.accept_invitation(session, token=token, password=PASSWORD)
    client = TestClient(world.client.app)
    assert sign_in(client, email).status_code == 303
    return client


def browser(world: ServiceWorld, who: str) -> TestClient:
    client = TestClient(world.client.app)
    assert sign_in(client, f"booker@{who}.example").status_code == 303
    return client


def test_face_replaced_copy_alerts_even_under_a_licence_covering_the_use_only_for_her_agency(
    world: ServiceWorld, shared_faces: Path, real_engine: FaceEngine
) -> None:
    original_bytes, swapped = face_swapped(shared_faces, real_engine)
    image_id = portfolio_image(world, original_bytes)
    assert licence(world, alterations_allowed="retouching").status_code == 201

    (found,) = scan(world, swapped)["image"]["derived_from"]
    assert found["face_replaced"]
    (alert,) = alerts(world)
    assert alert["talent"]["name"] == TALENT and alert["band"] == "derived"
    assert alert["verdict"] == "unlicensed" and alert["publisher"] == SHOP
    assert any(
        f"portfolio image {image_id}" in r and "another person's face pasted on" in r
        for r in alert["reasons"]
    ), alert["reasons"]
    assert alerts(world, "other_agency") == []
    evidence = world.client.get(
        f"/v1/alerts/{alert['id']}/evidence", headers=world.auth("agency")
    ).json()
    assert evidence["copied_from"].endswith("% of it), face replaced")
    third = world.client.get(
        f"/v1/alerts/{alert['id']}/evidence",
        params={"form": "third_party"},
        headers=world.auth("agency"),
    ).json()
    assert "portfolio image" not in third["copied_from"]
    assert third["copied_from"].endswith("with another person's face pasted on hers")
    hidden = world.client.get(
        f"/v1/alerts/{alert['id']}/evidence", headers=world.auth("other_agency")
    )
    assert hidden.status_code == 404
    # the same copy seen again joins the alert
    scan(world, swapped)
    (again,) = alerts(world)
    assert again["id"] == alert["id"] and again["sightings"] == 2
    # her own page lists the copies of her portfolio photos
    her_page = talent_browser(world).get("/console/me").text
    assert "Copies of your portfolio photos" in her_page
    assert f"derived from portfolio image {image_id} (" in her_page and "face replaced" in her_page


def test_cropped_copy_alerts_only_where_no_licence_covers_it_or_alterations_are_not_allowed(
    world: ServiceWorld, shared_faces: Path, real_engine: FaceEngine
) -> None:
    original_bytes, copy = cropped_copy(shared_faces, real_engine)
    image_id = portfolio_image(world, original_bytes)
    assert licence(world, alterations_allowed="retouching").status_code == 201

    (found,) = scan(world, copy)["image"]["derived_from"]
    assert not found["face_replaced"] and found["area_share"] < 0.6
    assert alerts(world) == []

    scan(world, copy, publisher="elsewhere.example.org")
    (alert,) = alerts(world)
    assert alert["publisher"] == "elsewhere.example.org" and alert["band"] == "derived"
    assert f"derived from portfolio image {image_id} (" in alert["reasons"][0]
    assert alerts(world, "other_agency") == []

    assert licence(world, publishers=["press.example.com"]).status_code == 201
    scan(world, copy, publisher="press.example.com")
    altered = next(a for a in alerts(world) if a["publisher"] == "press.example.com")
    assert any("cropped" in r and "allows no alterations" in r for r in altered["reasons"])


def test_copy_whose_face_also_matched_her_makes_one_alert_with_both_reasons(
    world: ServiceWorld,
) -> None:
    """Her group photo in her portfolio; a crop of it around her face is seen with no
    licence: the face path raises the alert, the copy adds its reason to it."""
    group = world.group_photo
    image_id = portfolio_image(world, group)
    item = next(t for t in world.fixture.talents if t.name == TALENT)
    x1, y1, x2, y2 = item.box
    photo = edits.decode(group)
    copy = edits.jpeg(edits.crop_area(photo, 0.5, ((x1 + x2) / 2, (y1 + y2) / 2)))

    answer = scan(world, copy)
    assert any(d["portfolio_image"] == image_id for d in answer["image"]["derived_from"])
    assert any((f.get("talent") or {}).get("name") == TALENT for f in answer["faces"]), answer
    mine = [a for a in alerts(world) if a["talent"]["name"] == TALENT]
    assert len(mine) == 1, mine
    (alert,) = mine
    assert alert["band"] == "match" and alert["sightings"] == 1
    assert any(f"derived from portfolio image {image_id}" in r for r in alert["reasons"])


def test_console_shows_the_original_beside_the_copy_with_the_region_outlined_to_her_agency_only(
    world: ServiceWorld, shared_faces: Path, real_engine: FaceEngine
) -> None:
    original_bytes, copy = cropped_copy(shared_faces, real_engine)
    image_id = portfolio_image(world, original_bytes)
    scan(world, copy)
    (alert,) = alerts(world)
    add_users(world.ctx)
    mine, theirs = browser(world, "demo"), browser(world, "other")

    inbox = mine.get("/console/alerts").text
    assert "copy of her photo" in inbox and f"derived from portfolio image {image_id} (" in inbox
    page = mine.get(f"/console/alerts/{alert['id']}/evidence").text
    assert f"/console/alerts/{alert['id']}/derived.jpg" in page
    picture = mine.get(f"/console/alerts/{alert['id']}/derived.jpg")
    assert picture.status_code == 200 and picture.content[:2] == b"\xff\xd8"
    bgr = cv2.imdecode(np.frombuffer(picture.content, np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None and bgr.shape[0] == 480 and bgr.shape[1] > 480
    original = edits.decode(original_bytes)
    width = round(original.shape[1] * 480 / original.shape[0])
    left = bgr[:, :width]
    plain = cv2.resize(original, (width, 480), interpolation=cv2.INTER_AREA)
    assert red_pixels(left) > red_pixels(plain) + 500  # the outline drawn on the original
    assert theirs.get(f"/console/alerts/{alert['id']}/derived.jpg").status_code == 404
    assert "derived from portfolio image" not in theirs.get("/console/alerts").text


def test_a_takedown_notice_for_a_face_replaced_copy_says_what_was_copied_and_pasted(
    world: ServiceWorld, shared_faces: Path, real_engine: FaceEngine
) -> None:
    original_bytes, swapped = face_swapped(shared_faces, real_engine)
    portfolio_image(world, original_bytes)
    scan(world, swapped)
    (alert,) = alerts(world)
    profile = world.client.put("/v1/takedown-profile", json=PROFILE, headers=world.auth("agency"))
    assert profile.status_code == 200, profile.text
    drafted = world.client.post(
        "/v1/takedowns",
        json={"kind": "dsa", "alert_ids": [alert["id"]]},
        headers=world.auth("agency"),
    )
    assert drafted.status_code == 201, drafted.text
    html = world.client.get(
        f"/v1/takedowns/{drafted.json()['id']}/notice.html", headers=world.auth("agency")
    ).text
    assert f"photograph of {TALENT} from her agency&#39;s portfolio" in html
    assert "another person&#39;s face pasted on hers" in html


def usage_events(world: ServiceWorld) -> list[dict[str, Any]]:
    response = world.client.get(
        "/v1/usage", params={"talent_id": world.talents[TALENT]}, headers=world.auth("agency")
    )
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


def test_a_licensed_copy_is_billed_once_per_use_and_each_sighting_counted(
    world: ServiceWorld, shared_faces: Path, real_engine: FaceEngine
) -> None:
    """No face of hers matches in the copy (it is her campaign photo, cropped): the copy
    alone is the use. Seen twice at the licensee's shop: one use, two sightings; at a
    shop the licence does not cover: an alert, nothing billed."""
    original_bytes, copy = cropped_copy(shared_faces, real_engine)
    portfolio_image(world, original_bytes)
    granted = licence(world, alterations_allowed="retouching")
    assert granted.status_code == 201

    scan(world, copy)
    scan(world, copy)
    scan(world, copy, publisher="elsewhere.example.org")

    (event,) = usage_events(world)
    assert event["licence_id"] == granted.json()["id"] and event["sightings"] == 2
    (alert,) = alerts(world)
    assert alert["publisher"] == "elsewhere.example.org"


def test_a_licensed_copy_whose_face_also_matched_her_is_one_use_one_sighting(
    world: ServiceWorld,
) -> None:
    group = world.group_photo
    portfolio_image(world, group)
    item = next(t for t in world.fixture.talents if t.name == TALENT)
    x1, y1, x2, y2 = item.box
    copy = edits.jpeg(edits.crop_area(edits.decode(group), 0.5, ((x1 + x2) / 2, (y1 + y2) / 2)))
    assert licence(world, alterations_allowed="retouching").status_code == 201

    answer = scan(world, copy)
    assert answer["image"]["derived_from"], answer
    assert any((f.get("talent") or {}).get("name") == TALENT for f in answer["faces"]), answer
    (event,) = usage_events(world)
    assert event["sightings"] == 1
    assert [a for a in alerts(world) if a["talent"]["name"] == TALENT] == []
