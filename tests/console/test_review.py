"""The agency's review of matches and the alert history, over HTTP (API and console):
the best-matching reference photo per finding, "same person" / "not the same person"
(remembered per talent and face, so the same image does not come back), the history."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, inspect, select

from indexer.db import ReferenceImage
from indexer.registry import PhotoInput
from service.core.tables.alerts import Alert, FaceRejection
from service.core.tables.scanning import Finding
from tests.support.agency import (
    agency_world,
    bearer,
    csrf_of,
    lookalike_photo,
    scan_bytes,
    signed_in,
)
from tests.support.console import ConsoleWorld
from tests.support.fakes import face_photo

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with agency_world(tmp_path) as built:
        yield built


def _references(world: ConsoleWorld, talent_id: int) -> list[int]:
    with world.ctx.db.session() as session:
        return list(
            session.scalars(
                select(ReferenceImage.id)
                .where(ReferenceImage.talent_id == talent_id)
                .order_by(ReferenceImage.id)
            )
        )


def _one_alert(world: ConsoleWorld) -> dict[str, Any]:
    items = world.client.get("/v1/alerts?status=open", headers=bearer(world, "agency")).json()[
        "items"
    ]
    assert len(items) == 1, items
    return dict(items[0])


def _review(
    world: ConsoleWorld,
    alert_id: object,
    decision: str,
    who: str = "agency",
    note: str | None = None,
) -> httpx.Response:
    response: httpx.Response = world.client.post(
        f"/v1/alerts/{alert_id}/review",
        headers=bearer(world, who),
        json={"decision": decision, "note": note},
    )
    return response


def _same_image_other_bytes(data: bytes) -> bytes:
    """The same picture with one background pixel changed: another sha256, the same pHash."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    x, y = image.width - 1, image.height - 1
    red, green, blue = image.getpixel((x, y))  # type: ignore[misc]
    image.putpixel((x, y), (min(255, red + 1), green, blue))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def test_a_finding_records_the_reference_photo_that_matched_best(world: ConsoleWorld) -> None:
    ada = world.talents["Ada Lovelace"]
    (outcome,) = world.ctx.registry.enrol_photos(
        talent_id=ada, photos=[PhotoInput("second.png", face_photo([(8, 120)], size=200, seed=2))]
    )  # the same talent, "older"
    assert outcome.accepted
    first, second = _references(world, ada)
    for identity, page, expected in ((8, "/a", second), (7, "/b", first)):
        scanned = world.scan(identity, page=page, seed=identity)
        with world.ctx.db.session() as session:
            finding = session.scalars(select(Finding).where(Finding.scan_id == scanned["id"])).one()
            assert (finding.talent_id, finding.reference_image_id) == (ada, expected)

    client = signed_in(world, "agency")
    html = client.get("/console/alerts").text
    assert f"/talents/{ada}/references/{second}.jpg" in html
    assert f"/talents/{ada}/references/{first}.jpg" in html
    assert html.count("Best-matching reference") == 2
    assert client.get(f"/console/talents/{ada}/references/{second}.jpg").status_code == 200

    with world.ctx.db.session() as session:  # a row from before the column: today's fallback
        for finding in session.scalars(select(Finding)):
            finding.reference_image_id = None
    html = client.get("/console/alerts").text
    assert "Best-matching reference" not in html
    assert html.count(f"/talents/{ada}/references/{first}.jpg") == 2


def test_same_person_confirms_a_possible_match_and_keeps_it_in_the_history(
    world: ConsoleWorld,
) -> None:
    scanned = scan_bytes(world, lookalike_photo(7))
    (face,) = scanned["faces"]
    assert face["band"] == "possible", face
    alert = _one_alert(world)
    assert alert["band"] == "possible" and alert["needs_review"] is True

    response = _review(world, alert["id"], "same_person", note="her mole, left cheek")
    assert response.status_code == 200, response.text
    assert response.json()["needs_review"] is False
    assert response.json()["status"] == "open"  # proceeds as a confirmed match
    history = world.client.get(
        f"/v1/alerts/{alert['id']}/history", headers=bearer(world, "agency")
    ).json()
    assert len(history) == 1
    entry = history[0]
    assert entry["action"] == "review_same_person"
    assert (entry["from_status"], entry["to_status"]) == ("open", "open")
    assert entry["note"] == "her mole, left cheek"
    assert entry["key_prefix"] == world.keys["agency"][:10] and entry["user_email"] is None
    assert entry["at"]


def test_not_the_same_person_is_remembered_so_the_same_image_does_not_come_back(
    world: ConsoleWorld,
) -> None:
    photo = lookalike_photo(7)
    scan_bytes(world, photo)
    alert = _one_alert(world)
    response = _review(world, alert["id"], "not_same_person", note="a lookalike")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "dismissed_false_match"

    with world.ctx.db.session() as session:
        rejection = session.scalars(select(FaceRejection)).one()
        assert rejection.talent_id == world.talents["Ada Lovelace"]
        assert rejection.alert_id == alert["id"]
        assert all(0 <= v <= 1 for v in rejection.box)
    columns = {c["name"] for c in inspect(world.ctx.db.engine).get_columns("face_rejections")}
    assert not {"embedding", "vector"} & columns  # fingerprints and a box, no embedding

    for again in (photo, _same_image_other_bytes(photo)):  # same bytes; same pHash
        (face,) = scan_bytes(world, again, publisher="other.example")["faces"]
        assert face["talent"] is None and face["band"] == "none", face
        assert all(c["talent_id"] != world.talents["Ada Lovelace"] for c in face["candidates"])
    with world.ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 1
        assert session.scalar(select(Alert.sightings)) == 1

    other_photo = face_photo([(7, 60)], size=200, seed=3)  # another picture of her
    (face,) = scan_bytes(world, other_photo)["faces"]
    assert face["talent"]["id"] == world.talents["Ada Lovelace"]
    history = world.client.get(
        f"/v1/alerts/{alert['id']}/history", headers=bearer(world, "agency")
    ).json()
    assert [(h["action"], h["from_status"], h["to_status"], h["note"]) for h in history] == [
        ("review_not_same_person", "open", "dismissed_false_match", "a lookalike")
    ]


def test_review_applies_only_to_open_or_acknowledged_face_alerts(world: ConsoleWorld) -> None:
    scan_bytes(world, lookalike_photo(7))
    alert = _one_alert(world)
    assert _review(world, alert["id"], "not_same_person").status_code == 200
    again = _review(world, alert["id"], "same_person")
    assert again.status_code == 409 and again.json()["error"]["code"] == "review_not_allowed"
    assert _review(world, alert["id"], "maybe").status_code == 422


def test_another_agency_cannot_review_or_read_the_history(world: ConsoleWorld) -> None:
    scan_bytes(world, lookalike_photo(7))
    alert = _one_alert(world)
    assert _review(world, alert["id"], "not_same_person", who="other_agency").status_code == 404
    assert (
        world.client.get(
            f"/v1/alerts/{alert['id']}/history", headers=bearer(world, "other_agency")
        ).status_code
        == 404
    )
    assert (
        world.client.get(
            f"/v1/alerts/{alert['id']}/history", headers=bearer(world, "monitor")
        ).status_code
        == 403
    )
    other = signed_in(world, "other_agency")
    assert other.get(f"/console/alerts/{alert['id']}/review").status_code == 404
    response = other.post(
        f"/console/alerts/{alert['id']}/review",
        data={"decision": "not_same_person", "csrf": csrf_of(other)},
    )
    assert response.status_code == 404
    assert _one_alert(world)["status"] == "open"
    with world.ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(FaceRejection)) == 0


def test_erasing_the_talent_removes_the_rejections(world: ConsoleWorld) -> None:
    scan_bytes(world, lookalike_photo(7))
    assert _review(world, _one_alert(world)["id"], "not_same_person").status_code == 200
    ada = world.talents["Ada Lovelace"]
    response = world.client.delete(f"/v1/talents/{ada}", headers=bearer(world, "agency"))
    assert response.status_code == 200, response.text
    with world.ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(FaceRejection)) == 0


def test_the_review_page_shows_both_photos_and_takes_the_decision(world: ConsoleWorld) -> None:
    scan_bytes(world, lookalike_photo(7))
    alert = _one_alert(world)
    ada = world.talents["Ada Lovelace"]
    (reference,) = _references(world, ada)
    client = signed_in(world, "agency")
    inbox = client.get("/console/alerts").text
    assert f'href="/console/alerts/{alert["id"]}/review"' in inbox
    assert "Review this possible match" in inbox
    html = client.get(f"/console/alerts/{alert['id']}/review").text
    assert f'src="/console/alerts/{alert["id"]}/face.jpg"' in html
    assert f'src="/console/talents/{ada}/references/{reference}.jpg"' in html
    assert "Best-matching reference" in html
    assert 'value="same_person"' in html and 'value="not_same_person"' in html
    for image in (
        f"/console/alerts/{alert['id']}/face.jpg",
        f"/console/talents/{ada}/references/{reference}.jpg",
    ):
        response = client.get(image)
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"

    assert (
        client.post(
            f"/console/alerts/{alert['id']}/review", data={"decision": "not_same_person"}
        ).status_code
        == 403
    )  # no CSRF token
    response = client.post(
        f"/console/alerts/{alert['id']}/review",
        data={"decision": "not_same_person", "note": "not her", "csrf": csrf_of(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert (
        world.client.get("/v1/alerts?status=open", headers=bearer(world, "agency")).json()["total"]
        == 0
    )
    html = client.get(f"/console/alerts/{alert['id']}/review").text
    assert "reviewed: not the same person, open → dismissed false match (“not her”)" in html
    assert "there is nothing to review" in html
    inbox = client.get("/console/alerts?status=").text
    assert "booker@demo.example reviewed: not the same person" in inbox


def test_the_inbox_filters_the_alerts_that_need_review(world: ConsoleWorld) -> None:
    scan_bytes(world, lookalike_photo(7), publisher="lookalike.example")
    world.scan(7, publisher="boutique.example")
    client = signed_in(world, "agency")
    waiting = client.get("/console/alerts?needs_review=true").text
    assert "lookalike.example" in waiting and "boutique.example" not in waiting
    assert '<option value="true" selected>yes</option>' in waiting
    others = client.get("/console/alerts?needs_review=false").text
    assert "boutique.example" in others and "lookalike.example" not in others
    assert client.get("/console/alerts?needs_review=perhaps").status_code == 422
