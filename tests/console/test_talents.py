"""An agency's booker adds a talent in the console (issue 18, first finding): name, external
id and reference photos in one form, the quality gate's verdict per photo, once however often
the form is sent; bad input stays on the form with the field marked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.console.test_pages import browser, page_csrf
from tests.support.console import ConsoleWorld, console_world
from tests.support.fakes import face_photo

FIELDS = re.compile(r'name="(csrf|once)" value="([^"]+)"')


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path) as built:
        yield built


def _form_tokens(client: TestClient) -> dict[str, str]:
    page = client.get("/console/talents/new")
    assert page.status_code == 200
    return dict(FIELDS.findall(page.text))


def _talent_names(world: ConsoleWorld, who: str = "agency") -> list[str]:
    response = world.client.get(
        "/v1/talents", headers={"Authorization": f"Bearer {world.keys[who]}"}
    )
    return [talent["name"] for talent in response.json()["items"]]


def test_an_agency_adds_a_talent_with_photos_and_sees_each_photos_verdict(
    world: ConsoleWorld,
) -> None:
    client = browser(world, "agency")
    assert 'href="/console/talents/new"' in client.get("/console/talents").text
    response = client.post(
        "/console/talents",
        data={**_form_tokens(client), "name": "Ines Moreau", "external_id": "AG-2291"},
        files=[
            ("files", ("front.png", face_photo([(11, 120)], size=200, seed=4), "image/png")),
            ("files", ("tiny.png", face_photo([(11, 20)], size=200, seed=5), "image/png")),
        ],
    )
    assert response.status_code == 201, response.text
    assert "<h1>Ines Moreau</h1>" in response.text and "AG-2291" in response.text
    outcomes = re.findall(
        r'<li class="(accepted|rejected)"><strong>([^<]+)</strong>', response.text
    )
    assert outcomes == [("accepted", "front.png"), ("rejected", "tiny.png")]
    assert "Reference photos (1)" in response.text
    assert "Ines Moreau" in _talent_names(world)
    assert "Ines Moreau" not in _talent_names(world, "other_agency")


def test_the_same_add_talent_form_sent_twice_adds_one_talent(world: ConsoleWorld) -> None:
    client = browser(world, "agency")
    form = {**_form_tokens(client), "name": "Twice Sent", "external_id": ""}
    first = client.post("/console/talents", data=form)
    second = client.post("/console/talents", data=form, follow_redirects=False)
    assert first.status_code == 201
    assert second.status_code == 303
    assert second.headers["location"].startswith("/console/talents/")
    assert _talent_names(world).count("Twice Sent") == 1


@pytest.mark.parametrize(
    ("name", "problem"),
    [("", "name"), ("   ", "name"), ("x" * 201, "name"), ("Bad\x07Name", "name")],
)
def test_a_bad_name_keeps_the_booker_on_the_form_with_the_field_marked(
    world: ConsoleWorld, name: str, problem: str
) -> None:
    client = browser(world, "agency")
    response = client.post(
        "/console/talents", data={**_form_tokens(client), "name": name, "external_id": "E-1"}
    )
    assert response.status_code == 422, response.text
    assert f'id="{problem}" name="{problem}"' in response.text
    assert 'aria-invalid="true"' in response.text and "was not added" in response.text
    assert 'value="E-1"' in response.text  # what was typed stays
    assert len(_talent_names(world)) == 1


def test_an_external_id_already_used_in_the_agency_is_shown_on_its_field(
    world: ConsoleWorld,
) -> None:
    client = browser(world, "agency")
    for expected in (201, 409):
        response = client.post(
            "/console/talents",
            data={**_form_tokens(client), "name": "Same Id", "external_id": "AG-1"},
        )
        assert response.status_code == expected, response.text
    assert 'aria-describedby="external_id-error"' in response.text
    assert _talent_names(world).count("Same Id") == 1


def test_only_agencies_add_talents_in_the_console(world: ConsoleWorld) -> None:
    for who in ("brand", "monitor"):
        client = browser(world, who)
        assert client.get("/console/talents/new").status_code == 403
        csrf = page_csrf(client)  # their own session's token: the refusal is the role's
        response = client.post("/console/talents", data={"csrf": csrf, "name": "Not Theirs"})
        assert response.status_code == 403
        assert "forbidden" in response.text
    assert "Not Theirs" not in _talent_names(world)


def test_more_photos_than_a_batch_holds_are_refused_on_the_form(world: ConsoleWorld) -> None:
    world.ctx.settings.max_batch_items = 2
    client = browser(world, "agency")
    photos = [
        ("files", (f"p{n}.png", face_photo([(11, 120)], size=200, seed=n), "image/png"))
        for n in range(3)
    ]
    response = client.post(
        "/console/talents", data={**_form_tokens(client), "name": "Too Many"}, files=photos
    )
    assert response.status_code == 422, response.text
    assert 'aria-describedby="files-error"' in response.text and "At most 2 files" in response.text
    assert "Too Many" not in _talent_names(world)
