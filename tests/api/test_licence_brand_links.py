"""Licences point at brands (issue 18): a licence is to a brand on twinwatch, picked by id
(``licensee_brand_id``) or named exactly (ignoring case, spaces and punctuation), and a
brand's pre-check sees a licence through that link only, never through a look-alike name.
A name that is no brand leaves the licence unlinked, listed for its agency; the brand's
"My licences" page lists its own licences and nothing else.

Run on SQLite, and again on PostgreSQL by ``make test`` (scripts/with-postgres.sh)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service.core.tables.access import Brand
from tests.support.agency import bearer, signed_in
from tests.support.console import ConsoleWorld, console_world
from tests.support.fakes import face_photo

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`

ADA = 7
USE = {"publisher": "hm.com", "channel": "social", "territory": "FR"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path) as built:
        yield built


def _brand_id(world: ConsoleWorld, name: str) -> int:
    with world.ctx.db.session() as session:
        found = session.scalar(select(Brand.id).where(Brand.name == name))
    assert found is not None
    return found


def _terms(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "publishers": ["hm.com"],
        "channels": ["social"],
        "territories": ["FR"],
        "media": ["photo"],
        "valid_from": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
    }
    body.update(changes)
    return body


def _licence(world: ConsoleWorld, talent: str = "Ada Lovelace", **changes: Any) -> Any:
    return world.client.post(
        f"/v1/talents/{world.talents[talent]}/licences",
        headers=bearer(world, "agency" if talent == "Ada Lovelace" else "other_agency"),
        json=_terms(**changes),
    )


def _precheck(world: ConsoleWorld, seed: int, who: str = "brand") -> dict[str, Any]:
    response = world.client.post(
        "/v1/prechecks",
        headers=bearer(world, who),
        files={"file": ("look.png", face_photo([(ADA, 90)], size=130, seed=seed))},
        data=USE,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_licence_to_a_picked_brand_carries_its_id_and_takes_its_name(
    world: ConsoleWorld,
) -> None:
    hm = _brand_id(world, "H&M")
    picked = _licence(world, licensee_brand_id=hm)
    assert picked.status_code == 201, picked.text
    assert picked.json()["licensee"] == "H&M" and picked.json()["licensee_brand_id"] == hm
    legal = _licence(world, licensee_brand_id=hm, licensee="H & M Hennes & Mauritz AB")
    assert legal.json()["licensee"] == "H & M Hennes & Mauritz AB"
    assert legal.json()["licensee_brand_id"] == hm
    read = world.client.get(f"/v1/licences/{legal.json()['id']}", headers=bearer(world, "agency"))
    assert read.json()["licensee_brand_id"] == hm


def test_a_name_alone_links_to_the_brand_written_that_way_and_nothing_else(
    world: ConsoleWorld,
) -> None:
    hm = _brand_id(world, "H&M")
    assert _licence(world, licensee=" h & m ").json()["licensee_brand_id"] == hm
    assert _licence(world, licensee="H&M").json()["licensee_brand_id"] == hm
    assert _licence(world, licensee="H&M Group").json()["licensee_brand_id"] is None
    assert _licence(world, licensee="Atelier Nord SAS").json()["licensee_brand_id"] is None


def test_an_unknown_brand_or_no_licensee_at_all_is_refused_in_the_error_envelope(
    world: ConsoleWorld,
) -> None:
    unknown = _licence(world, licensee_brand_id=987654)
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "invalid_request"
    assert unknown.json()["error"]["details"]["field"] == "licensee_brand_id"
    for body in ({}, {"licensee": "   "}, {"licensee_brand_id": 0}, {"licensee_brand_id": "x"}):
        refused = _licence(world, **body)
        assert refused.status_code == 422, (body, refused.text)
        assert "error" in refused.json()


def test_brand_precheck_sees_a_licence_through_its_link_not_a_look_alike_name(
    world: ConsoleWorld,
) -> None:
    unlinked = _licence(world, licensee="H&M Group")
    assert unlinked.status_code == 201
    before = _precheck(world, seed=11)
    assert before["cleared"] is False
    assert "no licence of yours" in " ".join(before["faces"][0]["why"]).lower()

    body = _terms(licensee="H&M Group", licensee_brand_id=_brand_id(world, "H&M"))
    linked = world.client.put(
        f"/v1/licences/{unlinked.json()['id']}", headers=bearer(world, "agency"), json=body
    )
    assert linked.status_code == 200, linked.text
    after = _precheck(world, seed=12)
    assert after["cleared"] is True, after["faces"][0]["why"]
    other = _precheck(world, seed=13, who="other_brand")
    assert other["cleared"] is False  # Zara's pre-check never sees H&M's licence


def test_brand_never_sees_other_brands_licences_on_my_licences(world: ConsoleWorld) -> None:
    hm, zara = _brand_id(world, "H&M"), _brand_id(world, "Zara")
    mine = _licence(world, licensee_brand_id=hm, publishers=["hm.com"]).json()["id"]
    theirs = _licence(
        world, talent="Grace Hopper", licensee_brand_id=zara, publishers=["zara.com"]
    ).json()["id"]
    _licence(world, licensee="H&M Group", publishers=["hmgroup.example"])  # unlinked

    html = signed_in(world, "brand").get("/console/brand/licences").text
    assert f'id="brand-licence-{mine}"' in html and "Ada Lovelace" in html
    assert "Demo Agency" in html  # whom to ask about it
    assert f'id="brand-licence-{theirs}"' not in html
    for foreign in ("Grace Hopper", "zara.com", "hmgroup.example", "Other Agency"):
        assert foreign not in html, foreign
    assert "1 licence," in html
    assert signed_in(world, "agency").get("/console/brand/licences").status_code == 403


def test_agency_lists_its_licences_no_brand_sees(world: ConsoleWorld) -> None:
    unlinked = _licence(world, licensee="Atelier Nord SAS").json()["id"]
    _licence(world, licensee_brand_id=_brand_id(world, "H&M"))
    foreign = _licence(world, talent="Grace Hopper", licensee="Maison Verte").json()["id"]

    html = signed_in(world, "agency").get("/console/licences").text
    section = html.split('id="unlinked"', 1)[1].split("</section>", 1)[0]
    assert "Not linked to a brand on twinwatch (1)" in section
    assert f"/console/licences/{unlinked}/edit" in section and "Atelier Nord SAS" in section
    assert "Maison Verte" not in html and f"/licences/{foreign}/" not in html
    page = signed_in(world, "agency").get(f"/console/licences/{unlinked}").text
    assert 'id="unlinked-warning"' in page and "no brand&#39;s pre-check sees it" in page


def test_the_api_lists_a_brand_its_own_licences_and_an_agency_its_unlinked_ones(
    world: ConsoleWorld,
) -> None:
    hm, zara = _brand_id(world, "H&M"), _brand_id(world, "Zara")
    mine = _licence(world, licensee_brand_id=hm).json()["id"]
    theirs = _licence(world, talent="Grace Hopper", licensee_brand_id=zara).json()["id"]
    unlinked = _licence(world, licensee="Atelier Nord SAS").json()["id"]
    foreign = _licence(world, talent="Grace Hopper", licensee="Maison Verte").json()["id"]

    own = world.client.get("/v1/brand/licences", headers=bearer(world, "brand")).json()
    assert [item["id"] for item in own["items"]] == [mine] and own["total"] == 1
    assert own["items"][0]["talent"] == "Ada Lovelace"
    assert own["items"][0]["agency"] == "Demo Agency"
    other = world.client.get("/v1/brand/licences", headers=bearer(world, "other_brand")).json()
    assert [item["id"] for item in other["items"]] == [theirs]
    listed = world.client.get("/v1/licences/unlinked", headers=bearer(world, "agency")).json()
    assert [item["id"] for item in listed["items"]] == [unlinked]
    assert listed["items"][0]["licensee_brand_id"] is None
    elsewhere = world.client.get(
        "/v1/licences/unlinked", headers=bearer(world, "other_agency")
    ).json()
    assert [item["id"] for item in elsewhere["items"]] == [foreign]
    assert (
        world.client.get("/v1/brand/licences", headers=bearer(world, "agency")).status_code == 403
    )
    assert (
        world.client.get("/v1/licences/unlinked", headers=bearer(world, "brand")).status_code == 403
    )
    too_many = world.client.get("/v1/brand/licences?limit=100000", headers=bearer(world, "brand"))
    assert too_many.status_code == 422 and "error" in too_many.json()


def test_resending_terms_without_the_brand_field_keeps_the_link(world: ConsoleWorld) -> None:
    hm = _brand_id(world, "H&M")
    created = _licence(world, licensee_brand_id=hm, licensee="Hennes & Mauritz AB").json()
    path, auth = f"/v1/licences/{created['id']}", bearer(world, "agency")
    old_client = _terms(licensee="Hennes & Mauritz AB", channels=["social", "ecommerce"])
    kept = world.client.put(path, headers=auth, json=old_client)
    assert kept.status_code == 200 and kept.json()["licensee_brand_id"] == hm
    renamed = world.client.put(path, headers=auth, json=_terms(licensee="Someone Else Ltd"))
    assert renamed.json()["licensee_brand_id"] is None  # another name: another licensee
    explicit = _terms(licensee="Someone Else Ltd", licensee_brand_id=None)
    assert world.client.put(path, headers=auth, json=explicit).json()["licensee_brand_id"] is None
