"""Licences, usage and alert filters through the real API, with the fake analyser (faces are
coloured squares), so the licensing rules are tested end to end without the models:
one publisher per use, closed vocabularies, dates as people write them, money bounds,
licence bounds and explicit approved-asset scope."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.access.keys import TenantKind, create_key, create_tenant
from service.api.app import create_app
from service.context import AppContext
from service.core.principal import Role
from service.startup import start
from tests.support.fakes import FakeAnalyser, face_photo
from tests.support.service import service_settings

NOW = datetime.now(UTC)
IDENTITY = 7


@dataclass
class World:
    client: TestClient
    ctx: AppContext
    keys: dict[str, str]
    talent_id: int

    def auth(self, who: str = "agency") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    ctx = start(service_settings(tmp_path), analyser=FakeAnalyser())
    with ctx.db.session() as session:
        create_tenant(session, kind=TenantKind.AGENCY, name="Lumen Models")
        create_tenant(session, kind=TenantKind.MONITOR, name="Watch")
        create_tenant(session, kind=TenantKind.BRAND, name="Maison Verte")
        keys = {
            "agency": create_key(session, role=Role.AGENCY, agency="Lumen Models").key,
            "monitor": create_key(session, role=Role.MONITOR, monitor="Watch").key,
            "brand": create_key(session, role=Role.BRAND, brand="Maison Verte").key,
            "admin": create_key(session, role=Role.ADMIN).key,
        }
    with TestClient(create_app(context=ctx)) as client:
        created = client.post(
            "/v1/talents",
            json={"name": "Ana"},
            headers={"Authorization": f"Bearer {keys['agency']}"},
        )
        assert created.status_code == 201, created.text
        talent_id = created.json()["id"]
        world = World(client, ctx, keys, talent_id)
        photos = [
            ("files", (f"ref{n}.png", face_photo([(IDENTITY, 100)], seed=n))) for n in range(2)
        ]
        enrolled = client.post(
            f"/v1/talents/{talent_id}/photos", files=photos, headers=world.auth()
        )
        assert enrolled.status_code in (200, 201), enrolled.text
        assert all(p["accepted"] for p in enrolled.json()["photos"]), enrolled.text
        yield world
    ctx.close()


def licence_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "licensee": "Maison Verte",
        "publishers": ["instagram.com/maisonverte"],
        "channels": ["social"],
        "territories": ["FR"],
        "media": ["photo"],
        "valid_from": (NOW - timedelta(days=30)).isoformat(),
        "valid_until": (NOW + timedelta(days=30)).isoformat(),
        "compensation": {"per_use": "40.00", "currency": "EUR"},
    }
    body.update(overrides)
    return body


def post_licence(world: World, **overrides: Any) -> Any:
    return world.client.post(
        f"/v1/talents/{world.talent_id}/licences",
        json=licence_body(**overrides),
        headers=world.auth(),
    )


def add_licence(world: World, **overrides: Any) -> dict[str, Any]:
    response = post_licence(world, **overrides)
    assert response.status_code == 201, response.text
    return dict(response.json())


def image(seed: int = 50) -> bytes:
    return face_photo([(IDENTITY, 100)], seed=seed)


def post_scan(world: World, data: bytes, **fields: str) -> Any:
    """A sighting submitted by an admin, who sees the verdict's terms as the talent's agency
    does (a monitor sees the verdict alone)."""
    values = {"channel": "social", "territory": "FR", **fields}
    return world.client.post(
        "/v1/scans", files={"file": ("s.png", data)}, data=values, headers=world.auth("admin")
    )


def scan_verdict(world: World, data: bytes, **fields: str) -> dict[str, Any]:
    response = post_scan(world, data, **fields)
    assert response.status_code == 201, response.text
    (face,) = response.json()["faces"]
    assert face["band"] == "match"
    return dict(face["licence"])


def error_of(response: Any, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json()["error"])


# ---------------------------------------------------------------- one publisher, one bill


def test_a_use_seen_by_publisher_and_by_page_url_is_billed_once(world: World) -> None:
    add_licence(world)
    data = image()
    by_publisher = scan_verdict(world, data, publisher="instagram.com/maisonverte")
    by_page = scan_verdict(world, data, page_url="https://www.instagram.com/maisonverte/p/xyz")
    assert by_publisher["verdict"] == by_page["verdict"] == "licensed"
    usage = world.client.get("/v1/usage", headers=world.auth()).json()
    assert [e["sightings"] for e in usage["events"]] == [2]
    (totals,) = usage["totals"]
    assert totals["uses"] == 1 and totals["amount_owed"] == "40.00"


def test_alert_filter_by_publisher_uses_the_same_normaliser(world: World) -> None:
    data = image()
    assert (
        scan_verdict(world, data, page_url="https://m.instagram.com/Other/p/1")["verdict"]
        == "unlicensed"
    )
    assert scan_verdict(world, data, publisher="instagram.com/other")["verdict"] == "unlicensed"
    alerts = world.client.get(
        "/v1/alerts", params={"publisher": "https://www.instagram.com/OTHER/"}, headers=world.auth()
    ).json()
    assert alerts["total"] == 1 and alerts["items"][0]["sightings"] == 2


# -------------------------------------------------------------------- closed vocabularies


def test_licence_channels_are_normalised_or_refused_with_the_list(world: World) -> None:
    stored = add_licence(world, channels=["e-commerce", "Instagram", "social"])
    assert stored["channels"] == ["ecommerce", "social"]
    error = error_of(post_licence(world, channels=["catalogue"]))
    assert error["code"] == "invalid_request"
    assert (
        "allowed: social, ecommerce, print, outdoor, video, editorial, advertising"
        in error["message"]
    )


def test_a_monitors_platform_name_is_not_a_false_alert(world: World) -> None:
    add_licence(world, channels=["social"])
    verdict = scan_verdict(
        world, image(), publisher="instagram.com/maisonverte", channel="Instagram"
    )
    assert verdict["verdict"] == "licensed"
    assert world.client.get("/v1/alerts", headers=world.auth()).json()["total"] == 0


def test_unknown_sighting_channel_or_territory_is_refused(world: World) -> None:
    channel = error_of(post_scan(world, image(), channel="catalogue"))
    assert channel["code"] == "channel_unknown" and "social" in channel["details"]["allowed"]
    territory = error_of(post_scan(world, image(), territory="XX"))
    assert territory["code"] == "territory_unknown"
    assert error_of(post_scan(world, image(), territory="EU"))["code"] == "territory_unknown"


def test_licence_territories_are_iso_codes_or_groups_expanded_at_evaluation(world: World) -> None:
    assert "XX" in error_of(post_licence(world, territories=["EU", "XX"]))["message"]
    stored = add_licence(world, territories=["eu", "gb"])
    assert stored["territories"] == ["EU", "GB"]
    assert (
        scan_verdict(world, image(), publisher="instagram.com/maisonverte", territory="DE")[
            "verdict"
        ]
        == "licensed"
    )
    refused = scan_verdict(world, image(51), publisher="instagram.com/maisonverte", territory="US")
    assert refused["verdict"] == "unlicensed"
    assert any("seen in US; licence allows EU, GB" in r for r in refused["reasons"])


# ------------------------------------------------------------------------------------ dates


def test_date_only_licence_validity_covers_whole_days(world: World) -> None:
    stored = add_licence(world, valid_from="2026-01-01", valid_until="2026-12-31")
    assert stored["valid_from"].startswith("2026-01-01T00:00:00")
    assert stored["valid_until"].startswith("2027-01-01T00:00:00")


@pytest.mark.parametrize("field", ["valid_from", "valid_until"])
@pytest.mark.parametrize(
    "bad", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "not a date"]
)
def test_out_of_range_licence_dates_are_422(world: World, field: str, bad: str) -> None:
    error_of(post_licence(world, **{field: bad}))


def test_alert_and_usage_date_filters_accept_dates_and_include_the_whole_day(world: World) -> None:
    add_licence(world)
    seen = (NOW - timedelta(days=2)).replace(hour=23, minute=30)
    day = seen.date()
    scan_verdict(world, image(60), publisher="shop.example.net", observed_at=seen.isoformat())
    scan_verdict(
        world, image(61), publisher="instagram.com/maisonverte", observed_at=seen.isoformat()
    )

    def alerts(**params: str) -> int:
        response = world.client.get("/v1/alerts", params=params, headers=world.auth())
        assert response.status_code == 200, response.text
        return int(response.json()["total"])

    def uses(**params: str) -> int:
        response = world.client.get("/v1/usage", params=params, headers=world.auth())
        assert response.status_code == 200, response.text
        return len(response.json()["events"])

    assert alerts(since=day.isoformat()) == 1
    assert alerts(until=day.isoformat()) == 1
    assert alerts(until=(day - timedelta(days=1)).isoformat()) == 0
    assert alerts(since=(day + timedelta(days=1)).isoformat()) == 0
    assert uses(**{"from": day.isoformat(), "to": day.isoformat()}) == 1
    assert uses(**{"from": (day + timedelta(days=1)).isoformat()}) == 0
    assert uses(to=(day - timedelta(days=1)).isoformat()) == 0


@pytest.mark.parametrize(
    ("path", "param"),
    [("/v1/alerts", "since"), ("/v1/alerts", "until"), ("/v1/usage", "from"), ("/v1/usage", "to")],
)
@pytest.mark.parametrize(
    "bad", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-02-30", "soon"]
)
def test_bad_date_filters_are_422_not_500(world: World, path: str, param: str, bad: str) -> None:
    error = error_of(world.client.get(path, params={param: bad}, headers=world.auth()))
    assert error["code"] == "invalid_date"


@pytest.mark.parametrize(("last_day", "cleared"), [(0, True), (1, False)])
def test_precheck_until_a_date_covers_that_whole_day(
    world: World, last_day: int, cleared: bool
) -> None:
    licence_end = (NOW + timedelta(days=20)).date()
    add_licence(world, valid_until=licence_end.isoformat())  # valid through that whole day
    response = world.client.post(
        "/v1/prechecks",
        files={"file": ("a.png", image(80 + last_day))},
        data={
            "publisher": "https://www.instagram.com/maisonverte/",
            "channel": "Instagram",
            "territory": "fr",
            "use_until": (licence_end + timedelta(days=last_day)).isoformat(),
        },
        headers=world.auth("brand"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["cleared"] is cleared
    assert response.json()["context"]["use_until"].startswith(
        f"{licence_end + timedelta(days=last_day)}T23:59:59.999999"
    )


def test_alert_filter_refuses_a_publisher_that_names_no_host(world: World) -> None:
    error = error_of(
        world.client.get("/v1/alerts", params={"publisher": "https://"}, headers=world.auth())
    )
    assert error["code"] == "url_invalid"


def test_observed_at_in_the_future_is_refused_beyond_clock_skew(world: World) -> None:
    future = (NOW + timedelta(hours=2)).isoformat()
    assert error_of(post_scan(world, image(), observed_at=future))["code"] == "invalid_date"
    skewed = (NOW + timedelta(seconds=30)).isoformat()
    assert post_scan(world, image(), observed_at=skewed).status_code == 201
    year_one = error_of(post_scan(world, image(), observed_at="0001-01-01T00:00:00+01:00"))
    assert year_one["code"] == "invalid_date"


# ---------------------------------------------------------------------- money and bounds


@pytest.mark.parametrize("per_use", ["1e20", "21474836.48", "-1", "0.001", "NaN"])
def test_money_outside_the_columns_range_is_422(world: World, per_use: str) -> None:
    error_of(post_licence(world, compensation={"per_use": per_use, "currency": "EUR"}))


def test_largest_storable_amount_round_trips(world: World) -> None:
    stored = add_licence(
        world, compensation={"per_use": "21474836.47", "flat_fee": "0", "currency": "eur"}
    )
    assert stored["compensation"] == {
        "per_use": "21474836.47",
        "flat_fee": "0.00",
        "currency": "EUR",
    }
    error_of(post_licence(world, compensation={"per_use": "1", "currency": "ABC"}))


@pytest.mark.parametrize(
    "overrides",
    [
        {"publishers": [f"p{n}.example.com" for n in range(101)]},
        {"publishers": ["a" * 501 + ".com"]},
        {"publishers": ["https://"]},
        {"publishers": []},
        {"territories": ["FR"] * 301},
        {"licensee": "x" * 201},
        {"approved_assets": [{"sha256": f"{n:064x}"} for n in range(101)]},
        {"media": ["photo", "ai_replica", "photo"]},
    ],
)
def test_licence_lists_and_strings_are_bounded(world: World, overrides: dict[str, Any]) -> None:
    error_of(post_licence(world, **overrides))


def test_a_licence_with_many_publishers_keeps_scan_answers_small(world: World) -> None:
    add_licence(world, publishers=[f"shop{n}.example{n}.com" for n in range(100)])
    response = post_scan(world, image(), publisher="elsewhere.net")
    assert response.status_code == 201
    assert len(response.content) < 20_000
    (reason,) = response.json()["faces"][0]["licence"]["reasons"]
    assert reason.endswith("and 92 more")


# --------------------------------------------------------------------------- asset scope


def test_adding_an_asset_does_not_restrict_a_licence_until_scope_says_so(world: World) -> None:
    licence = add_licence(world)
    assert licence["asset_scope"] == "any_image"
    asset = world.client.post(
        f"/v1/licences/{licence['id']}/assets",
        files={"file": ("a.png", image(70))},
        headers=world.auth(),
    )
    assert asset.status_code == 200, asset.text
    (approved,) = asset.json()["approved_assets"]
    other = image(71)
    assert (
        scan_verdict(world, other, publisher="instagram.com/maisonverte")["verdict"] == "licensed"
    )

    scoped = world.client.put(
        f"/v1/licences/{licence['id']}/asset-scope",
        json={"asset_scope": "approved_assets"},
        headers=world.auth(),
    )
    assert scoped.status_code == 200 and scoped.json()["asset_scope"] == "approved_assets"
    narrowed = scan_verdict(world, image(72), publisher="instagram.com/maisonverte")
    assert narrowed["verdict"] == "unlicensed"
    assert narrowed["checks"][0]["failures"][0]["code"] == "asset_not_approved"

    removed = world.client.delete(
        f"/v1/licences/{licence['id']}/assets/{approved['id']}", headers=world.auth()
    )
    assert removed.status_code == 200 and removed.json()["approved_assets"] == []
    missing = world.client.delete(
        f"/v1/licences/{licence['id']}/assets/{approved['id']}", headers=world.auth()
    )
    assert error_of(missing, 404)["code"] == "licence_asset_not_found"


# --------------------------------------------------------------- a name is not an identity


def test_a_new_talent_is_never_answered_with_an_old_one(world: World) -> None:
    """Same name: a new talent (or, while the table keeps names unique, 409 naming the
    existing one), never 201 with the old talent and the new external id dropped."""
    same_name = world.client.post(
        "/v1/talents", json={"name": "Ana", "external_id": "LM-9"}, headers=world.auth()
    )
    if same_name.status_code == 201:
        assert same_name.json()["id"] != world.talent_id
        assert same_name.json()["external_id"] == "LM-9"
    else:
        error = error_of(same_name, 409)
        assert error["code"] == "talent_name_taken"
        assert error["details"]["existing_id"] == world.talent_id


def test_external_id_is_unique_per_agency(world: World) -> None:
    first = world.client.post(
        "/v1/talents", json={"name": "Bea", "external_id": "LM-2"}, headers=world.auth()
    )
    assert first.status_code == 201, first.text
    assert first.json()["external_id"] == "LM-2"
    duplicate = world.client.post(
        "/v1/talents", json={"name": "Cleo", "external_id": "LM-2"}, headers=world.auth()
    )
    error = error_of(duplicate, 409)
    assert error["code"] == "talent_external_id_taken"
    assert error["details"]["existing_id"] == first.json()["id"]
    names = [
        t["name"] for t in world.client.get("/v1/talents", headers=world.auth()).json()["items"]
    ]
    assert "Cleo" not in names
    assert (
        error_of(world.client.post("/v1/talents", json={"name": "   "}, headers=world.auth()))[
            "code"
        ]
        == "invalid_request"
    )


def test_revocation_dates_are_parsed_like_every_other_date(world: World) -> None:
    licence = add_licence(world)
    path = f"/v1/licences/{licence['id']}/revoke"
    bad = world.client.post(
        path, json={"reason": "x", "revoked_at": "0001-01-01T00:00:00+01:00"}, headers=world.auth()
    )
    error_of(bad)
    day = (NOW - timedelta(days=1)).date()
    revoked = world.client.post(
        path,
        json={"reason": "talent withdrew", "revoked_at": day.isoformat()},
        headers=world.auth(),
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"].startswith(f"{day}T00:00:00")
    verdict = scan_verdict(world, image(90), publisher="instagram.com/maisonverte")
    assert [f["code"] for f in verdict["checks"][0]["failures"]] == ["revoked"]
    assert len(verdict["reasons"]) == 1


@pytest.mark.parametrize(
    "overrides", [{"licensee": "Maison\x00Verte"}, {"publishers": ["hm.com", "evil\x00.com"]}]
)
def test_licence_text_with_nul_is_refused_before_it_reaches_the_database(
    world: World, overrides: dict[str, Any]
) -> None:
    assert error_of(post_licence(world, **overrides))["code"] == "invalid_request"


def test_revocation_reason_with_nul_is_refused(world: World) -> None:
    licence = add_licence(world)
    refused = world.client.post(
        f"/v1/licences/{licence['id']}/revoke",
        json={"reason": "withdrawn\x00"},
        headers=world.auth(),
    )
    assert error_of(refused)["code"] == "invalid_request"
