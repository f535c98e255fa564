"""Portfolios and derived images through the HTTP API (issue 22), real models and real
scene photos: only the talent's agency manages her portfolio, a monitor's scan of a cropped
and recoloured copy answers with ``derived_from`` (which image, how much of it), another
photo of the same shoot is not a copy, and erasing the talent leaves no portfolio trace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from indexer.blobs.layout import PORTFOLIO
from indexer.copies.tables import PortfolioImage
from indexer.engine import FaceEngine
from service.core.tables.scanning import DerivedFinding
from tests.support import copies as edits
from tests.support.service import ServiceWorld, service_world

pytestmark = [pytest.mark.model, pytest.mark.shared_faces]

TALENT = "Demo Talent C"
ORIGINAL = "scenes/Jack/img17.jpg"
SAME_SHOOT = "scenes/Jack/img16.jpg"


@pytest.fixture
def world(tmp_path: Path, real_engine: FaceEngine) -> Iterator[ServiceWorld]:
    with service_world(tmp_path, real_engine) as built:
        yield built


def upload(world: ServiceWorld, who: str, *files: tuple[str, bytes]) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = world.client.post(
        f"/v1/talents/{world.talents[TALENT]}/portfolio",
        files=[("files", f) for f in files],
        headers=world.auth(who),
    )
    return response.status_code, response.json()


def scan(world: ServiceWorld, data: bytes) -> dict:  # type: ignore[type-arg]
    response = world.client.post(
        "/v1/scans",
        files={"file": ("image.jpg", data)},
        data={"publisher": "shop.example.net", "channel": "ecommerce", "territory": "SE"},
        headers=world.auth("monitor"),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_only_the_agency_manages_the_portfolio_and_bad_files_are_refused_not_500(
    world: ServiceWorld, shared_faces: Path
) -> None:
    original = (shared_faces / ORIGINAL).read_bytes()
    assert upload(world, "monitor", ("a.jpg", original))[0] == 403
    assert upload(world, "other_agency", ("a.jpg", original))[0] == 404
    status, body = upload(world, "agency", ("a.jpg", original), ("notes.jpg", b"not an image"))
    assert status == 200, body
    good, bad = body["files"]
    assert good["accepted"] and good["image_id"] is not None
    assert not bad["accepted"] and bad["reason"]
    status, again = upload(world, "agency", ("copy-of-a.jpg", original))
    assert again["files"][0]["already_registered"]
    too_many = [(f"{n}.jpg", b"x") for n in range(world.ctx.settings.max_batch_items + 1)]
    status, body = upload(world, "agency", *too_many)
    assert status in (400, 422) and body["error"]["code"] == "invalid_request"

    listed = world.client.get(
        f"/v1/talents/{world.talents[TALENT]}/portfolio", headers=world.auth("agency")
    ).json()
    assert [i["id"] for i in listed["items"]] == [good["image_id"]]
    hidden = world.client.get(
        f"/v1/talents/{world.talents[TALENT]}/portfolio", headers=world.auth("other_agency")
    )
    assert hidden.status_code == 404
    gone = world.client.delete(
        f"/v1/talents/{world.talents[TALENT]}/portfolio/{good['image_id']}",
        headers=world.auth("other_agency"),
    )
    assert gone.status_code == 404


def test_scan_of_a_cropped_recoloured_copy_names_the_portfolio_image_until_erasure(
    world: ServiceWorld, shared_faces: Path, real_engine: FaceEngine
) -> None:
    original_bytes = (shared_faces / ORIGINAL).read_bytes()
    _, body = upload(world, "agency", ("campaign.jpg", original_bytes))
    image_id = body["files"][0]["image_id"]
    original = edits.decode(original_bytes)
    centre = edits.face_centre(edits.largest_face(real_engine, original), original)
    copy = edits.jpeg(edits.recolour(edits.crop_area(original, 0.5, centre)), 70)

    (derived,) = scan(world, copy)["image"]["derived_from"]
    assert derived["talent"]["name"] == TALENT
    assert derived["portfolio_image"] == image_id
    assert derived["area_share"] == pytest.approx(0.5, abs=0.06)
    assert not derived["face_replaced"]
    assert scan(world, (shared_faces / SAME_SHOOT).read_bytes())["image"]["derived_from"] == []

    erased = world.client.delete(
        f"/v1/talents/{world.talents[TALENT]}", headers=world.auth("agency")
    )
    assert erased.status_code == 200, erased.text
    assert scan(world, copy)["image"]["derived_from"] == []
    assert not list(world.ctx.blobs.list(f"{PORTFOLIO}/"))
    with world.ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(PortfolioImage)) == 0
        assert session.scalar(select(func.count()).select_from(DerivedFinding)) == 0
    assert world.ctx.copies.index.images == 0
