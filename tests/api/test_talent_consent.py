"""The talent's own view and consent (issue 9) through the real API, with the fake analyser
(faces are coloured squares): a talent key sees only its own talent, AI-replica licences
are in force only once the talent signs their exact terms, withdrawal is forward-only,
the agency's offline documents are kept by sha256 (and count only once confirmed:
tests/api/test_consent_ledger.py), and brands and monitors never see a consent record."""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image, PngImagePlugin
from sqlalchemy import func, select

from indexer.db import utcnow
from service.access import accounts
from service.access.keys import TenantKind, create_key, create_tenant
from service.api.app import create_app
from service.context import AppContext
from service.core.errors import InvalidRequestError
from service.core.principal import Role
from service.core.tables.access import ApiKey, User
from service.core.tables.licensing import ConsentRecord, Licence, LicenceAsset
from service.licensing import consent
from service.licensing.evaluate import ConsentWindow, FailureCode, LicenceTerms, Medium, Verdict
from service.startup import start
from tests.support.fakes import FakeAnalyser, face_photo
from tests.support.service import service_settings
from tests.unit.licensing.test_evaluate import SEEN, ai_image, evaluate, licence
from tests.unit.scanning.test_provenance import TRAINED, xmp_attribute

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`

ANA, BEA = 7, 9  # identities (red channel of the fake faces)
NOT_SIGNED = "replica consent not signed by the talent"
WITHDRAWN = "replica consent withdrawn by the talent"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@dataclass
class World:
    client: TestClient
    ctx: AppContext
    keys: dict[str, str]
    talents: dict[str, int]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def get(self, who: str, path: str, **params: Any) -> Any:
        return self.client.get(path, headers=self.auth(who), params=params)

    def post(self, who: str, path: str, **kwargs: Any) -> Any:
        return self.client.post(path, headers=self.auth(who), **kwargs)

    def licence(self, talent: str = "Ana", **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "licensee": "Maison Verte",
            "publishers": ["maisonverte.example"],
            "channels": ["*"],
            "territories": ["WORLD"],
            "media": ["ai_replica"],
            "ai_label_required": True,
            "valid_from": (utcnow() - timedelta(days=30)).isoformat(),
            "compensation": {"per_use": "40.00", "currency": "EUR"},
        }
        body.update(overrides)
        created = self.post("agency", f"/v1/talents/{self.talents[talent]}/licences", json=body)
        assert created.status_code == 201, created.text
        return dict(created.json())

    def scan(
        self,
        identity: int,
        *,
        seed: int,
        ai: bool = True,
        publisher: str = "maisonverte.example",
        observed_at: datetime | None = None,
    ) -> dict[str, Any]:
        data = {
            "publisher": publisher,
            "territory": "FR",
            "channel": "ecommerce",
            "observed_at": (observed_at or datetime.now(UTC)).isoformat(),
        }
        image = labelled_photo(identity, seed) if ai else face_photo([(identity, 100)], seed=seed)
        response = self.post(
            "monitor", "/v1/scans", data=data, files={"file": ("seen.png", image, "image/png")}
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def sign(self, licence_id: int, name: str = "Ana Lima", who: str = "ana") -> Any:
        terms = self.get(who, f"/v1/licences/{licence_id}/consent").json()
        return self.post(
            who,
            f"/v1/licences/{licence_id}/consent",
            json={"signature_name": name, "terms_sha256": terms["terms_sha256"]},
        )


def labelled_photo(identity: int, seed: int) -> bytes:
    """A fake face in a PNG that declares AI (IPTC DigitalSourceType in an iTXt XMP)."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp_attribute(TRAINED).decode("utf-8"))
    buffer = io.BytesIO()
    Image.open(io.BytesIO(face_photo([(identity, 100)], seed=seed))).save(
        buffer, "PNG", pnginfo=info
    )
    return buffer.getvalue()


def licence_verdict(result: dict[str, Any]) -> dict[str, Any]:
    (face,) = result["faces"]
    return dict(face["licence"])


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with talent_world(tmp_path) as built:
        yield built


@contextmanager
def talent_world(tmp_path: Path) -> Iterator[World]:
    """Two agencies, a monitor, a brand, an admin; Ana and Bea with a talent key each."""
    ctx = start(service_settings(tmp_path), analyser=FakeAnalyser())
    with ctx.db.session() as session:
        for kind, name in (
            (TenantKind.AGENCY, "Lumen Models"),
            (TenantKind.AGENCY, "Other Agency"),
            (TenantKind.MONITOR, "Watch"),
            (TenantKind.BRAND, "Maison Verte"),
        ):
            create_tenant(session, kind=kind, name=name)
        keys = {
            "agency": create_key(session, role=Role.AGENCY, agency="Lumen Models").key,
            "other_agency": create_key(session, role=Role.AGENCY, agency="Other Agency").key,
            "monitor": create_key(session, role=Role.MONITOR, monitor="Watch").key,
            "brand": create_key(session, role=Role.BRAND, brand="Maison Verte").key,
            "admin": create_key(session, role=Role.ADMIN).key,
        }
    with TestClient(create_app(context=ctx)) as client:
        world = World(client, ctx, keys, {})
        for name, identity in (("Ana Lima", ANA), ("Bea Costa", BEA)):
            talent = world.post("agency", "/v1/talents", json={"name": name}).json()
            enrolled = world.post(
                "agency",
                f"/v1/talents/{talent['id']}/photos",
                files=[("files", ("ref.png", face_photo([(identity, 100)], seed=1)))],
            )
            assert enrolled.json()["photos"][0]["accepted"], enrolled.text
            world.talents[name.split()[0]] = talent["id"]
        with ctx.db.session() as session:
            for name in ("Ana", "Bea"):
                world.keys[name.lower()] = create_key(
                    session, role=Role.TALENT, talent=world.talents[name]
                ).key
        yield world
    ctx.close()


def test_a_talent_key_sees_only_its_own_sightings_licences_and_ledger(world: World) -> None:
    ana_photo = world.licence(media=["photo"])
    bea_licence = world.licence("Bea", media=["photo"])
    world.scan(ANA, seed=2, ai=False)  # licensed: a use, billed
    world.scan(ANA, seed=3, ai=False, publisher="knockoff.example")  # unlicensed
    world.scan(BEA, seed=4, ai=False)

    alert_id = world.get("agency", "/v1/alerts").json()["items"][0]["id"]
    world.post(
        "agency",
        f"/v1/alerts/{alert_id}/triage",
        json={"action": "acknowledge", "note": "agency-only note: renegotiate"},
    )

    assert world.get("ana", "/v1/me").json() == {
        "talent_id": world.talents["Ana"],
        "name": "Ana Lima",
        "agency": "Lumen Models",
    }
    sightings = world.get("ana", "/v1/me/sightings").json()
    assert sightings["total"] == 2
    assert {s["verdict"] for s in sightings["items"]} == {"licensed", "unlicensed"}
    unlicensed = next(s for s in sightings["items"] if s["verdict"] == "unlicensed")
    assert unlicensed["publisher"] == "knockoff.example"
    assert any("knockoff.example" in reason for reason in unlicensed["reasons"])
    assert "renegotiate" not in world.get("ana", "/v1/me/sightings").text
    licences = world.get("ana", "/v1/me/licences").json()
    assert [lic["id"] for lic in licences] == [ana_photo["id"]]
    assert licences[0]["compensation"]["per_use"] == "40.00"  # full terms: their likeness

    ledger = world.get("ana", "/v1/usage").json()
    assert [(e["talent"], e["per_use"], e["currency"]) for e in ledger["events"]] == [
        ("Ana Lima", "40.00", "EUR")
    ]
    assert ledger["owed"] == [
        {
            "currency": "EUR",
            "uses": 1,
            "per_use_amount": "40.00",
            "flat_fees": "0.00",
            "amount_owed": "40.00",
        }
    ]
    assert world.get("ana", "/v1/usage", talent_id=world.talents["Bea"]).json()["events"] == []

    for path in (f"/v1/licences/{bea_licence['id']}/consent",):
        assert world.get("ana", path).status_code == 404
    for path in (
        "/v1/alerts",
        "/v1/talents",
        f"/v1/licences/{ana_photo['id']}",
        f"/v1/talents/{world.talents['Ana']}/licences",
        "/v1/scans",
        "/v1/consent/awaiting",
        "/v1/webhooks",
    ):
        assert world.get("ana", path).status_code == 403, path
    assert world.get("agency", "/v1/me").status_code == 403


def test_a_replica_licence_is_in_force_only_once_the_talent_signs_and_withdrawal_is_forward_only(
    world: World,
) -> None:
    licence = world.licence()
    lid = licence["id"]
    assert licence["consent"]["status"] == "awaiting_signature"
    before = licence_verdict(world.scan(ANA, seed=2))
    assert before["verdict"] == "unlicensed"
    agency_alert = world.get("agency", "/v1/alerts").json()["items"][0]
    assert any(NOT_SIGNED in reason for reason in agency_alert["reasons"])
    awaiting = world.get("agency", "/v1/consent/awaiting").json()
    assert [(a["licence"]["id"], a["talent"]) for a in awaiting] == [(lid, "Ana Lima")]

    assert (
        world.sign(lid, name="Someone Else").json()["error"]["code"] == "consent_signature_mismatch"
    )
    stale = world.post(
        "ana",
        f"/v1/licences/{lid}/consent",
        json={"signature_name": "Ana Lima", "terms_sha256": "0" * 64},
    )
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "consent_terms_changed"
    signed = world.sign(lid, name="  ana lima ")
    assert signed.status_code == 201, signed.text
    record = signed.json()
    assert record["method"] == "signature" and record["for_current_terms"]
    assert world.sign(lid).json()["id"] == record["id"]  # a retry signs once
    assert world.get("agency", "/v1/consent/awaiting").json() == []

    licensed = world.scan(ANA, seed=3)
    assert licence_verdict(licensed)["verdict"] == "licensed"
    observed = datetime.fromisoformat(licensed["context"]["observed_at"])
    ledger = world.get("ana", "/v1/usage").json()
    assert len(ledger["events"]) == 1 and ledger["owed"][0]["amount_owed"] == "40.00"

    time.sleep(0.01)
    withdrawn = world.post("ana", f"/v1/licences/{lid}/consent/withdraw")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    after = world.scan(ANA, seed=4)
    assert licence_verdict(after)["verdict"] == "unlicensed"
    newest = world.get("agency", "/v1/alerts").json()["items"]
    assert any(WITHDRAWN in reason for alert in newest for reason in alert["reasons"])
    earlier = world.scan(ANA, seed=5, observed_at=observed)  # seen before the withdrawal
    assert licence_verdict(earlier)["verdict"] == "licensed"
    ledger = world.get("ana", "/v1/usage").json()
    assert len(ledger["events"]) == 2 and ledger["owed"][0]["amount_owed"] == "80.00"
    sightings = world.get("ana", "/v1/me/sightings").json()["items"]
    assert [s["verdict"] for s in sightings].count("licensed") == 2


def test_brands_and_monitors_never_see_consent_records(world: World) -> None:
    lid = world.licence()["id"]
    assert world.sign(lid).status_code == 201
    for who in ("brand", "monitor"):
        for path in (
            f"/v1/licences/{lid}/consent",
            "/v1/me",
            "/v1/me/licences",
            "/v1/consent/awaiting",
        ):
            assert world.get(who, path).status_code == 403, (who, path)
        assert world.post(who, f"/v1/licences/{lid}/consent/withdraw").status_code == 403
    monitor_view = licence_verdict(world.scan(ANA, seed=2))
    assert monitor_view == {"verdict": "licensed", "licence_id": None, "reasons": [], "checks": []}
    assert world.get("other_agency", f"/v1/licences/{lid}/consent").status_code == 404
    assert (
        world.post(
            "agency",
            f"/v1/licences/{lid}/consent",
            json={"signature_name": "Ana Lima", "terms_sha256": "0" * 64},
        ).status_code
        == 403
    )  # the talent's act


def test_a_brand_precheck_says_its_licence_awaits_the_talent_without_any_record(
    world: World,
) -> None:
    lid = world.licence()["id"]
    response = world.post(
        "brand",
        "/v1/prechecks",
        data={"publisher": "maisonverte.example", "territory": "FR", "channel": "ecommerce"},
        files={"file": ("asset.png", labelled_photo(ANA, 6), "image/png")},
    )
    assert response.status_code == 201, response.text
    (face,) = response.json()["faces"]
    assert face["why"] == [
        f"Ana Lima: your licence {lid}: not in force: the talent has not signed their consent"
    ]
    assert "signer" not in response.text and "terms_sha256" not in response.text


def test_the_consent_hash_changes_with_any_change_of_terms(world: World) -> None:
    lid = world.licence()["id"]
    assert world.sign(lid).status_code == 201
    before = world.get("agency", f"/v1/licences/{lid}/consent").json()
    assert before["status"] == "signed"
    assert before["terms"]["media"] == ["ai_replica"] and before["terms"]["licence_id"] == lid
    changed = world.client.put(
        f"/v1/licences/{lid}/asset-scope",
        headers=world.auth("agency"),
        json={"asset_scope": "approved_assets"},
    )
    assert changed.status_code == 200
    after = world.get("ana", f"/v1/licences/{lid}/consent").json()
    assert after["terms_sha256"] != before["terms_sha256"]
    assert after["status"] == "awaiting_signature"
    assert [r["for_current_terms"] for r in after["records"]] == [False]  # kept as evidence

    with world.ctx.db.session() as session:
        licence = session.get(Licence, lid)
        assert licence is not None
        base = consent.terms_sha256(licence)
        changes: list[tuple[str, Any]] = [
            ("licensee", "Maison Rouge"),
            ("publishers", ["other.example"]),
            ("channels", ["social"]),
            ("territories", ["FR"]),
            ("media", ["photo", "ai_replica"]),
            ("ai_label_required", False),
            ("valid_from", licence.valid_from - timedelta(seconds=1)),
            ("valid_from", licence.valid_from + timedelta(microseconds=1)),
            ("valid_until", utcnow() + timedelta(days=1)),
            ("asset_scope", "any_image"),
            ("per_use_cents", 4001),
            ("flat_fee_cents", 100),
            ("currency", "USD"),
        ]
        for field, value in changes:
            original = getattr(licence, field)
            setattr(licence, field, value)
            assert consent.terms_sha256(licence) != base, field
            setattr(licence, field, original)
            assert consent.terms_sha256(licence) == base, field
        licence.assets.append(LicenceAsset(sha256="a" * 64, phash=None))
        assert consent.terms_sha256(licence) != base
        licence.assets.clear()
        licence.publishers = ["maisonverte.example"]
        assert consent.terms_sha256(licence) == base
        session.rollback()


def test_reordering_listed_terms_keeps_the_hash(world: World) -> None:
    first = world.licence(
        publishers=["a.example", "b.example"], territories=["FR", "DE"], valid_from="2026-01-01"
    )
    second = world.licence(
        publishers=["b.example", "a.example"], territories=["DE", "FR"], valid_from="2026-01-01"
    )
    with world.ctx.db.session() as session:
        one, two = session.get(Licence, first["id"]), session.get(Licence, second["id"])
        assert one is not None and two is not None
        assert consent.terms_document(one)["publishers"] == ["a.example", "b.example"]
        two.id = one.id  # only the licence id tells them apart
        assert consent.canonical_terms(one) == consent.canonical_terms(two)
        session.rollback()


def test_the_agency_uploads_an_offline_signed_document_kept_by_sha256_as_its_attestation(
    world: World,
) -> None:
    lid = world.licence()["id"]
    path = f"/v1/licences/{lid}/consent/documents"
    bad = world.post(
        "agency",
        path,
        data={"signer_name": "Ana Lima"},
        files={"file": ("consent.txt", b"I agree", "text/plain")},
    )
    assert bad.status_code == 415 and bad.json()["error"]["code"] == "consent_document_unsupported"
    big = world.post(
        "agency",
        path,
        data={"signer_name": "Ana Lima"},
        files={"file": ("c.pdf", PDF + b"0" * consent.MAX_DOCUMENT_BYTES)},
    )
    assert big.status_code == 413
    assert (
        world.post(
            "ana", path, data={"signer_name": "Ana Lima"}, files={"file": ("c.pdf", PDF)}
        ).status_code
        == 403
    )
    assert (
        world.post(
            "other_agency", path, data={"signer_name": "Ana Lima"}, files={"file": ("c.pdf", PDF)}
        ).status_code
        == 404
    )
    uploaded = world.post(
        "agency",
        path,
        data={"signer_name": "Ana Lima"},
        files={"file": ("signed consent.pdf", PDF, "application/pdf")},
    )
    assert uploaded.status_code == 201, uploaded.text
    record = uploaded.json()
    assert record["method"] == "document" and record["status"] == "attested_by_agency"
    assert record["in_force_from"] is None and record["confirmation"] is None
    assert record["document"] == {
        "name": "signed consent.pdf",
        "media_type": "application/pdf",
        "bytes": len(PDF),
        "sha256": hashlib.sha256(PDF).hexdigest(),
    }
    again = world.post(
        "agency", path, data={"signer_name": "Ana Lima"}, files={"file": ("again.pdf", PDF)}
    )
    assert again.json()["id"] == record["id"]
    for who in ("agency", "ana"):
        kept = world.get(who, f"/v1/licences/{lid}/consent/records/{record['id']}/document")
        assert kept.status_code == 200 and kept.content == PDF
        assert kept.headers["content-type"] == "application/pdf"
    status = world.get("agency", f"/v1/licences/{lid}").json()["consent"]["status"]
    assert status == "awaiting_confirmation"  # the agency's word, until the talent confirms
    assert licence_verdict(world.scan(ANA, seed=2))["verdict"] == "unlicensed"


def test_a_photo_licence_needs_consent_only_when_the_agency_asks(world: World) -> None:
    lid = world.licence(media=["photo"])["id"]
    assert licence_verdict(world.scan(ANA, seed=2, ai=False))["verdict"] == "licensed"
    assert world.sign(lid).json()["error"]["code"] == "consent_not_allowed"
    flagged = world.client.put(
        f"/v1/licences/{lid}/talent-consent",
        headers=world.auth("agency"),
        json={"requires_talent_consent": True},
    )
    assert flagged.json()["consent"]["status"] == "awaiting_signature"
    verdict = licence_verdict(world.scan(ANA, seed=3, ai=False))
    assert verdict["verdict"] == "unlicensed"
    assert world.get("agency", "/v1/alerts").json()["items"][0]["reasons"] == [
        f"licence {lid} (Maison Verte): consent not signed by the talent"
    ]
    assert world.sign(lid).status_code == 201
    assert licence_verdict(world.scan(ANA, seed=4, ai=False))["verdict"] == "licensed"


def test_withdrawing_without_consent_and_signing_a_revoked_licence_are_refused(
    world: World,
) -> None:
    lid = world.licence()["id"]
    nothing = world.post("ana", f"/v1/licences/{lid}/consent/withdraw")
    assert nothing.status_code == 409 and nothing.json()["error"]["code"] == "consent_not_allowed"
    world.post("agency", f"/v1/licences/{lid}/revoke", json={"reason": "ended"})
    assert world.sign(lid).json()["error"]["code"] == "consent_not_allowed"


def test_erasing_the_talent_removes_their_accounts_keys_consent_and_documents(world: World) -> None:
    lid = world.licence()["id"]
    assert world.sign(lid).status_code == 201
    world.post(
        "agency",
        f"/v1/licences/{lid}/consent/documents",
        data={"signer_name": "Ana Lima"},
        files={"file": ("c.pdf", PDF)},
    )
    ana = world.talents["Ana"]
    with world.ctx.db.session() as session:
        accounts.create_user(session, email="ana@talent.example", role=Role.TALENT, talent=ana)
    documents = world.ctx.consent_documents()
    assert documents.talent_keys(ana)
    erased = world.client.delete(f"/v1/talents/{ana}", headers=world.auth("agency"))
    assert erased.status_code == 200
    assert documents.talent_keys(ana) == []
    with world.ctx.db.session() as session:
        for model in (ConsentRecord, User):
            assert session.scalar(select(func.count()).select_from(model)) == 0, model
        assert (
            session.scalar(
                select(func.count()).select_from(ApiKey).where(ApiKey.talent_id.is_not(None))
            )
            == 1
        )  # Bea's only
    assert world.get("ana", "/v1/me").status_code == 401


def test_talent_keys_and_users_name_exactly_one_existing_talent(world: World) -> None:
    with world.ctx.db.session() as session:
        with pytest.raises(InvalidRequestError):
            create_key(session, role=Role.TALENT)
        with pytest.raises(InvalidRequestError):
            create_key(
                session, role=Role.AGENCY, agency="Lumen Models", talent=world.talents["Ana"]
            )
        with pytest.raises(Exception, match="No talent with id 999"):
            accounts.create_user(session, email="x@talent.example", role=Role.TALENT, talent=999)
        user = accounts.create_user(
            session, email="ana@talent.example", role=Role.TALENT, talent=world.talents["Ana"]
        )
        principal = accounts.principal_for(user)
        assert principal.talent_id == world.talents["Ana"] and principal.agency_id is None


def test_talent_users_and_keys_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from service import cli as service_cli
    from tests.conftest import MODEL_CACHE, TEST_DATABASE_URL

    if TEST_DATABASE_URL is not None:  # the commands and the context share one database
        monkeypatch.setenv("TWINWATCH_DATABASE_URL", TEST_DATABASE_URL)
    monkeypatch.setenv("TWINWATCH_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TWINWATCH_MODEL_CACHE_DIR", str(MODEL_CACHE))
    monkeypatch.setenv("TWINWATCH_PUBLIC_URL", "https://watch.example")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(service_cli.app, list(args))
        return result.exit_code, result.output

    code, output = run(
        "users", "create", "--email", "ana@talent.example", "--role", "talent", "--talent", "1"
    )
    assert code == 1 and "talent_not_found" in output
    assert run("agencies", "create", "Lumen Models")[0] == 0
    settings = service_settings(tmp_path)
    ctx = start(settings, analyser=FakeAnalyser())
    try:
        agency_id = ctx.registry.ensure_agency(name="Lumen Models").id
        talent, _ = ctx.registry.ensure_talent(agency_id=agency_id, name="Ana Lima")
    finally:
        ctx.close()
    code, output = run(
        "users",
        "create",
        "--email",
        "ana@talent.example",
        "--role",
        "talent",
        "--talent",
        str(talent.id),
    )
    assert code == 0, output
    assert output.strip().splitlines()[-1].startswith("https://watch.example/console/invite/")
    code, output = run("keys", "create", "--role", "talent", "--talent", str(talent.id))
    assert code == 0 and output.strip().splitlines()[-1].startswith("tw_"), output
    code, output = run(
        "keys", "create", "--role", "agency", "--agency", "Lumen Models", "--talent", str(talent.id)
    )
    assert code == 1 and "invalid_request" in output


# --- the pure rule (service.licensing.evaluate, rule 8) ----------------------------------------
def _replica(*windows: ConsentWindow, required: bool = True) -> LicenceTerms:
    return licence(media=(Medium.AI_REPLICA,), consent_required=required, consents=windows)


def test_consent_windows_cover_from_signature_until_withdrawal() -> None:
    signed, withdrawn = SEEN - timedelta(hours=1), SEEN + timedelta(hours=1)
    window = ConsentWindow(signed_at=signed, withdrawn_at=withdrawn)
    assert evaluate(_replica(window), image=ai_image()).verdict is Verdict.LICENSED
    assert (
        evaluate(_replica(ConsentWindow(signed_at=SEEN)), image=ai_image()).verdict
        is Verdict.LICENSED
    )  # signed at the instant
    at_withdrawal = evaluate(
        _replica(ConsentWindow(signed_at=signed, withdrawn_at=SEEN)), image=ai_image()
    )
    assert at_withdrawal.verdict is Verdict.UNLICENSED
    assert at_withdrawal.checks[0].failures[0].code is FailureCode.CONSENT_WITHDRAWN
    assert WITHDRAWN in at_withdrawal.reasons[0]
    early = evaluate(
        _replica(ConsentWindow(signed_at=SEEN + timedelta(seconds=1))), image=ai_image()
    )
    assert [f.code for f in early.checks[0].failures] == [FailureCode.CONSENT_NOT_SIGNED]
    assert early.reasons == [f"licence 3 (H&M): {NOT_SIGNED}"]
    resigned = _replica(
        ConsentWindow(signed_at=signed - timedelta(days=1), withdrawn_at=signed),
        ConsentWindow(signed_at=signed),
    )
    assert evaluate(resigned, image=ai_image()).verdict is Verdict.LICENSED
    assert evaluate(_replica(required=False), image=ai_image()).verdict is Verdict.LICENSED


def test_a_consent_failure_is_reported_beside_the_other_failures() -> None:
    verdict = evaluate(_replica(), image=ai_image(), territory="FR")
    assert [f.code for f in verdict.checks[0].failures] == [
        FailureCode.OUTSIDE_TERRITORY,
        FailureCode.CONSENT_NOT_SIGNED,
    ]
    photo = evaluate(licence(consent_required=True))
    assert photo.reasons == ["licence 3 (H&M): consent not signed by the talent"]
