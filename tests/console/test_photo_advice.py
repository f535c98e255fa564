"""Reference photos in plain words (issue 18, finding 7): each refused photo says what is wrong
and how to fix it, a talent with no usable photo is not listed as active, and the talent's page
asks for three or more varied photos."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.console import ConsoleWorld, console_world, sign_in
from tests.support.fakes import face_photo

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
NOT_FINDABLE = "cannot be found yet — add a reference photo"
NUDGE = "Three or more varied photos find a talent far more reliably than one"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path) as built:
        yield built


def _agency(world: ConsoleWorld) -> TestClient:
    client = TestClient(world.client.app)
    assert sign_in(client, world.email("agency")).status_code == 303
    return client


def _upload(client: TestClient, talent: int, files: list[tuple[str, bytes]]) -> str:
    match = CSRF_FIELD.search(client.get(f"/console/talents/{talent}").text)
    assert match is not None
    response = client.post(
        f"/console/talents/{talent}/photos",
        data={"csrf": match.group(1)},
        files=[("files", (name, data, "image/png")) for name, data in files],
    )
    assert response.status_code == 200, response.text
    return str(response.text)


def _outcome(html: str, name: str) -> str:
    found = re.search(
        rf"<li class=\"rejected\"><strong>{re.escape(name)}</strong>(.*?)</li>\s*"
        r"(?:<li class=|</ul>\s*</section>)",
        html,
        re.S,
    )
    assert found is not None, html
    return found.group(1)


def test_each_refused_photo_says_what_is_wrong_and_how_to_fix_it(world: ConsoleWorld) -> None:
    client = _agency(world)
    html = _upload(
        client,
        world.talents["Ada Lovelace"],
        [
            ("small.png", face_photo([(7, 59)], size=150, seed=20)),
            ("nobody.png", face_photo([], size=200, seed=21)),
            ("group.png", face_photo([(7, 100), (9, 100)], size=200, seed=22)),
        ],
    )
    small = _outcome(html, "small.png")
    assert (
        "The face is small (59 px wide): use a photo where the face is at least 64 px wide, "
        "such as a closer crop or a larger original." in small
    )
    assert "Details:" in small and "face 59 px" in small  # the figures stay, second
    assert small.index("The face is small") < small.index("Details:")
    assert "No face was found: use a photo where the talent&#39;s face is clearly visible" in (
        _outcome(html, "nobody.png")
    )
    assert (
        "The photo shows 2 faces of similar size: use a photo of the talent alone, or crop it "
        "so that only the talent&#39;s face remains." in _outcome(html, "group.png")
    )


def test_a_talent_without_a_usable_photo_is_not_listed_as_active(world: ConsoleWorld) -> None:
    client = _agency(world)
    agency_id = world.ctx.registry.ensure_agency(name="Demo Agency").id
    talent, _ = world.ctx.registry.ensure_talent(agency_id=agency_id, name="Mia Berg")
    _upload(client, talent.id, [("tiny.png", face_photo([(11, 20)], size=200, seed=5))])

    rows = {
        name: row
        for row, name in re.findall(
            r"(<tr><td><a href=\"[^\"]+\">([^<]+)</a>.*?</tr>)",
            client.get("/console/talents").text,
            re.S,
        )
    }
    assert NOT_FINDABLE in rows["Mia Berg"] and "active" not in rows["Mia Berg"]
    assert NOT_FINDABLE not in rows["Ada Lovelace"] and "active" in rows["Ada Lovelace"]
    page = client.get(f"/console/talents/{talent.id}").text
    assert NOT_FINDABLE in page
    assert NOT_FINDABLE not in client.get(f"/console/talents/{world.talents['Ada Lovelace']}").text


def test_the_page_asks_for_more_photos_until_there_are_three(world: ConsoleWorld) -> None:
    client = _agency(world)
    talent = world.talents["Ada Lovelace"]  # one reference photo
    assert NUDGE in client.get(f"/console/talents/{talent}").text
    html = _upload(
        client, talent, [(f"more{seed}.png", face_photo([(7, 120)], seed=seed)) for seed in (2,)]
    )
    assert "Reference photos (2)" in html and NUDGE in html
    html = _upload(client, talent, [("third.png", face_photo([(7, 110)], seed=3))])
    assert "Reference photos (3)" in html and NUDGE not in html
