"""A brand's pre-check shows the asset with a numbered box on each face, numbered as the list
of faces; the reduced picture is held in memory only, for the brand that uploaded it, and
once it is gone the boxes stand on a blank frame; a talent not cleared comes with its agency's
name, and the form keeps the intended use after a check."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.console.previews import Previews
from tests.support.console import ConsoleWorld, console_world, sign_in
from tests.support.fakes import face_photo

ADA, GRACE = 7, 9
MARK = re.compile(
    r'<g class="face-mark" data-face="(\d)">\s*<rect class="face-box-halo" x="([\d.]+)"'
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path) as built:
        yield built


def _person(world: ConsoleWorld, who: str) -> TestClient:
    client = TestClient(world.client.app)
    assert sign_in(client, world.email(who)).status_code == 303
    return client


def _two_faces(client: TestClient) -> tuple[int, str]:
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/account").text)
    assert csrf is not None
    image = face_photo([(ADA, 90), (GRACE, 90)], size=130, seed=5)
    response = client.post(
        "/console/prechecks",
        files=[("files", ("two.png", image))],
        data={
            "csrf": csrf.group(1),
            "publisher": "hm.com",
            "channel": "social",
            "territory": "FR",
            "medium": "photo",
        },
    )
    assert response.status_code == 200, response.text
    found = re.search(r'href="/console/prechecks/(\d+)"', response.text)
    assert found is not None
    return int(found.group(1)), response.text


def _rows(html: str) -> dict[int, str]:
    rows = re.findall(r'<tr class="face-row" id="precheck-\d+-face-(\d)">(.*?)</tr>', html, re.S)
    return {int(number): text for number, text in rows}


def test_each_face_is_boxed_and_numbered_as_in_the_list(world: ConsoleWorld) -> None:
    licensed = world.client.post(
        f"/v1/talents/{world.talents['Ada Lovelace']}/licences",
        headers={"Authorization": f"Bearer {world.keys['agency']}"},
        json={
            "licensee_brand_id": 1,
            "publishers": ["hm.com"],
            "media": ["photo"],
            "valid_from": "2020-01-01",
        },
    )
    assert licensed.status_code == 201 and licensed.json()["licensee"] == "H&M", licensed.text
    desk = _person(world, "brand")
    precheck_id, html = _two_faces(desk)
    marks = {int(n): float(x) for n, x in MARK.findall(html)}
    rows = _rows(html)
    assert set(marks) == set(rows) == {1, 2}
    ada = next(n for n, text in rows.items() if "Ada Lovelace" in text)
    grace = next(n for n, text in rows.items() if "Grace Hopper" in text)
    assert marks[ada] < marks[grace]  # Ada's face is the left one
    assert "contact the talent's agency: <strong>Other Agency</strong>" in rows[grace]
    assert "cleared</span>" in rows[ada] and "not cleared" not in rows[ada]
    assert "contact" not in rows[ada]  # cleared: nobody to ask
    assert f'<image href="/console/prechecks/{precheck_id}/preview.jpg"' in html
    assert 'value="hm.com"' in html  # the form keeps the intended use
    assert '<option value="social" selected>' in html and '<option value="FR" selected>' in html
    assert '<option value="photo" selected>' in html

    picture = desk.get(f"/console/prechecks/{precheck_id}/preview.jpg")
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    assert picture.content[:2] == b"\xff\xd8" and "no-store" in picture.headers["cache-control"]
    assert (
        _person(world, "agency").get(f"/console/prechecks/{precheck_id}/preview.jpg").status_code
        == 403
    )
    assert desk.get("/console/prechecks/999999/preview.jpg").status_code == 404


def test_once_the_picture_is_gone_the_boxes_stand_on_a_blank_frame(world: ConsoleWorld) -> None:
    desk = _person(world, "brand")
    precheck_id, _ = _two_faces(desk)
    app = world.client.app
    assert isinstance(app, FastAPI)
    app.state.console_previews = Previews()  # another process, or later
    page = desk.get(f"/console/prechecks/{precheck_id}").text
    assert len(MARK.findall(page)) == 2 and "<image" not in page
    assert "twinwatch does not keep the picture" in page
    missing = desk.get(f"/console/prechecks/{precheck_id}/preview.jpg")
    assert missing.status_code == 404 and "pre-check it again" in missing.text


def test_previews_are_bounded_in_number_and_time() -> None:
    store = Previews(capacity=2, kept_for=60)
    for n in range(3):
        store.put(1, f"sha{n}", b"jpeg%d" % n)
    assert store.get(1, "sha0") is None and store.get(1, "sha2") == b"jpeg2"
    assert store.get(2, "sha2") is None  # another brand never gets it
    brief = Previews(kept_for=0.01)
    brief.put(1, "sha", b"jpeg")
    time.sleep(0.05)
    assert brief.get(1, "sha") is None
