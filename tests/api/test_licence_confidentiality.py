"""Licence terms are confidential to the talent's side (issue 7, section 1), end to end.

Two agencies, two brands and a monitor. Each brand holds licences on both agencies'
talents, with distinctive publishers, territories, fees and revocation notes. Every
endpoint in the OpenAPI description is called with each brand's and the monitor's key, and
the raw bytes of every answer are searched for the *other* tenants' terms.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from indexer.db import Agency, ReferenceImage, Talent
from indexer.engine import FaceEngine
from service.jobs.worker import JobWorker
from tests.support.service import ServiceWorld, face_crop_jpeg, local_server, service_world

pytestmark = pytest.mark.model

NOW = datetime.now(UTC)
TALENT = "Demo Talent C"  # the first agency's talent
OTHER_TALENT = "Demo Talent D"  # moved to the second agency below


@dataclass(frozen=True)
class Terms:
    """One licence's distinctive strings; every one must stay on the talent's side."""

    licensee: str
    publishers: tuple[str, ...]
    territories: tuple[str, ...]
    channel: str
    flat_fee: str
    per_use: str
    currency: str
    revocation_note: str | None = None

    def secrets(self) -> set[str]:
        found = {
            self.licensee,
            *self.publishers,
            *self.territories,
            self.flat_fee,
            self.per_use,
            self.currency,
        }
        return found | ({self.revocation_note} if self.revocation_note else set())


HM_C = Terms("H&M", ("hm-own-shop.example",), ("MQ", "GF"), "ecommerce", "2222.22", "711.11", "EUR")
HM_D = Terms(
    "H&M",
    ("hm-agency-two.example",),
    ("YT",),
    "ecommerce",
    "4444.44",
    "733.33",
    "CHF",
    revocation_note="hm-confidential-revocation-note",
)
ZARA_C = Terms(
    "Zara",
    ("zara-secret-outlet.example", "instagram.com/zara-hidden-account"),
    ("NZ", "KZ"),
    "outdoor",
    "98765.43",
    "777.77",
    "ISK",
)
ZARA_C_REVOKED = Terms(
    "Zara",
    ("zara-revoked-campaign.example",),
    ("NZ",),
    "print",
    "12121.21",
    "755.55",
    "ISK",
    revocation_note="zara-confidential-revocation-note",
)
ZARA_D = Terms("Zara", ("zara-agency-two.example",), ("UZ",), "video", "31415.92", "766.66", "SEK")
HM_SECRETS = HM_C.secrets() | HM_D.secrets()
ZARA_SECRETS = ZARA_C.secrets() | ZARA_C_REVOKED.secrets() | ZARA_D.secrets()
TRIAGE_NOTE = "agency-internal-triage-note"


@dataclass
class Tenants:
    world: ServiceWorld
    licences: dict[str, int] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    called: set[tuple[str, str]] = field(default_factory=set)


@pytest.fixture
def tenants(tmp_path: Path, real_engine: FaceEngine) -> Iterator[Tenants]:
    with service_world(tmp_path, real_engine, fetch_allow_private_networks=True) as world:
        with world.ctx.db.session() as session:
            other = session.scalar(select(Agency).where(Agency.name == "Other Agency"))
            moved = session.get(Talent, world.talents[OTHER_TALENT])
            assert other is not None and moved is not None
            moved.agency_id = other.id
        built = Tenants(world)
        for name, talent, agency, terms in [
            ("hm_c", TALENT, "agency", HM_C),
            ("zara_c", TALENT, "agency", ZARA_C),
            ("zara_c_revoked", TALENT, "agency", ZARA_C_REVOKED),
            ("zara_d", OTHER_TALENT, "other_agency", ZARA_D),
            ("hm_d", OTHER_TALENT, "other_agency", HM_D),
        ]:
            built.licences[name] = _licence(world, talent, agency, terms)
        yield built


def _licence(world: ServiceWorld, talent: str, agency: str, terms: Terms) -> int:
    body = {
        "licensee": terms.licensee,
        "publishers": list(terms.publishers),
        "channels": [terms.channel],
        "territories": list(terms.territories),
        "media": ["photo"],
        "valid_from": (NOW - timedelta(days=30)).isoformat(),
        "valid_until": (NOW + timedelta(days=300)).isoformat(),
        "compensation": {
            "flat_fee": terms.flat_fee,
            "per_use": terms.per_use,
            "currency": terms.currency,
        },
    }
    created = world.client.post(
        f"/v1/talents/{world.talents[talent]}/licences", json=body, headers=world.auth(agency)
    )
    assert created.status_code == 201, created.text
    licence_id = int(created.json()["id"])
    if terms.revocation_note:
        revoked = world.client.post(
            f"/v1/licences/{licence_id}/revoke",
            json={
                "reason": terms.revocation_note,
                "revoked_at": (NOW - timedelta(days=1)).isoformat(),
            },
            headers=world.auth(agency),
        )
        assert revoked.status_code == 200, revoked.text
    return licence_id


def assert_clean(response: httpx.Response, forbidden: set[str], what: str) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text)
    raw = response.content
    leaked = sorted(
        s for s in forbidden if s.encode() in raw or s.replace("&", "\\u0026").encode() in raw
    )
    assert not leaked, f"{what} leaked {leaked}: {response.text[:2000]}"


def drain(world: ServiceWorld) -> None:
    worker = JobWorker(world.ctx, name="confidentiality-test")

    async def run() -> None:
        while await worker.run_once():
            pass

    asyncio.run(run())


def precheck(t: Tenants, who: str, image: bytes, **use: str) -> httpx.Response:
    fields = {"channel": "ecommerce", "territory": "US", "use_from": NOW.isoformat(), **use}
    response: httpx.Response = t.world.client.post(
        "/v1/prechecks",
        files={"file": ("asset.jpg", image)},
        data=fields,
        headers=t.world.auth(who),
    )
    assert response.status_code == 201, response.text
    return response


def faces_by_name(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["talent"]["name"]: f for f in answer["faces"] if f["talent"]}


# --- what each audience is told -------------------------------------------------------------
def test_brand_reasons_are_stated_in_terms_of_its_own_licences(tenants: Tenants) -> None:
    world, hm = tenants.world, tenants.licences["hm_c"]
    wrong = precheck(tenants, "brand", world.group_photo, publisher="hm-new-site.example")
    assert_clean(wrong, ZARA_SECRETS | {"hm-confidential-revocation-note"}, "H&M pre-check")
    faces = faces_by_name(wrong.json())
    own = faces[TALENT]["licence"]
    assert own["verdict"] == "unlicensed" and own["licence_id"] is None
    assert own["reasons"] == [
        f"your licence {hm}: publisher hm-new-site.example not in hm-own-shop.example",
        f"your licence {hm}: territory US not in MQ, GF",
    ]
    assert [c["licence_id"] for c in own["checks"]] == [hm]
    revoked = faces[OTHER_TALENT]["licence"]
    assert revoked["reasons"] == [f"your licence {tenants.licences['hm_d']}: revoked"]
    for name in ("Demo Talent A", "Demo Talent B", "Demo Talent E", "Demo Talent F"):
        assert faces[name]["licence"]["reasons"] == ["no licence of yours covers this talent"]
        assert faces[name]["why"] == [f"{name}: no licence of yours covers this talent"]
    assert wrong.json()["cleared"] is False

    ok = precheck(
        tenants,
        "brand",
        face_crop_jpeg(world.fixture, TALENT),
        publisher="hm-own-shop.example",
        territory="MQ",
    )
    face = faces_by_name(ok.json())[TALENT]
    assert ok.json()["cleared"] is True and face["licence"]["licence_id"] == hm
    assert face["why"] == [f"{TALENT}: your licence {hm} covers this use"]


def test_another_brands_licence_never_clears_a_brand(tenants: Tenants) -> None:
    """Zara's licence covers zara-secret-outlet.example; H&M pre-checking that very use is
    judged on H&M's licences only, and learns nothing about Zara's."""
    world = tenants.world
    answer = precheck(
        tenants,
        "brand",
        face_crop_jpeg(world.fixture, TALENT),
        publisher="https://zara-secret-outlet.example/",
        channel="outdoor",
        territory="NZ",
    ).json()
    face = faces_by_name(answer)[TALENT]
    assert answer["cleared"] is False and face["licence"]["verdict"] == "unlicensed"
    assert all(c["licence_id"] == tenants.licences["hm_c"] for c in face["licence"]["checks"])
    assert not any("Zara" in reason for reason in face["why"])


def test_monitor_sees_the_verdict_and_no_terms(tenants: Tenants) -> None:
    world = tenants.world
    response = world.client.post(
        "/v1/scans",
        files={"file": ("seen.jpg", world.group_photo)},
        data={"publisher": "knockoff.example.net", "channel": "social", "territory": "US"},
        headers=world.auth("monitor"),
    )
    assert_clean(response, HM_SECRETS | ZARA_SECRETS | {"your licence"}, "monitor scan")
    for face in response.json()["faces"]:
        assert face["licence"] == {
            "verdict": "unlicensed",
            "licence_id": None,
            "reasons": [],
            "checks": [],
        }


def test_agency_sees_every_term_for_its_own_talents(tenants: Tenants) -> None:
    world = tenants.world
    world.client.post(
        "/v1/scans",
        files={"file": ("seen.jpg", world.group_photo)},
        data={"publisher": "knockoff.example.net", "territory": "US"},
        headers=world.auth("monitor"),
    )
    alerts = world.client.get(
        "/v1/alerts", params={"talent_id": world.talents[TALENT]}, headers=world.auth("agency")
    ).json()["items"]
    [alert] = alerts
    reasons = " ".join(alert["reasons"])
    for licence in ("hm_c", "zara_c", "zara_c_revoked"):
        assert f"licence {tenants.licences[licence]} (" in reasons
    assert "zara-secret-outlet.example" in reasons and "hm-own-shop.example" in reasons
    report = world.client.get(
        f"/v1/alerts/{alert['id']}/evidence", headers=world.auth("agency")
    ).json()
    assert report["form"] == "internal"
    assert {c["licensee"] for c in report["licences_checked"]} == {"H&M", "Zara"}
    other = world.client.get("/v1/alerts", headers=world.auth("other_agency")).json()["items"]
    assert {a["talent"]["name"] for a in other} == {OTHER_TALENT}
    assert_clean(
        world.client.get("/v1/alerts", headers=world.auth("other_agency")),
        {"hm-own-shop.example", "zara-secret-outlet.example"},
        "other agency",
    )


def test_evidence_comes_in_an_internal_and_a_third_party_form(tenants: Tenants) -> None:
    world = tenants.world
    world.client.post(
        "/v1/scans",
        files={"file": ("seen.jpg", face_crop_jpeg(world.fixture, TALENT))},
        data={
            "publisher": "knockoff.example.net",
            "territory": "US",
            "page_url": "https://knockoff.example.net/p/1",
        },
        headers=world.auth("monitor"),
    )
    [alert] = world.client.get("/v1/alerts", headers=world.auth("agency")).json()["items"]
    triaged = world.client.post(
        f"/v1/alerts/{alert['id']}/triage",
        json={"action": "confirm_violation", "note": TRIAGE_NOTE},
        headers=world.auth("agency"),
    )
    assert triaged.json()["status"] == "confirmed_violation"
    base, auth = f"/v1/alerts/{alert['id']}/evidence", world.auth("agency")
    internal = world.client.get(base, headers=auth)
    internal_html = world.client.get(f"{base}.html", headers=auth)
    for answer in (internal, internal_html):
        text = answer.text.replace("&amp;", "&")
        assert TRIAGE_NOTE in text and "zara-secret-outlet.example" in text and "H&M" in text
        assert "opencv-yunet-sface" in text
    third = world.client.get(base, params={"form": "third_party"}, headers=auth)
    third_html = world.client.get(f"{base}.html", params={"form": "third_party"}, headers=auth)
    for answer in (third, third_html):
        assert answer.status_code == 200
        assert_clean(
            answer, HM_SECRETS | ZARA_SECRETS | {TRIAGE_NOTE, "H&amp;M"}, "third-party evidence"
        )
        assert "https://knockoff.example.net/p/1" in answer.text and TALENT in answer.text
        assert alert["image_sha256"] in answer.text
    body = third.json()
    assert body["form"] == "third_party" and body["verdict"] == "unlicensed"
    assert body["statement"] == "No licence held by the talent's agency covers this use."
    assert body["model_pack"]["name"] == "opencv-yunet-sface"
    bad = world.client.get(base, params={"form": "public"}, headers=auth)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"


# --- every endpoint, raw bytes --------------------------------------------------------------
def test_brands_and_monitors_never_see_another_tenants_terms_anywhere(tenants: Tenants) -> None:
    world = tenants.world
    campaign = world.stranger_photo  # Zara's approved campaign image (no talent's face in it)
    added = world.client.post(
        f"/v1/licences/{tenants.licences['zara_c']}/assets",
        files={"file": ("campaign.png", campaign)},
        headers=world.auth("agency"),
    )
    assert added.status_code == 200, added.text
    crop = face_crop_jpeg(world.fixture, TALENT)
    forbidden = {
        "brand": ZARA_SECRETS,
        "other_brand": HM_SECRETS,
        "monitor": HM_SECRETS | ZARA_SECRETS | {"your licence"},
    }
    _submit_everything(tenants, crop, campaign, forbidden)
    ids = _ids(tenants)
    spec = world.client.get("/openapi.json").json()
    operations = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    reads = sorted(op for op in operations if op[0] == "GET")
    writes = sorted(op for op in operations if op[0] != "GET")
    for who, secrets in forbidden.items():
        for method, path in [*reads, *writes]:
            for url in _urls(path, ids[who]):
                response = world.client.request(method, url, headers=world.auth(who))
                assert_clean(response, secrets, f"{who} {method} {url}")
                tenants.called.add((method, path))
    assert operations <= tenants.called, sorted(operations - tenants.called)


def _submit_everything(
    t: Tenants, crop: bytes, campaign: bytes, forbidden: dict[str, set[str]]
) -> None:
    """Every submission endpoint a brand or monitor uses, with answers checked as they come."""
    world = t.world
    for who, publisher in (
        ("brand", "hm-new-site.example"),
        ("other_brand", "zara-new-site.example"),
    ):
        for image in (world.group_photo, crop, campaign):
            assert_clean(
                precheck(t, who, image, publisher=publisher), forbidden[who], f"{who} pre-check"
            )
        job = world.client.post(
            "/v1/precheck-jobs",
            files=[
                ("files", ("a.jpg", crop)),
                ("files", ("b.jpg", world.group_photo)),
                ("files", ("c.png", campaign)),
            ],
            data={"publisher": publisher, "channel": "social", "territory": "US"},
            headers=world.auth(who),
        )
        assert job.status_code == 202, job.text
        assert_clean(job, forbidden[who], f"{who} pre-check job")
    for image in (world.group_photo, crop, campaign):
        answer = world.client.post(
            "/v1/scans",
            files={"file": ("seen.jpg", image)},
            data={"publisher": "knockoff.example.net", "territory": "US", "channel": "social"},
            headers=world.auth("monitor"),
        )
        assert answer.status_code == 201, answer.text
        assert_clean(answer, forbidden["monitor"], "monitor scan")
    job = world.client.post(
        "/v1/scan-jobs",
        files=[("files", ("a.jpg", world.group_photo)), ("files", ("b.png", campaign))],
        data={"publisher": "knockoff.example.net"},
        headers=world.auth("monitor"),
    )
    assert job.status_code == 202, job.text
    drain(world)
    reuse = [
        r
        for scan in world.client.get("/v1/scans", headers=world.auth("monitor")).json()["items"]
        for r in scan["asset_reuse"]
    ]
    assert reuse and all(r["licence_id"] is None and r["licensee"] is None for r in reuse)


def _ids(t: Tenants) -> dict[str, dict[str, list[int]]]:
    """Real ids for every path parameter: the caller's own and everybody else's."""
    world = t.world
    from service.core.tables.licensing import LicenceAsset

    with world.ctx.db.session() as session:
        references = list(session.scalars(select(ReferenceImage.id)))
        assets = list(session.scalars(select(LicenceAsset.id))) or [1]
    alerts = [
        a["id"] for a in world.client.get("/v1/alerts", headers=world.auth("admin")).json()["items"]
    ]
    assert alerts
    with local_server() as receiver:
        hook = world.client.post(
            "/v1/webhooks", json={"url": receiver.url("/h")}, headers=world.auth("agency")
        ).json()
    scans = [
        s["id"]
        for kind in ("/v1/scans", "/v1/prechecks")
        for s in world.client.get(kind, headers=world.auth("admin")).json()["items"]
    ]
    jobs = sorted({s["job_id"] for s in _admin_jobs(world)})
    own_alert = world.client.get("/v1/alerts", headers=world.auth("agency")).json()["items"][0]
    notice = world.client.post(
        "/v1/takedowns",
        headers=world.auth("agency"),
        json={"kind": "dmca", "alert_ids": [own_alert["id"]]},
    )
    assert notice.status_code == 201, notice.text
    watch = world.client.post(
        "/v1/watches",
        json={"url": "https://seen.example/look", "kind": "page", "every_hours": 24},
        headers=world.auth("agency"),
    )
    assert watch.status_code == 201, watch.text
    shared = {
        "talent_id": list(world.talents.values()),
        "licence_id": list(t.licences.values()),
        "alert_id": alerts,
        "webhook_id": [hook["id"]],
        "reference_id": references[:1],
        "scan_id": scans,
        "precheck_id": scans,
        "job_id": jobs,
        "asset_id": assets,
        "notice_id": [notice.json()["id"]],
        "record_id": [1],
        "watch_id": [watch.json()["id"]],
        "image_id": [1],
    }
    return {who: shared for who in ("brand", "other_brand", "monitor")}


def _admin_jobs(world: ServiceWorld) -> list[dict[str, int]]:
    from service.core.tables.jobs import Job

    with world.ctx.db.session() as session:
        return [{"job_id": job_id} for job_id in session.scalars(select(Job.id))]


def _urls(path: str, ids: dict[str, list[int]]) -> list[str]:
    names = re.findall(r"{(\w+)}", path)
    if not names:
        return [path]
    urls = [path]
    for name in names:
        urls = [url.replace("{" + name + "}", str(value)) for url in urls for value in ids[name]]
    return urls
