"""A name is not an identity: talents may share names, the agency's external id is unique,
tenants are created explicitly, and erasure forgets replayable answers naming the talent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from indexer.errors import AmbiguousTalentError
from service.access.keys import TenantKind, create_key, create_tenant
from service.api.app import create_app
from service.api.idempotency import MAX_KEY_LENGTH, checked_key
from service.core.errors import IdempotencyKeyInvalidError
from service.core.principal import Role
from service.core.tables.idempotency import IdempotencyRecord
from service.jobs.housekeeping import purge_idempotency_records
from tests.support.fakes import face_photo
from tests.support.jobs import TALENT_IDENTITY, JobWorld, open_job_world


@dataclass
class Api:
    client: TestClient
    world: JobWorld
    agency: dict[str, str]
    other: dict[str, str]
    admin: dict[str, str]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    world = open_job_world(tmp_path)
    with world.ctx.db.session() as session:
        create_tenant(session, kind=TenantKind.AGENCY, name="Lumen Models")
        keys = [
            create_key(session, role=Role.AGENCY, agency="Agency").key,
            create_key(session, role=Role.AGENCY, agency="Lumen Models").key,
            create_key(session, role=Role.ADMIN).key,
        ]
    agency, other, admin = ({"Authorization": f"Bearer {key}"} for key in keys)
    with TestClient(create_app(context=world.ctx)) as client:
        yield Api(client, world, agency, other, admin)
    world.ctx.close()


def test_two_talents_may_share_a_name(api: Api) -> None:
    first = api.client.post(
        "/v1/talents", json={"name": "Mia Berg", "external_id": "A-1"}, headers=api.agency
    )
    second = api.client.post(
        "/v1/talents", json={"name": "Mia Berg", "external_id": "A-2"}, headers=api.agency
    )
    assert first.status_code == second.status_code == 201, second.text
    assert first.json()["id"] != second.json()["id"]
    assert [first.json()["external_id"], second.json()["external_id"]] == ["A-1", "A-2"]


def test_a_duplicate_external_id_is_a_conflict_naming_the_existing_talent(api: Api) -> None:
    first = api.client.post(
        "/v1/talents", json={"name": "Mia Berg", "external_id": "A-1"}, headers=api.agency
    ).json()
    again = api.client.post(
        "/v1/talents", json={"name": "Someone Else", "external_id": "A-1"}, headers=api.agency
    )
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "talent_external_id_taken"
    assert error["details"]["existing_id"] == first["id"]
    elsewhere = api.client.post(
        "/v1/talents", json={"name": "Mia", "external_id": "A-1"}, headers=api.other
    )
    assert elsewhere.status_code == 201  # unique per agency, not globally


def test_admin_cannot_create_a_talent_in_an_unknown_agency(api: Api) -> None:
    response = api.client.post(
        "/v1/talents", json={"name": "Mia", "agency": "Lumen Model"}, headers=api.admin
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "agency_not_found"


def test_an_import_by_name_refuses_to_guess_between_namesakes(api: Api) -> None:
    registry = api.world.ctx.registry
    agency = registry.find_agency(name="Agency")
    for external_id in ("X-1", "X-2"):
        registry.create_talent(agency_id=agency.id, name="Noa", external_id=external_id)
    with pytest.raises(AmbiguousTalentError):
        registry.ensure_talent(agency_id=agency.id, name="Noa")
    found, created = registry.ensure_talent(agency_id=agency.id, name="Noa", external_id="X-2")
    assert not created and found.external_id == "X-2"


def test_erasure_forgets_replayable_answers_that_name_the_talent(api: Api) -> None:
    headers = {**api.agency, "Idempotency-Key": "create-mia"}
    created = api.client.post("/v1/talents", json={"name": "Mia Berg"}, headers=headers)
    talent_id = created.json()["id"]
    replay = api.client.post("/v1/talents", json={"name": "Mia Berg"}, headers=headers)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    enrol = api.client.post(
        f"/v1/talents/{talent_id}/photos",
        headers={**api.agency, "Idempotency-Key": "photos-mia"},
        files=[("files", ("mia.png", face_photo([(TALENT_IDENTITY + 1, 100)], seed=9)))],
    )
    assert enrol.status_code in (200, 201), enrol.text

    assert api.client.delete(f"/v1/talents/{talent_id}", headers=api.agency).status_code in (
        200,
        204,
    )
    with api.world.ctx.db.session() as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0
    again = api.client.post("/v1/talents", json={"name": "Mia Berg"}, headers=headers)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers


def test_answers_of_a_talent_erased_elsewhere_are_not_replayed(api: Api) -> None:
    headers = {**api.agency, "Idempotency-Key": "create-noa"}
    talent_id = api.client.post("/v1/talents", json={"name": "Noa"}, headers=headers).json()["id"]
    api.world.ctx.registry.erase_hooks.clear()  # as the indexer's CLI erases: no service hook
    api.world.ctx.registry.erase_talent(talent_id=talent_id)
    again = api.client.post("/v1/talents", json={"name": "Noa"}, headers=headers)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    other = {**api.agency, "Idempotency-Key": "create-ola"}
    ola = api.client.post("/v1/talents", json={"name": "Ola"}, headers=other).json()["id"]
    api.world.ctx.registry.erase_talent(talent_id=ola)
    assert purge_idempotency_records(api.world.ctx.db) == 1


def test_idempotency_keys_are_compared_whole_and_long_ones_refused(api: Api) -> None:
    prefix = "k" * (MAX_KEY_LENGTH - 1)
    first = api.client.post(
        "/v1/talents", json={"name": "A"}, headers={**api.agency, "Idempotency-Key": prefix + "1"}
    )
    second = api.client.post(
        "/v1/talents", json={"name": "A"}, headers={**api.agency, "Idempotency-Key": prefix + "2"}
    )
    assert first.json()["id"] != second.json()["id"]
    too_long = api.client.post(
        "/v1/talents", json={"name": "B"}, headers={**api.agency, "Idempotency-Key": prefix + "12"}
    )
    assert too_long.status_code == 422
    assert too_long.json()["error"]["code"] == "idempotency_key_invalid"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=MAX_KEY_LENGTH + 50))
def test_a_key_is_accepted_whole_or_refused(raw: str) -> None:
    try:
        assert checked_key(raw) == raw
        assert 1 <= len(raw) <= MAX_KEY_LENGTH
    except IdempotencyKeyInvalidError:
        assert not raw or len(raw) > MAX_KEY_LENGTH or not raw.isprintable()


def test_a_refused_photo_carries_plain_advice_beside_the_technical_reasons(api: Api) -> None:
    created = api.client.post("/v1/talents", json={"name": "Noor Haddad"}, headers=api.agency)
    enrol = api.client.post(
        f"/v1/talents/{created.json()['id']}/photos",
        headers=api.agency,
        files=[
            ("files", ("small.png", face_photo([(TALENT_IDENTITY + 2, 59)], size=150, seed=4))),
            ("files", ("good.png", face_photo([(TALENT_IDENTITY + 2, 120)], seed=5))),
        ],
    )
    assert enrol.status_code in (200, 201), enrol.text
    small, good = enrol.json()["photos"]
    assert small["reasons"] == ["face is 59px, smaller than the minimum 64px"]
    assert small["advice"] == [
        "The face is small (59 px wide): use a photo where the face is at least 64 px wide, "
        "such as a closer crop or a larger original."
    ]
    assert good["accepted"] and good["advice"] == [] and good["reasons"] == []
