"""A talent's key sees that talent and nothing else (task H8, beside test_confidentiality).

The world of :mod:`tests.api.test_licence_confidentiality` (two agencies, two brands, a
monitor, licences with distinctive terms), plus: talent keys for Demo Talent C and A (first
agency) and D (the second agency); a licence of A's with its own secrets and an offline
signed consent document; D's signed consent; both agencies' takedown profiles, e-mail
recipients and a webhook; a triage note. Every operation in the OpenAPI description is
called with each talent key and real ids of everybody's objects; the raw answers are
searched for anything not the caller's, and every agency operation must refuse a talent (403
or 404)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from service.access.keys import create_key
from service.core.principal import Role
from tests.api.test_licence_confidentiality import (
    HM_C,
    HM_D,
    NOW,
    OTHER_TALENT,
    TALENT,
    TRIAGE_NOTE,
    ZARA_C,
    ZARA_C_REVOKED,
    ZARA_D,
    Tenants,
    _ids,
    _submit_everything,
    _urls,
    assert_clean,
    tenants,
)
from tests.support.fakes import face_photo
from tests.support.service import face_crop_jpeg

pytestmark = pytest.mark.model
__all__ = ["tenants"]  # the fixture, shared

TALENT_A = "Demo Talent A"
A_PORTFOLIO = "a-secret-portfolio-shoot.png"  # her portfolio image: hers and her agency's
A_SECRETS = {"a-only-publisher.example", "13579.11", "a-secret-consent-scan.pdf", A_PORTFOLIO}
AGENCY_SECRETS = {
    "agency-one-rights-holder",
    "alerts-one@agency-one.example",
    "https://agency-one-hooks.example/h",
    "other-agency-rights-holder",
    "alerts-two@agency-two.example",
    TRIAGE_NOTE,
}
#: What a talent key may read (its own things); every other GET must be 403 or 404.
TALENT_READS = {
    "/v1/me",
    "/v1/me/sightings",
    "/v1/me/licences",
    "/v1/me/portfolio",
    "/v1/me/statements",
    "/v1/usage",
    "/v1/licences/{licence_id}/consent",
    "/v1/licences/{licence_id}/consent/records/{record_id}/document",
    "/v1/licences/{licence_id}/consent/events",
    "/v1/licences/{licence_id}/consent/certificate.html",
    "/v1/licences/{licence_id}/consent/certificate.pdf",
    "/v1/me/consent-events",
    "/health",
    "/ready",
    "/metrics",
}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _plant(t: Tenants) -> dict[str, int]:
    """Talent keys, A's licence and consent document, D's consent, profiles, e-mail, hook."""
    world = t.world
    with world.ctx.db.session() as session:
        for who, name in (("talent_c", TALENT), ("talent_a", TALENT_A), ("talent_d", OTHER_TALENT)):
            world.keys[who] = create_key(session, role=Role.TALENT, talent=world.talents[name]).key
    a_licence = world.client.post(
        f"/v1/talents/{world.talents[TALENT_A]}/licences",
        headers=world.auth("agency"),
        json={
            "licensee": "H&M",
            "publishers": ["a-only-publisher.example"],
            "channels": ["print"],
            "territories": ["FR"],
            "media": ["photo"],
            "valid_from": (NOW - timedelta(days=3)).isoformat(),
            "compensation": {"flat_fee": "13579.11", "currency": "EUR"},
        },
    )
    assert a_licence.status_code == 201, a_licence.text
    records: dict[str, int] = {}
    for licence_id, agency in (
        (int(a_licence.json()["id"]), "agency"),
        (t.licences["zara_d"], "other_agency"),
    ):
        flagged = world.client.put(
            f"/v1/licences/{licence_id}/talent-consent",
            json={"requires_talent_consent": True},
            headers=world.auth(agency),
        )
        assert flagged.status_code == 200, flagged.text
    uploaded = world.client.post(
        f"/v1/licences/{a_licence.json()['id']}/consent/documents",
        files={"file": ("a-secret-consent-scan.pdf", PDF)},
        data={"signer_name": TALENT_A},
        headers=world.auth("agency"),
    )
    assert uploaded.status_code == 201, uploaded.text
    records["a"] = int(uploaded.json()["id"])
    shoot = face_photo([(3, 120)], size=200, seed=21, textured=True)
    portfolio = world.client.post(
        f"/v1/talents/{world.talents[TALENT_A]}/portfolio",
        files=[("files", (A_PORTFOLIO, shoot, "image/png"))],
        headers=world.auth("agency"),
    )
    assert portfolio.status_code == 200 and portfolio.json()["files"][0]["accepted"], portfolio.text
    terms = world.client.get(
        f"/v1/licences/{t.licences['zara_d']}/consent", headers=world.auth("talent_d")
    ).json()["terms_sha256"]
    signed = world.client.post(
        f"/v1/licences/{t.licences['zara_d']}/consent",
        json={"signature_name": OTHER_TALENT, "terms_sha256": terms},
        headers=world.auth("talent_d"),
    )
    assert signed.status_code == 201, signed.text
    records["d"] = int(signed.json()["id"])
    for agency, holder, mail in (
        ("agency", "agency-one-rights-holder", "alerts-one@agency-one.example"),
        ("other_agency", "other-agency-rights-holder", "alerts-two@agency-two.example"),
    ):
        profile = world.client.put(
            "/v1/takedown-profile",
            headers=world.auth(agency),
            json={
                "rights_holder": holder,
                "address": "1 Example Street",
                "email": mail,
                "phone": "+44 20 0000 0000",
                "signature_name": "Jane Booker",
            },
        )
        assert profile.status_code == 200, profile.text
        prefs = world.client.put(
            "/v1/email-preferences", headers=world.auth(agency), json={"recipients": [mail]}
        )
        assert prefs.status_code == 200, prefs.text
    return {
        "licence_a": int(a_licence.json()["id"]),
        **{f"record_{k}": v for k, v in records.items()},
    }


def _forbidden(t: Tenants) -> dict[str, set[str]]:
    names = set(t.world.talents)
    c_terms = HM_C.secrets() | ZARA_C.secrets() | ZARA_C_REVOKED.secrets()
    d_terms = HM_D.secrets() | ZARA_D.secrets()
    every = c_terms | d_terms | A_SECRETS | AGENCY_SECRETS
    return {
        "talent_c": (every | names) - c_terms - {TALENT},
        "talent_a": (every | names)
        - {
            TALENT_A,
            "H&M",
            "EUR",
            "a-only-publisher.example",
            "13579.11",
            "a-secret-consent-scan.pdf",
            A_PORTFOLIO,
        },
        "talent_d": (every | names) - d_terms - {OTHER_TALENT},
    }


def test_a_talent_key_sees_only_its_own_talent_anywhere(tenants: Tenants) -> None:
    world = tenants.world
    planted = _plant(tenants)
    added = world.client.post(
        f"/v1/licences/{tenants.licences['zara_c']}/assets",
        files={"file": ("campaign.png", world.stranger_photo)},
        headers=world.auth("agency"),
    )
    assert added.status_code == 200, added.text
    crop = face_crop_jpeg(world.fixture, TALENT)
    _submit_everything(
        tenants,
        crop,
        world.stranger_photo,
        {"brand": set(), "other_brand": set(), "monitor": set()},
    )
    ids = _ids(tenants)["brand"]
    [alert] = world.client.get(
        "/v1/alerts", params={"talent_id": world.talents[TALENT]}, headers=world.auth("agency")
    ).json()["items"][:1]
    triaged = world.client.post(
        f"/v1/alerts/{alert['id']}/triage",
        json={"action": "acknowledge", "note": TRIAGE_NOTE},
        headers=world.auth("agency"),
    )
    assert triaged.status_code == 200, triaged.text
    ids = {
        **ids,
        "licence_id": [*ids["licence_id"], planted["licence_a"]],
        "record_id": [planted["record_a"], planted["record_d"]],
    }
    spec = world.client.get("/openapi.json").json()
    operations = sorted(
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )
    allowed_reads = []
    for who, secrets in _forbidden(tenants).items():
        for method, path in operations:
            for url in _urls(path, ids):
                response = world.client.request(method, url, headers=world.auth(who))
                if path.endswith("/certificate.pdf") and response.status_code == 200:
                    # compressed bytes match two-letter secrets by chance; the certificate's
                    # HTML twin (same content, same sweep) is searched instead
                    assert response.content.startswith(b"%PDF")
                else:
                    assert_clean(response, secrets, f"{who} {method} {url}")
                if method == "GET" and path not in TALENT_READS:
                    assert response.status_code in (403, 404), (who, url, response.text[:300])
                if method == "GET" and path in TALENT_READS and response.status_code == 200:
                    allowed_reads.append((who, url))
    own = f"/v1/licences/{planted['licence_a']}/consent/records/{planted['record_a']}/document"
    assert ("talent_a", own) in allowed_reads
    assert ("talent_c", own) not in allowed_reads and ("talent_d", own) not in allowed_reads
    assert re.search(r"/v1/me/sightings", " ".join(u for _, u in allowed_reads))
    assert ("talent_a", "/v1/me/portfolio") in allowed_reads
    hers = world.client.get("/v1/me/portfolio", headers=world.auth("talent_a")).json()
    assert [image["name"] for image in hers["items"]] == [A_PORTFOLIO]
