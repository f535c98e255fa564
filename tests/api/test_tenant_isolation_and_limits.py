"""Tenant isolation, bad input, limits and operations endpoints of the API."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from indexer.engine import FaceEngine
from service.core.errors import OverloadedError
from tests.support.service import ServiceWorld, face_crop_jpeg, service_world
from tests.unit.indexer.test_imaging import png_header_only

pytestmark = [pytest.mark.postgres, pytest.mark.model]
TALENT = "Demo Talent B"


@pytest.fixture
def world(tmp_path: Path, real_engine: FaceEngine) -> Iterator[ServiceWorld]:
    with service_world(tmp_path, real_engine, max_upload_bytes=2_000_000) as built:
        yield built


def post_scan(
    world: ServiceWorld, data: bytes, who: str = "monitor", name: str = "a.jpg", **fields: str
) -> httpx.Response:
    response: httpx.Response = world.client.post(
        "/v1/scans", files={"file": (name, data)}, data=fields, headers=world.auth(who)
    )
    return response


def licence_body() -> dict[str, object]:
    return {
        "licensee": "H&M",
        "publishers": ["hm.com"],
        "media": ["photo"],
        "valid_from": "2026-01-01T00:00:00Z",
    }


# --- authentication and roles ---------------------------------------------------------------
def test_requests_without_a_valid_key_are_401(world: ServiceWorld) -> None:
    assert world.client.get("/v1/talents").status_code == 401
    response = world.client.get("/v1/talents", headers={"Authorization": "Bearer tw_nope"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_revoked_key_stops_working(world: ServiceWorld) -> None:
    from service.access.keys import authenticate, revoke_key

    with world.ctx.db.session() as session:
        principal = authenticate(session, presented=world.keys["brand"])
        assert principal.key_id is not None  # keys always have one (console users do not)
        revoke_key(session, key_id=principal.key_id)
    assert world.client.get("/v1/prechecks", headers=world.auth("brand")).status_code == 401


def test_roles_reach_only_their_endpoints(world: ServiceWorld) -> None:
    assert world.client.get("/v1/alerts", headers=world.auth("monitor")).status_code == 403
    assert world.client.get("/v1/talents", headers=world.auth("brand")).status_code == 403
    assert post_scan(world, b"x", who="agency").status_code == 403
    assert world.client.get("/v1/alerts", headers=world.auth("admin")).status_code == 200


# --- tenant isolation: 404, never 403 -------------------------------------------------------
def test_agency_cannot_see_or_touch_another_agencys_talents(world: ServiceWorld) -> None:
    talent_id = world.talents[TALENT]
    other = world.auth("other_agency")
    assert world.client.get(f"/v1/talents/{talent_id}", headers=other).status_code == 404
    assert world.client.get("/v1/talents", headers=other).json()["total"] == 0
    assert (
        world.client.post(
            f"/v1/talents/{talent_id}/licences", json=licence_body(), headers=other
        ).status_code
        == 404
    )
    assert world.client.delete(f"/v1/talents/{talent_id}", headers=other).status_code == 404
    assert (
        world.client.post(
            f"/v1/talents/{talent_id}/photos", files={"files": ("p.jpg", b"x")}, headers=other
        ).status_code
        == 404
    )
    own = world.client.get(f"/v1/talents/{talent_id}", headers=world.auth("agency"))
    assert own.status_code == 200 and own.json()["name"] == TALENT


def test_agency_cannot_read_another_agencys_licences_or_alerts(world: ServiceWorld) -> None:
    licence = world.client.post(
        f"/v1/talents/{world.talents[TALENT]}/licences",
        json=licence_body(),
        headers=world.auth("agency"),
    ).json()
    other = world.auth("other_agency")
    assert world.client.get(f"/v1/licences/{licence['id']}", headers=other).status_code == 404
    assert (
        world.client.post(
            f"/v1/licences/{licence['id']}/revoke", json={"reason": "x"}, headers=other
        ).status_code
        == 404
    )
    post_scan(world, face_crop_jpeg(world.fixture, TALENT), publisher="evil.example")
    alert_id = world.client.get("/v1/alerts", headers=world.auth("agency")).json()["items"][0]["id"]
    assert world.client.get("/v1/alerts", headers=other).json()["total"] == 0
    for path in (
        f"/v1/alerts/{alert_id}",
        f"/v1/alerts/{alert_id}/evidence",
        f"/v1/alerts/{alert_id}/evidence.html",
        f"/v1/alerts/{alert_id}/evidence/image",
    ):
        assert world.client.get(path, headers=other).status_code == 404, path
    assert (
        world.client.post(
            f"/v1/alerts/{alert_id}/triage", json={"action": "acknowledge"}, headers=other
        ).status_code
        == 404
    )
    assert world.client.get("/v1/usage", headers=other).json()["events"] == []


def test_monitors_and_brands_see_only_their_own_submissions(world: ServiceWorld) -> None:
    scan_id = post_scan(world, face_crop_jpeg(world.fixture, TALENT)).json()["id"]
    assert (
        world.client.get(f"/v1/scans/{scan_id}", headers=world.auth("monitor")).status_code == 200
    )
    assert (
        world.client.get(f"/v1/scans/{scan_id}", headers=world.auth("other_monitor")).status_code
        == 404
    )
    assert world.client.get("/v1/scans", headers=world.auth("other_monitor")).json()["total"] == 0
    precheck = world.client.post(
        "/v1/prechecks",
        files={"file": ("a.jpg", face_crop_jpeg(world.fixture, TALENT))},
        data={"publisher": "hm.com", "channel": "social", "territory": "SE"},
        headers=world.auth("brand"),
    ).json()
    assert (
        world.client.get(
            f"/v1/prechecks/{precheck['id']}", headers=world.auth("other_brand")
        ).status_code
        == 404
    )
    assert (
        world.client.get(f"/v1/scans/{precheck['id']}", headers=world.auth("monitor")).status_code
        == 404
    )


# --- bad input: a clear 4xx, nothing recorded, the service keeps serving --------------------
def jpeg_of(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 90, 60)).save(buffer, format="JPEG")
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((400, 300), 40).convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()[:3000]


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (truncated_jpeg(), 422, "image_decode_failed"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 50, 415, "image_type_unsupported"),
        (png_header_only(200_000, 200_000), 413, "image_too_large"),
        (b"%PDF-1.7 not an image", 415, "image_type_unsupported"),
        (b"", 422, "image_decode_failed"),
    ],
)
def test_bad_images_get_a_clear_error_and_the_service_keeps_serving(
    world: ServiceWorld, data: bytes, status: int, code: str
) -> None:
    response = post_scan(world, data)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert world.client.get("/v1/scans", headers=world.auth("monitor")).json()["total"] == 0
    good = post_scan(world, face_crop_jpeg(world.fixture, TALENT))
    assert good.status_code == 201


def test_oversize_upload_is_refused_with_413(world: ServiceWorld) -> None:
    big = b"\xff\xd8" + b"\x00" * 2_500_000
    response = post_scan(world, big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert post_scan(world, face_crop_jpeg(world.fixture, TALENT)).status_code == 201


def test_file_and_url_together_or_neither_is_a_clear_422(world: ServiceWorld) -> None:
    neither = world.client.post("/v1/scans", data={"publisher": "x"}, headers=world.auth("monitor"))
    assert neither.status_code == 422 and "exactly one" in neither.json()["error"]["message"]
    bad_territory = post_scan(world, jpeg_of((50, 50)), territory="Sweden")
    assert bad_territory.status_code == 422


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x.jpg",
        "http://localhost/x.jpg",
        "http://169.254.169.254/latest",
        "http://10.0.0.5/x.jpg",
        "http://[::1]/x.jpg",
        "http://2130706433/x.jpg",
        "file:///etc/passwd",
        "ftp://example.com/x.jpg",
    ],
)
def test_urls_into_the_network_are_refused(world: ServiceWorld, url: str) -> None:
    response = world.client.post("/v1/scans", data={"url": url}, headers=world.auth("monitor"))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] in (
        "url_host_forbidden",
        "url_scheme_not_allowed",
        "url_invalid",
    )


def test_webhook_urls_into_the_network_are_refused(world: ServiceWorld) -> None:
    response = world.client.post(
        "/v1/webhooks", json={"url": "http://169.254.169.254/hook"}, headers=world.auth("agency")
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "url_host_forbidden"


def test_reference_photo_upload_reports_each_photo(world: ServiceWorld) -> None:
    response = world.client.post(
        f"/v1/talents/{world.talents[TALENT]}/photos",
        files=[
            ("files", ("new.jpg", face_crop_jpeg(world.fixture, TALENT, quality=80))),
            ("files", ("group.jpg", world.group_photo)),
            ("files", ("junk.jpg", b"junk")),
        ],
        headers=world.auth("agency"),
    )
    assert response.status_code == 200, response.text
    photos = response.json()["photos"]
    assert photos[0]["accepted"] is True and photos[0]["face_px"] > 64
    assert "6 faces of similar size" in photos[1]["reasons"][0]
    assert photos[2]["accepted"] is False


# --- overload -------------------------------------------------------------------------------
def test_full_inference_queue_gives_503_with_retry_after(world: ServiceWorld) -> None:
    gate = world.ctx.gate
    held = [gate.admitted(None) for _ in range(gate.max_pending)]
    for slot in held:
        slot.__enter__()
    try:
        response = post_scan(world, face_crop_jpeg(world.fixture, TALENT))
        assert response.status_code == 503
        assert response.headers["Retry-After"] == str(world.ctx.settings.retry_after_s)
        assert response.json()["error"]["code"] == "overloaded"
    finally:
        for slot in held:
            slot.__exit__(None, None, None)
    assert post_scan(world, face_crop_jpeg(world.fixture, TALENT)).status_code == 201


def test_one_key_over_its_concurrency_gets_429(world: ServiceWorld) -> None:
    from service.access.keys import authenticate

    with world.ctx.db.session() as session:
        key_id = authenticate(session, presented=world.keys["monitor"]).key_id
    gate = world.ctx.gate
    held = [gate.admitted(key_id) for _ in range(gate.max_per_key)]
    for slot in held:
        slot.__enter__()
    try:
        response = post_scan(world, face_crop_jpeg(world.fixture, TALENT))
        assert response.status_code == 429 and response.headers["Retry-After"]
        assert (
            post_scan(world, face_crop_jpeg(world.fixture, TALENT), who="other_monitor").status_code
            == 201
        )
    finally:
        for slot in held:
            slot.__exit__(None, None, None)


def test_overloaded_error_carries_retry_after() -> None:
    assert OverloadedError("busy", retry_after_s=3).to_dict()["details"] == {"retry_after_s": 3}


# --- operations -----------------------------------------------------------------------------
def test_health_ready_metrics_and_openapi(world: ServiceWorld) -> None:
    assert world.client.get("/health").json() == {"status": "ok"}
    ready = world.client.get("/ready").json()
    assert ready["model_pack"]["name"] == "opencv-yunet-sface" and ready["index"]["vectors"] == 6
    assert ready["copy_index"]["images"] == 0  # no portfolio ("built" once its build has run)
    post_scan(world, face_crop_jpeg(world.fixture, TALENT))
    metrics = world.client.get("/metrics").text
    assert 'twinwatch_scans_total{kind="scan",outcome="ok"} 1.0' in metrics
    assert "twinwatch_alerts_total" in metrics
    spec = world.client.get("/openapi.json").json()
    assert "/v1/scans" in spec["paths"] and "/v1/prechecks" in spec["paths"]
    assert world.client.get("/docs").status_code == 200


def test_not_ready_until_loaded(world: ServiceWorld) -> None:
    world.ctx.ready = False
    response = world.client.get("/ready")
    assert response.status_code == 503 and response.json()["error"]["code"] == "not_ready"


def test_too_many_faces_is_a_clear_413(tmp_path: Path, real_engine: FaceEngine) -> None:
    real_engine.max_faces = 3
    try:
        with service_world(tmp_path, real_engine) as world:
            response = post_scan(world, world.group_photo)
            assert response.status_code == 413
            error = response.json()["error"]
            assert error["code"] == "too_many_faces" and error["details"]["faces"] == 6
    finally:
        real_engine.max_faces = 64


def test_expired_evidence_is_purged_but_the_alert_stays(world: ServiceWorld) -> None:
    from datetime import UTC, datetime, timedelta

    from service.core.tables.alerts import Alert

    post_scan(world, face_crop_jpeg(world.fixture, TALENT), publisher="evil.example")
    with world.ctx.db.session() as session:
        alert = session.query(Alert).one()
        path = str(alert.evidence_path)
        alert.evidence_expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert world.ctx.evidence.exists(path)
    assert world.ctx.evidence.purge_expired(world.ctx.db) == 1
    assert not world.ctx.evidence.exists(path)
    alert_view = world.client.get("/v1/alerts", headers=world.auth("agency")).json()["items"][0]
    assert alert_view["evidence_image_kept"] is False and alert_view["image_sha256"]
