"""Review with the real model pack on a real photo: "not the same person" keeps that face
from matching that talent when the same image comes back, as the same bytes, re-encoded
or resized; every other face of the photo still matches, and the finding names the
reference photo that matched best."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
from sqlalchemy import select

from indexer.db import ReferenceImage
from indexer.engine import FaceEngine
from indexer.imaging import decode_image
from service.core.tables.scanning import Finding
from tests.support.service import ServiceWorld, jpeg_bytes, service_world

pytestmark = pytest.mark.model
TALENT = "Demo Talent D"


@pytest.fixture
def world(tmp_path: Path, real_engine: FaceEngine) -> Iterator[ServiceWorld]:
    with service_world(tmp_path, real_engine) as built:
        yield built


def _scan(world: ServiceWorld, data: bytes, page: str) -> dict[str, Any]:
    response = world.client.post(
        "/v1/scans",
        headers=world.auth("monitor"),
        files={"file": ("seen.jpg", data)},
        data={
            "page_url": f"https://knockoff.example.net{page}",
            "channel": "ecommerce",
            "territory": "US",
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _matched(scan: dict[str, Any]) -> dict[int, int]:
    """talent id -> face index, for every face given a talent."""
    return {face["talent"]["id"]: face["index"] for face in scan["faces"] if face["talent"]}


def test_not_the_same_person_keeps_that_face_away_from_that_talent_on_a_real_photo(
    world: ServiceWorld,
) -> None:
    talent_id = world.talents[TALENT]
    first = _scan(world, world.group_photo, "/p/1")
    matched = _matched(first)
    assert set(matched) == set(world.talents.values())  # all six demo talents
    with world.ctx.db.session() as session:  # the finding names the photo that matched
        finding = session.scalars(
            select(Finding).where(Finding.scan_id == first["id"], Finding.talent_id == talent_id)
        ).one()
        (reference,) = session.scalars(
            select(ReferenceImage.id).where(ReferenceImage.talent_id == talent_id)
        )
        assert finding.reference_image_id == reference

    alerts = world.client.get(
        f"/v1/alerts?talent_id={talent_id}", headers=world.auth("agency")
    ).json()["items"]
    alert_id = alerts[0]["id"]
    response = world.client.post(
        f"/v1/alerts/{alert_id}/review",
        headers=world.auth("agency"),
        json={"decision": "not_same_person"},
    )
    assert response.status_code == 200, response.text

    decoded = decode_image(world.group_photo, max_pixels=10**8).bgr
    smaller = cv2.resize(decoded, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
    copies = {
        "same bytes": world.group_photo,
        "re-encoded": jpeg_bytes(decoded, 85),
        "resized": jpeg_bytes(smaller, 90),
    }
    for number, (what, data) in enumerate(copies.items(), start=2):
        scan = _scan(world, data, f"/p/{number}")
        again = _matched(scan)
        assert talent_id not in again, what
        assert set(again) == set(world.talents.values()) - {talent_id}, what
        face = scan["faces"][matched[talent_id]]
        assert face["talent"] is None, (what, face)
    alert = world.client.get(f"/v1/alerts/{alert_id}", headers=world.auth("agency")).json()
    assert alert["status"] == "dismissed_false_match" and alert["sightings"] == 1
