"""The agency's licence pages over HTTP: create and edit with pickers (the API's own body
and service functions: one copy of each rule), errors shown beside their fields, revoke
with a reason, usage and the amount owed; another agency sees none of it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.core.tables.licensing import Licence
from tests.support.agency import agency_world, bearer, csrf_of, signed_in
from tests.support.console import ConsoleWorld
from tests.support.fakes import face_photo

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with agency_world(tmp_path) as built:
        yield built


def _form(world: ConsoleWorld, client: TestClient, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "csrf": csrf_of(client),
        "talent_id": str(world.talents["Ada Lovelace"]),
        "licensee": "H&M",
        "publishers": "shop.example\ninstagram.com/hm",
        "channels": ["ecommerce", "social"],
        "territory_groups": ["EU"],
        "countries": ["GB", "NO"],
        "media": ["photo"],
        "ai_label_required": "on",
        "asset_scope": "any_image",
        "valid_from": "2020-01-01",
        "valid_until": "2099-12-31",
        "flat_fee": "1000.00",
        "per_use": "2.50",
        "currency": "EUR",
    }
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def _licences(world: ConsoleWorld) -> int:
    with world.ctx.db.session() as session:
        return session.scalar(select(func.count()).select_from(Licence)) or 0


def _create(world: ConsoleWorld, client: TestClient, **changes: Any) -> int:
    response = client.post(
        "/console/licences", data=_form(world, client, **changes), follow_redirects=False
    )
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/console/licences/(\d+)", response.headers["location"])
    assert match is not None
    return int(match.group(1))


def _scan(
    world: ConsoleWorld, *, seed: int, publisher: str = "shop.example", territory: str = "SE"
) -> dict[str, Any]:
    response = world.client.post(
        "/v1/scans",
        headers=bearer(world, "monitor"),
        files={"file": ("seen.png", face_photo([(7, 90)], size=130, seed=seed))},
        data={
            "page_url": f"https://{publisher}/look/{seed}",
            "publisher": publisher,
            "channel": "ecommerce",
            "territory": territory,
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_the_form_offers_the_closed_vocabularies_and_dates_as_dates(world: ConsoleWorld) -> None:
    client = signed_in(world, "agency")
    html = client.get(f"/console/licences/new?talent_id={world.talents['Ada Lovelace']}").text
    for value in (
        "*",
        "social",
        "ecommerce",
        "print",
        "outdoor",
        "video",
        "editorial",
        "advertising",
    ):
        assert f'name="channels" value="{value}"' in html
    for group in ("EU", "EEA", "WORLD"):
        assert f'name="territory_groups" value="{group}"' in html
    assert '<option value="FR" >France (FR)</option>' in html
    assert 'name="media" value="ai_replica"' in html
    assert 'name="asset_scope" value="approved_assets"' in html
    assert 'id="valid_from" name="valid_from" type="date"' in html
    assert "Grace Hopper" not in html  # another agency's talent is never offered


def test_an_agency_records_a_licence_through_the_form_as_the_api_would(world: ConsoleWorld) -> None:
    client = signed_in(world, "agency")
    licence_id = _create(world, client)
    licence = world.client.get(f"/v1/licences/{licence_id}", headers=bearer(world, "agency")).json()
    assert licence["licensee"] == "H&M"
    assert licence["publishers"] == ["shop.example", "instagram.com/hm"]
    assert licence["channels"] == ["ecommerce", "social"]
    assert licence["territories"] == ["EU", "GB", "NO"]
    assert licence["media"] == ["photo"] and licence["ai_label_required"] is True
    assert licence["valid_from"].startswith("2020-01-01T00:00:00")
    assert licence["valid_until"].startswith("2100-01-01T00:00:00")  # all of 31 Dec 2099
    assert licence["compensation"] == {"flat_fee": "1000.00", "per_use": "2.50", "currency": "EUR"}
    html = client.get("/console/licences").text
    assert f'href="/console/licences/{licence_id}"' in html and "H&amp;M" in html


def test_a_licence_end_shows_as_its_last_day(world: ConsoleWorld) -> None:
    client = signed_in(world, "agency")
    licence_id = _create(world, client, valid_until="2027-05-31")
    html = client.get(f"/console/licences/{licence_id}").text
    assert "until 31 May 2027 (last day)" in html
    assert "2027-06-01" not in html and "(exclusive)" not in html
    listing = client.get("/console/licences").text
    assert "31 May 2027 (last day)" in listing and "2027-06-01" not in listing
    form = client.get(f"/console/licences/{licence_id}/edit").text
    assert 'value="2027-05-31"' in form  # the form keeps the day as picked


def test_amounts_take_a_decimal_comma_and_a_non_number_gets_a_plain_hint(
    world: ConsoleWorld,
) -> None:
    client = signed_in(world, "agency")
    licence_id = _create(world, client, flat_fee="40,00", per_use="2,5")
    licence = world.client.get(f"/v1/licences/{licence_id}", headers=bearer(world, "agency")).json()
    assert licence["compensation"]["flat_fee"] == "40.00"
    assert licence["compensation"]["per_use"] == "2.50"
    before = _licences(world)
    response = client.post("/console/licences", data=_form(world, client, flat_fee="forty"))
    assert response.status_code == 422
    assert (
        '<p class="field-error" id="flat_fee-error">Write an amount like 40.00</p>' in response.text
    )
    assert "valid decimal" not in response.text
    assert 'value="forty"' in response.text
    assert _licences(world) == before


def test_validation_errors_are_shown_beside_their_fields_and_nothing_is_saved(
    world: ConsoleWorld,
) -> None:
    client = signed_in(world, "agency")
    response = client.post(
        "/console/licences",
        data=_form(
            world,
            client,
            media=None,
            currency="EUROS",
            per_use="2.505",
            channels=["bogus"],
            countries=["XX"],
            licensee="",
        ),
    )
    assert response.status_code == 422
    html = response.text
    for name in ("media", "currency", "per_use", "channels", "territories", "licensee"):
        assert f'<p class="field-error" id="{name}-error">' in html, name
    assert "unknown channel &#39;bogus&#39;" in html
    assert "&#39;XX&#39; is not an ISO 3166-1 alpha-2 country code" in html
    assert 'value="2.505"' in html  # what was typed is kept
    response = client.post(
        "/console/licences",
        data=_form(  # the service's own rule
            world, client, valid_from="2026-06-01", valid_until="2026-05-01"
        ),
    )
    assert response.status_code == 422
    assert (
        '<p class="field-error" id="valid_until-error">valid_until must be after '
        "valid_from.</p>" in response.text
    )
    response = client.post("/console/licences", data=_form(world, client, publishers="http://[::1"))
    assert response.status_code == 422 and 'id="publishers-error"' in response.text
    assert _licences(world) == 0


def test_editing_changes_the_terms_and_a_licence_turns_the_next_sighting_licensed(
    world: ConsoleWorld,
) -> None:
    client = signed_in(world, "agency")
    licence_id = _create(world, client, territory_groups=None, countries=["FR"])
    (face,) = _scan(world, seed=3, territory="SE")["faces"]
    assert face["licence"]["verdict"] == "unlicensed"

    html = client.get(f"/console/licences/{licence_id}/edit").text
    assert 'value="2099-12-31"' in html and '<option value="FR" selected>' in html
    response = client.post(
        f"/console/licences/{licence_id}/edit",
        data=_form(world, client, territory_groups=["EU"], countries=None),
        follow_redirects=False,
    )
    assert response.status_code == 303
    (face,) = _scan(world, seed=4, territory="SE")["faces"]
    assert face["licence"]["verdict"] == "licensed"
    _scan(world, seed=5, territory="DE")

    html = client.get(f"/console/licences/{licence_id}").text
    assert "2 uses: 5.00 EUR owed at 2.50 per use, plus the flat fee of 1000.00 EUR (owed" in html
    assert "1005.00 EUR in all." in html
    assert html.count("shop.example</td>") == 2


def test_revoking_takes_a_reason_and_a_revoked_licence_is_final(world: ConsoleWorld) -> None:
    client = signed_in(world, "agency")
    licence_id = _create(world, client)
    response = client.post(
        f"/console/licences/{licence_id}/revoke", data={"reason": "  ", "csrf": csrf_of(client)}
    )
    assert response.status_code == 422
    response = client.post(
        f"/console/licences/{licence_id}/revoke",
        data={"reason": "AI ad without the label", "csrf": csrf_of(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    html = client.get(f"/console/licences/{licence_id}").text
    assert "AI ad without the label" in html and "Edit the terms" not in html
    response = client.post(f"/console/licences/{licence_id}/edit", data=_form(world, client))
    assert response.status_code == 409 and "licence_revoked" in response.text
    api = world.client.put(
        f"/v1/licences/{licence_id}",
        headers=bearer(world, "agency"),
        json={
            "licensee": "H&M",
            "publishers": ["shop.example"],
            "media": ["photo"],
            "valid_from": "2020-01-01",
        },
    )
    assert api.status_code == 409 and api.json()["error"]["code"] == "licence_revoked"


def test_the_api_updates_terms_with_the_same_validation(world: ConsoleWorld) -> None:
    client = signed_in(world, "agency")
    licence_id = _create(world, client)
    url, headers = f"/v1/licences/{licence_id}", bearer(world, "agency")
    body = {
        "licensee": "H&M",
        "publishers": ["hm.com"],
        "media": ["photo"],
        "territories": ["EEA"],
        "valid_from": "2026-01-01",
    }
    response = world.client.put(url, headers=headers, json=body)
    assert response.status_code == 200, response.text
    assert response.json()["territories"] == ["EEA"] and response.json()["compensation"] is None
    bad = world.client.put(url, headers=headers, json={**body, "channels": ["fax"]})
    assert bad.status_code == 422
    assert (
        world.client.put(url, headers=bearer(world, "other_agency"), json=body).status_code == 404
    )


def test_another_agency_gets_404_for_every_licence_page(world: ConsoleWorld) -> None:
    licence_id = _create(world, signed_in(world, "agency"))
    other = signed_in(world, "other_agency")
    assert "H&amp;M" not in other.get("/console/licences").text
    for path in (f"/console/licences/{licence_id}", f"/console/licences/{licence_id}/edit"):
        assert other.get(path).status_code == 404, path
    csrf = csrf_of(other)
    assert (
        other.post(
            f"/console/licences/{licence_id}/revoke", data={"reason": "mine now", "csrf": csrf}
        ).status_code
        == 404
    )
    assert (
        other.post(f"/console/licences/{licence_id}/edit", data=_form(world, other)).status_code
        == 404
    )
    response = other.post("/console/licences", data=_form(world, other))  # their talent? no
    assert response.status_code == 404
    assert _licences(world) == 1
    assert (
        other.get(f"/console/licences?talent_id={world.talents['Ada Lovelace']}").status_code == 404
    )
    monitor = signed_in(world, "monitor")
    assert monitor.get("/console/licences").status_code == 403


def test_approved_assets_are_added_and_removed_on_the_licence_page(world: ConsoleWorld) -> None:
    client = signed_in(world, "agency")
    licence_id = _create(world, client, asset_scope="approved_assets")
    approved = face_photo([(7, 90)], size=130, seed=30)
    response = client.post(
        f"/console/licences/{licence_id}/assets",
        files={"file": ("campaign.png", approved)},
        data={"csrf": csrf_of(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    licence = world.client.get(f"/v1/licences/{licence_id}", headers=bearer(world, "agency")).json()
    (asset,) = licence["approved_assets"]
    html = client.get(f"/console/licences/{licence_id}").text
    assert "Approved assets (1)" in html and asset["sha256"][:16] in html

    def verdict(data: bytes, page: str) -> str:
        response = world.client.post(
            "/v1/scans",
            headers=bearer(world, "monitor"),
            files={"file": ("seen.png", data)},
            data={
                "page_url": f"https://shop.example{page}",
                "publisher": "shop.example",
                "channel": "ecommerce",
                "territory": "SE",
            },
        )
        (face,) = response.json()["faces"]
        return str(face["licence"]["verdict"])

    assert verdict(approved, "/campaign") == "licensed"
    assert verdict(face_photo([(7, 60)], size=200, seed=31), "/other") == "unlicensed"

    other = signed_in(world, "other_agency")
    assert (
        other.post(
            f"/console/licences/{licence_id}/assets",
            files={"file": ("x.png", approved)},
            data={"csrf": csrf_of(other)},
        ).status_code
        == 404
    )
    assert (
        other.post(
            f"/console/licences/{licence_id}/assets/{asset['id']}/remove",
            data={"csrf": csrf_of(other)},
        ).status_code
        == 404
    )
    response = client.post(
        f"/console/licences/{licence_id}/assets/{asset['id']}/remove",
        data={"csrf": csrf_of(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert (
        world.client.get(f"/v1/licences/{licence_id}", headers=bearer(world, "agency")).json()[
            "approved_assets"
        ]
        == []
    )
    response = client.post(
        f"/console/licences/{licence_id}/assets",
        files={"file": ("notes.txt", b"not an image")},
        data={"csrf": csrf_of(client)},
    )
    assert response.status_code == 415 and "image_type_unsupported" in response.text


def test_the_form_sets_the_alterations_a_licence_allows_in_plain_words(
    world: ConsoleWorld,
) -> None:
    client = signed_in(world, "agency")
    form = client.get("/console/licences/new").text
    assert 'name="alterations_allowed" value="none" checked' in form
    assert "Replacing her face is never allowed" in form
    plain = _create(world, client)
    retouched = _create(world, client, alterations_allowed="retouching")
    api = world.client.get(f"/v1/licences/{retouched}", headers=bearer(world, "agency")).json()
    assert api["alterations_allowed"] == "retouching"
    assert "retouching allowed" in client.get(f"/console/licences/{retouched}").text
    page = client.get(f"/console/licences/{plain}").text
    assert "only as delivered" in page and "replacing her face is never allowed" in page
    before = _licences(world)
    refused = client.post(
        "/console/licences", data=_form(world, client, alterations_allowed="face_swap")
    )
    assert refused.status_code == 422 and _licences(world) == before
    assert 'id="alterations_allowed-error"' in refused.text
