"""Bad input gets a 4xx in the documented envelope, never a 500 (issue 7 §3): one test per
reproduction, on the FakeAnalyser, against SQLite and (second pass) PostgreSQL."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from indexer.db import MAX_ID
from service.api.app import create_app
from tests.support.api_world import TALENT_IDENTITY, FakeWorld, fake_world
from tests.support.fakes import face_photo

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`

ID_ROUTES = [
    ("get", "/v1/talents/{id}", "agency"),
    ("delete", "/v1/talents/{id}", "agency"),
    ("delete", "/v1/talents/{id}/photos/{id}", "agency"),
    ("get", "/v1/talents/{id}/licences", "agency"),
    ("get", "/v1/licences/{id}", "agency"),
    ("delete", "/v1/licences/{id}/assets/{id}", "agency"),
    ("get", "/v1/scans/{id}", "monitor"),
    ("get", "/v1/prechecks/{id}", "brand"),
    ("get", "/v1/jobs/{id}", "monitor"),
    ("get", "/v1/jobs/{id}/results", "monitor"),
    ("get", "/v1/jobs/{id}/items", "monitor"),
    ("get", "/v1/alerts/{id}", "agency"),
    ("get", "/v1/alerts/{id}/evidence", "agency"),
    ("get", "/v1/alerts/{id}/evidence.html", "agency"),
    ("get", "/v1/alerts/{id}/history", "agency"),
    ("get", "/v1/alerts/{id}/evidence/image", "agency"),
    ("delete", "/v1/webhooks/{id}", "agency"),
    ("get", "/v1/webhooks/{id}/deliveries", "agency"),
    ("get", "/v1/takedowns/{id}", "agency"),
    ("get", "/v1/takedowns/{id}/notice.html", "agency"),
    ("get", "/v1/takedowns/{id}/notice.pdf", "agency"),
    ("get", "/v1/licences/{id}/consent", "agency"),
    ("get", "/v1/licences/{id}/consent/records/{id}/document", "agency"),
    ("get", "/v1/licences/{id}/consent/events", "agency"),
    ("get", "/v1/licences/{id}/consent/certificate.html", "agency"),
    ("get", "/v1/licences/{id}/consent/certificate.pdf", "agency"),
    ("get", "/v1/talents/{id}/portfolio", "agency"),
    ("delete", "/v1/talents/{id}/portfolio/{id}", "agency"),
    ("get", "/v1/watches/{id}", "monitor"),
    ("get", "/v1/watches/{id}/runs", "monitor"),
    ("delete", "/v1/watches/{id}", "monitor"),
]
LIST_ROUTES = [
    ("/v1/talents", "agency"),
    ("/v1/scans", "monitor"),
    ("/v1/prechecks", "brand"),
    ("/v1/alerts", "agency"),
    ("/v1/takedowns", "agency"),
]


@pytest.fixture(autouse=True)
def empty_shared_database() -> None:
    """One world serves the whole module: the per-test wipe (conftest) is turned off here."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeWorld]:
    with fake_world(tmp_path_factory.mktemp("api-errors")) as running:
        yield running


def assert_envelope(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) <= {"code", "message", "details"}
    assert isinstance(body["error"]["code"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    assert response.headers["x-request-id"]
    error: dict[str, Any] = body["error"]
    return error


def scan(world: FakeWorld, **fields: str) -> Any:
    return world.client.post(
        "/v1/scans",
        headers=world.auth("monitor"),
        data=fields,
        files={"file": ("seen.png", face_photo([(TALENT_IDENTITY, 90)]), "image/png")},
    )


@pytest.mark.parametrize("too_big", [2**63, 2**64 + 5, 10**30])
@pytest.mark.parametrize(("method", "template", "who"), ID_ROUTES)
def test_ids_beyond_64_bits_are_refused_not_crashed(
    world: FakeWorld, method: str, template: str, who: str, too_big: int
) -> None:
    response = world.client.request(
        method, template.replace("{id}", str(too_big)), headers=world.auth(who)
    )
    assert_envelope(response, 422, "invalid_request")


@pytest.mark.parametrize(("method", "template", "who"), ID_ROUTES)
def test_the_largest_64_bit_id_is_simply_not_found(
    world: FakeWorld, method: str, template: str, who: str
) -> None:
    response = world.client.request(
        method, template.replace("{id}", str(MAX_ID)), headers=world.auth(who)
    )
    assert_envelope(response, 404)


@pytest.mark.parametrize(("path", "who"), LIST_ROUTES)
def test_offsets_are_bounded_and_the_largest_gives_an_empty_page(
    world: FakeWorld, path: str, who: str
) -> None:
    assert_envelope(
        world.client.get(path, params={"offset": 2**63}, headers=world.auth(who)),
        422,
        "invalid_request",
    )
    page = world.client.get(path, params={"offset": MAX_ID}, headers=world.auth(who))
    assert page.status_code == 200, page.text
    assert page.json()["items"] == [] and page.json()["offset"] == MAX_ID


@pytest.mark.parametrize(
    "bad", ["[::1", "http://[", "http://[::1/x", "shop.example:99999", "http://", "   /just/a/path"]
)
def test_unparsable_publishers_on_a_scan_are_refused(world: FakeWorld, bad: str) -> None:
    error = assert_envelope(scan(world, publisher=bad), 422, "url_invalid")
    assert error["details"]["field"] == "publisher"


@pytest.mark.parametrize("bad", ["[::1", "http://[", "https://shop.example:70000/p"])
def test_unparsable_page_urls_and_precheck_publishers_are_refused(
    world: FakeWorld, bad: str
) -> None:
    assert_envelope(scan(world, page_url=bad), 422, "url_invalid")
    response = world.client.post(
        "/v1/prechecks",
        headers=world.auth("brand"),
        data={"publisher": bad, "channel": "social", "territory": "FR"},
        files={"file": ("a.png", face_photo([(TALENT_IDENTITY, 90)]), "image/png")},
    )
    assert_envelope(response, 422, "url_invalid")


def test_the_alert_filter_refuses_an_unparsable_publisher(world: FakeWorld) -> None:
    response = world.client.get(
        "/v1/alerts", params={"publisher": "[::1"}, headers=world.auth("agency")
    )
    assert_envelope(response, 422, "url_invalid")
    fine = world.client.get(
        "/v1/alerts", params={"publisher": "knockoff.example.net"}, headers=world.auth("agency")
    )
    assert fine.status_code == 200 and fine.json()["total"] == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("publisher", "shop.example/\x00"),
        ("page_url", "https://shop.example/\x00"),
        ("channel", "soc\x00ial"),
        ("channel", "c" * 51),
        ("publisher", "p" * 501),
        ("channel", "İ" * 30),  # 30 characters, but 60 once lower-cased
    ],
)
def test_scan_context_over_its_column_or_with_nul_is_refused(
    world: FakeWorld, field: str, value: str
) -> None:
    assert_envelope(scan(world, **{field: value}), 422)


def test_a_scan_with_context_at_the_column_limits_is_recorded(world: FakeWorld) -> None:
    publisher = "shop.example/" + "p" * 487
    page_url = "https://shop.example/" + "q" * 2020
    response = scan(world, publisher=publisher, page_url=page_url, channel="ecommerce")
    assert response.status_code == 201, response.text
    assert response.json()["context"]["publisher"] == publisher


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Ines\x00"},
        {"name": "n" * 201},
        {"name": "Ines", "external_id": "x\x00"},
        {"name": ""},
    ],
)
def test_talent_names_over_the_limit_or_with_nul_are_refused(
    world: FakeWorld, body: dict[str, str]
) -> None:
    response = world.client.post("/v1/talents", json=body, headers=world.auth("agency"))
    assert_envelope(response, 422, "invalid_request")


def test_a_batch_upload_name_over_300_characters_is_refused(world: FakeWorld) -> None:
    photo = face_photo([(TALENT_IDENTITY, 90)])
    response = world.client.post(
        "/v1/scan-jobs",
        headers=world.auth("monitor"),
        files=[("files", ("n" * 301 + ".png", photo, "image/png"))],
    )
    assert_envelope(response, 422, "invalid_request")
    response = world.client.post(
        "/v1/scan-jobs",
        headers=world.auth("monitor"),
        data={"urls": ["https://cdn.example/a\x00.jpg"]},
    )
    assert_envelope(response, 422, "invalid_request")


def test_reference_photos_per_request_are_bounded(world: FakeWorld) -> None:
    limit = world.ctx.settings.max_batch_items
    files = [("files", (f"p{n}.png", b"x", "image/png")) for n in range(limit + 1)]
    response = world.client.post(
        f"/v1/talents/{world.ids['talent']}/photos", files=files, headers=world.auth("agency")
    )
    assert assert_envelope(response, 422, "invalid_request")["details"]["max_items"] == limit


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_timestamps_with_no_utc_equivalent_are_refused(world: FakeWorld, when: str) -> None:
    assert_envelope(scan(world, observed_at=when), 422, "invalid_date")
    response = world.client.get("/v1/alerts", params={"since": when}, headers=world.auth("agency"))
    assert_envelope(response, 422, "invalid_date")


def test_unknown_routes_and_methods_answer_in_the_envelope(world: FakeWorld) -> None:
    assert_envelope(world.client.get("/v1/nothing-here"), 404, "route_not_found")
    response = world.client.put("/v1/talents", headers=world.auth("agency"))
    error = assert_envelope(response, 405, "method_not_allowed")
    assert "POST" in error["details"]["allowed"]
    assert "POST" in response.headers["allow"]


def test_broken_json_and_multipart_bodies_answer_in_the_envelope(world: FakeWorld) -> None:
    response = world.client.post(
        "/v1/talents",
        content=b'{"name": ',
        headers={**world.auth("agency"), "content-type": "application/json"},
    )
    assert_envelope(response, 422, "invalid_request")
    response = world.client.post(
        f"/v1/talents/{world.ids['talent']}/photos",
        content=b"--zz\r\nbroken",
        headers={**world.auth("agency"), "content-type": "multipart/form-data; boundary=zz"},
    )
    assert response.status_code in (400, 422)
    assert_envelope(response, response.status_code)


def test_agency_keys_are_forbidden_from_jobs(world: FakeWorld) -> None:
    for path in (
        f"/v1/jobs/{world.ids['job']}",
        f"/v1/jobs/{world.ids['job']}/results",
        f"/v1/jobs/{world.ids['job']}/items",
    ):
        assert_envelope(world.client.get(path, headers=world.auth("agency")), 403, "forbidden")
        assert world.client.get(path, headers=world.auth("monitor")).status_code == 200


def test_a_crash_answers_500_in_the_envelope_with_a_request_id_and_a_log_line(
    world: FakeWorld, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(context=world.ctx)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail that must not reach the client")

    caplog.set_level(logging.INFO, logger="twinwatch.http")
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-Id": "trace-123"})
    error = assert_envelope(response, 500, "internal_error")
    assert "secret" not in response.text
    assert response.headers["x-request-id"] == "trace-123"
    assert error["details"] == {"request_id": "trace-123"}
    lines = [r for r in caplog.records if r.getMessage() == "request"]
    assert [r.fields["status"] for r in lines] == [500]  # type: ignore[attr-defined]


def test_a_hostile_request_id_is_replaced(world: FakeWorld) -> None:
    response = world.client.get("/health", headers={"X-Request-Id": "a" * 65})
    assert response.headers["x-request-id"] != "a" * 65
    assert len(response.headers["x-request-id"]) == 16


def test_docs_are_served_without_a_cdn(world: FakeWorld) -> None:
    page = world.client.get("/docs")
    assert page.status_code == 200
    linked = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert linked and all(link.startswith("/docs/assets/") for link in linked), linked
    assert "cdn" not in page.text.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        response = world.client.get(f"/docs/assets/{asset}")
        assert response.status_code == 200 and len(response.content) > 10_000


def test_openapi_declares_bearer_auth_and_the_error_envelope(world: FakeWorld) -> None:
    schema = world.client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    operation = schema["paths"]["/v1/talents/{talent_id}"]["get"]
    for status in ("401", "403", "404", "422"):
        ref = operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ErrorResponse")
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_examples_are_realistic(world: FakeWorld) -> None:
    schema = world.client.get("/openapi.json").json()
    talent = schema["components"]["schemas"]["TalentCreate"]
    assert talent["examples"][0]["name"] == "Ines Moreau"


def test_every_path_id_route_is_covered_here(world: FakeWorld) -> None:
    schema = world.client.get("/openapi.json").json()
    with_ids = {
        (method, path)
        for path, item in schema["paths"].items()
        for method in item
        if "{" in path and method in {"get", "delete"}
    }
    covered = set()
    for method, template, _ in ID_ROUTES:
        for path, item in schema["paths"].items():
            shape = "/".join("{id}" if p.startswith("{") else p for p in path.split("/"))
            if shape == template and method in item:
                covered.add((method, path))
    assert with_ids <= covered, sorted(with_ids - covered)
