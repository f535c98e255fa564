"""Consent that holds up in a dispute (issue 17), through the real API and database: an
agency's upload of a paper signature is its attestation until the talent confirms it (or
an admin verifies it), nothing but the talent's own act reverses her withdrawal, concurrent
signatures leave exactly one live record, every consent event is an entry of a per-talent
hash chain that ``twinwatch consent verify`` checks, and each licence has a certificate."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, text, update
from typer.testing import CliRunner

from service import cli as service_cli
from service.access import accounts
from service.access.keys import create_key
from service.context import AppContext
from service.core.principal import Role
from service.core.tables.licensing import ConsentChain, ConsentEvent, ConsentRecord
from service.jobs.worker import EmailDispatcher
from service.licensing import consent_ledger
from tests.api.test_talent_consent import ANA, PDF, World, licence_verdict, talent_world
from tests.conftest import TEST_DATABASE_URL
from tests.support.console import console_world
from tests.support.takedowns import smtp_server

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`

PDF_DIGEST = hashlib.sha256(PDF).hexdigest()
OTHER_PDF = PDF + b"% a second page\n"


def deliver_all(ctx: AppContext) -> int:
    """Every due e-mail (the dispatcher claims one message per run)."""
    dispatcher, sent = EmailDispatcher(ctx), 0
    while delivered := asyncio.run(dispatcher.run_once()):
        sent += delivered
    return sent


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with talent_world(tmp_path) as built:
        yield built


def upload(world: World, lid: int, *, signer: str = "Ana Lima", data: bytes = PDF) -> Any:
    return world.post(
        "agency",
        f"/v1/licences/{lid}/consent/documents",
        data={"signer_name": signer},
        files={"file": ("signed.pdf", data, "application/pdf")},
    )


def terms_of(world: World, lid: int, who: str = "ana") -> str:
    return str(world.get(who, f"/v1/licences/{lid}/consent").json()["terms_sha256"])


def confirm(
    world: World,
    lid: int,
    record_id: int,
    *,
    who: str = "ana",
    terms: str | None = None,
    document: str = PDF_DIGEST,
    act: str = "confirm",
) -> Any:
    body = {"terms_sha256": terms or terms_of(world, lid), "document_sha256": document}
    return world.post(who, f"/v1/licences/{lid}/consent/records/{record_id}/{act}", json=body)


def status_of(world: World, lid: int) -> str:
    return str(world.get("agency", f"/v1/licences/{lid}").json()["consent"]["status"])


def kinds(world: World, lid: int, who: str = "agency") -> list[str]:
    response = world.get(who, f"/v1/licences/{lid}/consent/events")
    assert response.status_code == 200, response.text
    return [event["kind"] for event in response.json()]


# --- documents are attested, not signed, until the talent confirms ---------------------------
def test_a_document_in_someone_elses_name_is_refused_and_changes_nothing(world: World) -> None:
    lid = world.licence()["id"]
    refused = upload(world, lid, signer="Somebody Else")
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "consent_signature_mismatch"
    assert error["details"]["field"] == "signer_name"
    assert status_of(world, lid) == "awaiting_signature"
    assert world.get("agency", f"/v1/licences/{lid}/consent").json()["records"] == []
    assert kinds(world, lid) == ["terms_set"]


def test_an_uploaded_document_counts_only_once_the_talent_confirms_it(world: World) -> None:
    lid = world.licence()["id"]
    uploaded = upload(world, lid, signer="  ANA   lima ")  # folded like a signature
    assert uploaded.status_code == 201, uploaded.text
    record = uploaded.json()
    assert record["status"] == "attested_by_agency" and record["in_force_from"] is None
    assert licence_verdict(world.scan(ANA, seed=2))["verdict"] == "unlicensed"

    seen = world.get("ana", f"/v1/licences/{lid}/consent").json()
    assert seen["status"] == "awaiting_confirmation"
    assert seen["records"][0]["document"]["sha256"] == PDF_DIGEST
    assert (
        world.get("ana", f"/v1/licences/{lid}/consent/records/{record['id']}/document").content
        == PDF
    )

    for who in ("agency", "brand", "monitor"):
        assert confirm(world, lid, record["id"], who=who).status_code == 403, who
    wrong = confirm(world, lid, record["id"], document="f" * 64)
    assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "consent_document_mismatch"
    stale = confirm(world, lid, record["id"], terms="0" * 64)
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "consent_terms_changed"
    assert licence_verdict(world.scan(ANA, seed=3))["verdict"] == "unlicensed"

    confirmed = confirm(world, lid, record["id"])
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["status"] == "confirmed" and body["in_force_from"] == body["confirmation"]["at"]
    assert body["confirmation"]["by"] == "talent" and body["confirmation"]["key_id"] is not None
    assert status_of(world, lid) == "signed"
    assert licence_verdict(world.scan(ANA, seed=4))["verdict"] == "licensed"
    assert confirm(world, lid, record["id"]).json() == body  # a retry confirms once
    assert kinds(world, lid) == ["terms_set", "document_attested", "confirmed_by_talent"]


def test_an_admin_verifies_a_document_on_a_licence_the_talent_never_withdrew(
    world: World,
) -> None:
    lid = world.licence()["id"]
    record = upload(world, lid).json()
    for who in ("agency", "ana"):
        assert confirm(world, lid, record["id"], who=who, act="verify").status_code == 403
    verified = confirm(world, lid, record["id"], who="admin", act="verify")
    assert verified.status_code == 200, verified.text
    assert verified.json()["confirmation"]["by"] == "admin"
    assert licence_verdict(world.scan(ANA, seed=2))["verdict"] == "licensed"
    assert kinds(world, lid)[-1] == "verified_by_admin"


def test_after_a_withdrawal_only_the_talents_own_act_puts_the_licence_back_in_force(
    world: World,
) -> None:
    """The hostile finding: the agency re-uploaded a document after the talent withdrew,
    and the licence was back in force with a new live record."""
    lid = world.licence()["id"]
    assert world.sign(lid).status_code == 201
    before = upload(world, lid, data=OTHER_PDF).json()  # a paper from before the withdrawal
    assert world.post("ana", f"/v1/licences/{lid}/consent/withdraw").status_code == 200

    again = upload(world, lid)
    assert again.status_code == 201 and again.json()["status"] == "attested_by_agency"
    assert status_of(world, lid) == "awaiting_confirmation"
    assert licence_verdict(world.scan(ANA, seed=2))["verdict"] == "unlicensed"
    for record in (before, again.json()):
        refused = confirm(
            world,
            lid,
            record["id"],
            who="admin",
            act="verify",
            document=record["document"]["sha256"],
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "consent_withdrawn"
    withdrawn_paper = confirm(world, lid, before["id"], document=before["document"]["sha256"])
    assert withdrawn_paper.status_code == 409  # she withdrew that one: she signs anew instead
    assert licence_verdict(world.scan(ANA, seed=3))["verdict"] == "unlicensed"

    assert confirm(world, lid, again.json()["id"]).status_code == 200  # her own new act
    assert licence_verdict(world.scan(ANA, seed=4))["verdict"] == "licensed"


# --- exactly one live record under concurrent signing -------------------------------------------
def test_twelve_concurrent_signatures_leave_one_live_record_and_all_answer_with_it(
    world: World,
) -> None:
    lid = world.licence()["id"]
    body = {"signature_name": "Ana Lima", "terms_sha256": terms_of(world, lid)}
    start = threading.Barrier(12)
    answers: list[tuple[int, Any]] = []

    def sign() -> None:
        client = TestClient(world.client.app)  # its own client, session and connection
        start.wait()
        response = client.post(f"/v1/licences/{lid}/consent", headers=world.auth("ana"), json=body)
        answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=sign) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert [status for status, _ in answers] == [201] * 12, answers
    assert len({answer["id"] for _, answer in answers}) == 1
    with world.ctx.db.session() as session:
        live = session.scalars(
            select(ConsentRecord).where(
                ConsentRecord.licence_id == lid, ConsentRecord.withdrawn_at.is_(None)
            )
        ).all()
        assert [record.id for record in live] == [answers[0][1]["id"]]
    assert kinds(world, lid) == ["terms_set", "signed"]
    assert world.sign(lid).json()["id"] == answers[0][1]["id"]  # and once more, later


# --- the ledger ---------------------------------------------------------------------------------
def test_every_consent_event_is_a_link_of_the_talents_own_hash_chain(world: World) -> None:
    lid = world.licence()["id"]
    record = upload(world, lid).json()
    assert confirm(world, lid, record["id"]).status_code == 200
    changed = world.client.put(
        f"/v1/licences/{lid}/asset-scope",
        headers=world.auth("agency"),
        json={"asset_scope": "approved_assets"},
    )
    assert (
        changed.status_code == 200 and changed.json()["consent"]["status"] == "awaiting_signature"
    )
    assert world.sign(lid).status_code == 201
    assert world.post("ana", f"/v1/licences/{lid}/consent/withdraw").status_code == 200
    bea = world.licence("Bea")["id"]

    events = world.get("ana", f"/v1/licences/{lid}/consent/events").json()
    assert [e["kind"] for e in events] == [
        "terms_set",
        "document_attested",
        "confirmed_by_talent",
        "terms_set",
        "signed",
        "withdrawn",
    ]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert events[0]["prev_sha256"] == "0" * 64
    assert all(b["prev_sha256"] == a["sha256"] for a, b in itertools.pairwise(events))
    assert [e["actor"]["role"] for e in events] == [
        "agency",
        "agency",
        "talent",
        "agency",
        "talent",
        "talent",
    ]
    assert events[3]["terms_sha256"] != events[0]["terms_sha256"]
    assert events[3]["terms"]["asset_scope"] == "approved_assets"
    assert events[1]["detail"]["document_sha256"] == PDF_DIGEST

    mine = world.get("ana", "/v1/me/consent-events").json()
    assert mine["total"] == 6 and mine["items"][0]["kind"] == "withdrawn"  # newest first
    bea_events = world.get("bea", "/v1/me/consent-events").json()["items"]
    assert [(e["licence_id"], e["seq"], e["prev_sha256"]) for e in bea_events] == [
        (bea, 1, "0" * 64)
    ]  # a chain of her own
    assert world.get("bea", f"/v1/licences/{lid}/consent/events").status_code == 404
    assert world.get("other_agency", f"/v1/licences/{lid}/consent/events").status_code == 404
    for who in ("brand", "monitor"):
        assert world.get(who, f"/v1/licences/{lid}/consent/events").status_code == 403
        assert world.get(who, "/v1/me/consent-events").status_code == 403
    with world.ctx.db.session() as session:
        result = consent_ledger.verify(session)
    assert result.ok and result.events == 7
    assert sorted(c.length for c in result.chains) == [1, 6]


def run_verify(world: World, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """``twinwatch consent verify`` on the world's own database."""
    if TEST_DATABASE_URL is not None:
        monkeypatch.setenv("TWINWATCH_DATABASE_URL", TEST_DATABASE_URL)
    monkeypatch.setenv("TWINWATCH_DATA_DIR", str(world.ctx.settings.data_dir))
    monkeypatch.setenv("TWINWATCH_MODEL_CACHE_DIR", str(world.ctx.settings.model_cache_dir))
    result = CliRunner().invoke(service_cli.app, ["consent", "verify"])
    return result.exit_code, result.output


@pytest.fixture
def ledger(world: World) -> World:
    """Ana: a licence signed, a document attested, a withdrawal; Bea: a licence."""
    lid = world.licence()["id"]
    assert world.sign(lid).status_code == 201
    assert upload(world, lid).status_code == 201
    assert world.post("ana", f"/v1/licences/{lid}/consent/withdraw").status_code == 200
    world.licence("Bea")
    return world


def event_ids(world: World) -> list[int]:
    with world.ctx.db.session() as session:
        return list(
            session.scalars(
                select(ConsentEvent.id)
                .where(ConsentEvent.talent_id == world.talents["Ana"])
                .order_by(ConsentEvent.seq)
            )
        )


def sql(world: World, statement: Any) -> None:
    with world.ctx.db.session() as session:
        session.execute(statement)


def test_verify_reports_a_clean_ledger_with_its_count_and_heads(
    ledger: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = run_verify(ledger, monkeypatch)
    assert code == 0, output
    assert "OK: 5 consent event(s) in 2 chain(s)" in output
    with ledger.ctx.db.session() as session:
        head = session.scalars(
            select(ConsentChain.head_sha256).where(ConsentChain.talent_id == ledger.talents["Ana"])
        ).one()
    assert f"talent {ledger.talents['Ana']}: 4 event(s), head {head}" in output


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("at", datetime(2031, 1, 1, tzinfo=UTC)),
        ("terms_sha256", "0" * 64),
        ("actor_role", "admin"),
        ("detail", {"signer_name": "Somebody Else"}),
    ],
)
def test_verify_names_an_event_edited_in_the_database(
    ledger: World, monkeypatch: pytest.MonkeyPatch, column: str, value: object
) -> None:
    edited = event_ids(ledger)[1]
    sql(ledger, update(ConsentEvent).where(ConsentEvent.id == edited).values({column: value}))
    code, output = run_verify(ledger, monkeypatch)
    assert code == 1, output
    assert output.startswith("BROKEN") and f"event {edited} " in output, output


def test_verify_catches_a_removed_event_in_the_middle_and_at_the_head(
    ledger: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, second, third, newest = event_ids(ledger)
    sql(ledger, delete(ConsentEvent).where(ConsentEvent.id == second))
    code, output = run_verify(ledger, monkeypatch)
    assert code == 1 and f"event {third} " in output and "missing" in output, output

    sql(ledger, delete(ConsentEvent).where(ConsentEvent.id.in_([third, newest])))
    code, output = run_verify(ledger, monkeypatch)
    assert code == 1 and "chain head says 4 event(s)" in output, output


@pytest.mark.parametrize(
    ("record", "change", "found"),
    [
        (0, "withdrawn_at = NULL", "the ledger withdraws it but the record is not withdrawn"),
        (1, "status = 'confirmed'", "does not follow from its method and confirmation"),
        (1, "signer_name = 'Somebody Else'", "no ledger event records its creation"),
    ],
)
def test_verify_catches_a_consent_record_changed_behind_the_ledger(
    ledger: World, monkeypatch: pytest.MonkeyPatch, record: int, change: str, found: str
) -> None:
    """Re-activating withdrawn consent, promoting an attested document, renaming a signer."""
    with ledger.ctx.db.session() as session:
        changed = session.scalars(select(ConsentRecord.id).order_by(ConsentRecord.id)).all()[record]
    sql(ledger, text(f"UPDATE consent_records SET {change} WHERE id = :id").bindparams(id=changed))
    code, output = run_verify(ledger, monkeypatch)
    assert code == 1 and f"consent record {changed} " in output and found in output, output


def test_erasing_a_talent_removes_her_whole_chain_and_the_ledger_still_verifies(
    ledger: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    ana = ledger.talents["Ana"]
    with ledger.ctx.db.session() as session:
        accounts.create_user(session, email="ana@talent.example", role=Role.TALENT, talent=ana)
    erased = ledger.client.delete(f"/v1/talents/{ana}", headers=ledger.auth("agency"))
    assert erased.status_code == 200, erased.text
    with ledger.ctx.db.session() as session:
        for model in (ConsentEvent, ConsentChain):
            talents = session.scalars(select(model.talent_id).distinct()).all()
            assert talents == [ledger.talents["Bea"]], model
        assert session.scalar(select(func.count()).select_from(ConsentRecord)) == 0
    code, output = run_verify(ledger, monkeypatch)
    assert code == 0 and "OK: 1 consent event(s) in 1 chain(s)" in output, output


# --- the certificate ----------------------------------------------------------------------------
def test_the_certificate_shows_terms_signer_method_times_account_and_chain_head(
    world: World,
) -> None:
    ana = world.talents["Ana"]
    with world.ctx.db.session() as session:
        accounts.create_user(session, email="ana@talent.example", role=Role.TALENT, talent=ana)
    lid = world.licence()["id"]
    record = upload(world, lid).json()
    assert confirm(world, lid, record["id"], who="admin", act="verify").status_code == 200
    terms = terms_of(world, lid)
    head = world.get("agency", f"/v1/licences/{lid}/consent/events").json()[-1]["sha256"]

    for who in ("agency", "ana", "admin"):
        page = world.get(who, f"/v1/licences/{lid}/consent/certificate.html")
        assert page.status_code == 200, (who, page.text)
        html = page.text
        for fact in (
            terms,
            head,
            "Ana Lima",
            "ana@talent.example",
            "Verified by an administrator",
            "document signed offline",
            PDF_DIGEST,
            "intact",
            "Maison Verte",
        ):
            assert fact in html, (who, fact)
    pdf = world.get("agency", f"/v1/licences/{lid}/consent/certificate.pdf")
    if pdf.status_code == 503:
        pytest.skip("PDF output needs Pango (scripts/ensure-pdf.sh)")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    for who, status in (("other_agency", 404), ("bea", 404), ("brand", 403), ("monitor", 403)):
        for suffix in ("html", "pdf"):
            answer = world.get(who, f"/v1/licences/{lid}/consent/certificate.{suffix}")
            assert answer.status_code == status, (who, suffix)


def test_without_weasyprint_the_certificate_pdf_is_a_503_and_the_html_still_works(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    lid = world.licence()["id"]
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as if it (or Pango) were missing
    pdf = world.get("agency", f"/v1/licences/{lid}/consent/certificate.pdf")
    assert pdf.status_code == 503 and pdf.json()["error"]["code"] == "pdf_unavailable"
    assert world.get("agency", f"/v1/licences/{lid}/consent/certificate.html").status_code == 200


def test_bad_confirmations_are_refused_in_the_envelope(world: World) -> None:
    lid = world.licence()["id"]
    record = upload(world, lid).json()
    path = f"/v1/licences/{lid}/consent/records/{record['id']}/confirm"
    for body in (
        {},
        {"terms_sha256": "x", "document_sha256": PDF_DIGEST},
        {"terms_sha256": PDF_DIGEST, "document_sha256": PDF_DIGEST, "extra": 1},
    ):
        refused = world.post("ana", path, json=body)
        assert refused.status_code == 422 and "error" in refused.json(), body
    missing = confirm(world, lid, 2**62)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    signed = world.licence(licensee="Maison Bleue")["id"]
    signature = world.sign(signed).json()
    not_a_document = confirm(world, signed, signature["id"], document=PDF_DIGEST)
    assert not_a_document.status_code == 409
    assert not_a_document.json()["error"]["code"] == "consent_not_allowed"


# --- every consent event reaches the talent -------------------------------------------------------
def test_every_consent_event_reaches_the_talents_own_inbox_and_not_the_agencys_list(
    tmp_path: Path,
) -> None:
    with (
        smtp_server() as inbox,
        console_world(
            tmp_path, smtp_host="127.0.0.1", smtp_port=inbox.port, smtp_starttls=False
        ) as mail,
    ):
        ada = mail.talents["Ada Lovelace"]
        with mail.ctx.db.session() as session:
            accounts.create_user(session, email="ada@talent.example", role=Role.TALENT, talent=ada)
            talent = {
                "Authorization": f"Bearer {create_key(session, role=Role.TALENT, talent=ada).key}"
            }
        agency = {"Authorization": f"Bearer {mail.keys['agency']}"}
        created = mail.client.post(
            f"/v1/talents/{ada}/licences",
            headers=agency,
            json={
                "licensee": "Maison Verte",
                "publishers": ["shop.example"],
                "media": ["ai_replica"],
                "ai_label_required": False,
                "valid_from": "2026-01-01",
            },
        )
        lid = created.json()["id"]
        uploaded = mail.client.post(
            f"/v1/licences/{lid}/consent/documents",
            headers=agency,
            data={"signer_name": "Ada Lovelace"},
            files={"file": ("signed.pdf", PDF, "application/pdf")},
        )
        assert uploaded.status_code == 201, uploaded.text
        terms = mail.client.get(f"/v1/licences/{lid}/consent", headers=talent).json()
        signed = mail.client.post(
            f"/v1/licences/{lid}/consent",
            headers=talent,
            json={"signature_name": "Ada Lovelace", "terms_sha256": terms["terms_sha256"]},
        )
        assert signed.status_code == 201, signed.text
        assert mail.client.post(f"/v1/licences/{lid}/consent/withdraw", headers=talent).is_success

        assert deliver_all(mail.ctx) == 4
        assert inbox.envelopes == [["ada@talent.example"]] * 4
        subjects = [" ".join(str(message["Subject"]).split()) for message in inbox.messages]
        assert subjects == [
            f"Licence {lid} (Maison Verte) awaits your signature",
            f"A document signed in your name was uploaded for licence {lid} (Maison Verte)",
            f"You signed licence {lid} (Maison Verte)",
            f"You withdrew your consent to licence {lid} (Maison Verte)",
        ]
        for message in inbox.messages:
            plain = message.get_body(("plain",))
            assert plain is not None and terms["terms_sha256"] in plain.get_content()
            parts = {part.get_content_type() for part in message.walk()}
            assert parts == {"multipart/alternative", "text/plain", "text/html"}  # no document
        assert deliver_all(mail.ctx) == 0  # once per event
        listed = mail.client.get("/v1/emails", headers=agency)
        assert listed.status_code == 200 and listed.json() == []  # hers, not the agency's
