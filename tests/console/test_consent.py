"""The talent's own console pages and the agency's consent pages, through the real app
(TestClient, the fake analyser): the agency invites the talent from the talent's page, the
talent signs in, sees only their own sightings, licences and pay, signs and withdraws,
confirms a document uploaded in her name and reads every consent event of hers; the agency
sees what awaits a signature and uploads an offline signed document, which an admin may
verify; each licence's consent certificate is a download for the agency and the talent."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from indexer.db import utcnow
from service.jobs.worker import EmailDispatcher
from tests.console.test_pages import browser, page_csrf
from tests.support.console import PASSWORD, ConsoleWorld, sign_in
from tests.support.mail import link_path, mailing_console_world, messages_to, plain_text
from tests.support.takedowns import SmtpInbox

PDF = b"%PDF-1.4\n%%EOF\n"


@pytest.fixture
def mailed(tmp_path: Path) -> Iterator[tuple[ConsoleWorld, SmtpInbox]]:
    with mailing_console_world(tmp_path) as built:  # invitations go by e-mail (issue 17)
        yield built


@pytest.fixture
def world(mailed: tuple[ConsoleWorld, SmtpInbox]) -> ConsoleWorld:
    return mailed[0]


@pytest.fixture
def inbox(mailed: tuple[ConsoleWorld, SmtpInbox]) -> SmtpInbox:
    return mailed[1]


def replica_licence(world: ConsoleWorld, talent: str = "Ada Lovelace") -> int:
    key = world.keys["agency" if talent == "Ada Lovelace" else "other_agency"]
    response = world.client.post(
        f"/v1/talents/{world.talents[talent]}/licences",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "licensee": "Maison Verte",
            "publishers": ["shop.example"],
            "media": ["ai_replica"],
            "ai_label_required": False,
            "valid_from": utcnow().date().isoformat(),
            "compensation": {"per_use": "25.00", "currency": "EUR"},
        },
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def invited_talent(world: ConsoleWorld, inbox: SmtpInbox) -> TestClient:
    """The agency invites Ada from her page; the link reaches Ada's address (never the
    agency's page); Ada sets her password and signs in."""
    agency = browser(world, "agency")
    talent_id = world.talents["Ada Lovelace"]
    page = agency.get(f"/console/talents/{talent_id}")
    assert f"/console/talents/{talent_id}/access" in page.text
    csrf = page_csrf(agency, f"/console/talents/{talent_id}/access")
    shown = agency.post(
        f"/console/talents/{talent_id}/access", data={"csrf": csrf, "email": "ada@talent.example"}
    )
    assert shown.status_code == 200, shown.text
    assert "Invitation sent to a***@talent.example" in shown.text
    assert "/console/invite/" not in shown.text
    link = link_path(messages_to(inbox, "ada@talent.example")[-1])
    ada = TestClient(world.client.app)
    ada.get(link)
    accepted = ada.post(
        link,
        data={"password": PASSWORD, "csrf": ada.cookies.get("twinwatch_login_csrf") or ""},
        follow_redirects=False,
    )
    assert accepted.status_code == 303, accepted.text
    signed_in = sign_in(ada, "ada@talent.example")
    assert signed_in.status_code == 303
    return ada


def test_the_talent_signs_in_to_their_own_sightings_and_nothing_else(
    world: ConsoleWorld, inbox: SmtpInbox
) -> None:
    world.scan(7, publisher="shop.example", seed=3)
    world.scan(9, publisher="shop.example", seed=4)  # Grace, another agency's talent
    ada = invited_talent(world, inbox)
    home = ada.get("/console/", follow_redirects=False)
    assert home.headers["location"] == "/console/me"
    sightings = ada.get("/console/me")
    assert sightings.status_code == 200
    assert "1 sighting" in sightings.text and "shop.example" in sightings.text
    assert "Grace" not in sightings.text
    assert "Ada Lovelace" in sightings.text and "Demo Agency" in sightings.text
    for path in (
        "/console/alerts",
        "/console/talents",
        "/console/consent",
        f"/console/talents/{world.talents['Ada Lovelace']}",
    ):
        assert ada.get(path).status_code == 403, path
    grace = replica_licence(world, "Grace Hopper")
    assert ada.get(f"/console/me/licences/{grace}").status_code == 404
    assert browser(world, "agency").get("/console/me").status_code == 403


def test_the_talent_signs_a_replica_licence_and_withdraws_it_in_the_console(
    world: ConsoleWorld, inbox: SmtpInbox
) -> None:
    lid = replica_licence(world)
    agency = browser(world, "agency")
    assert f"Licence {lid}" in agency.get("/console/consent").text
    ada = invited_talent(world, inbox)
    listing = ada.get("/console/me/licences")
    assert "awaiting signature" in listing.text and "25.00 EUR" in listing.text
    page = ada.get(f"/console/me/licences/{lid}")
    digest = re.search(r'name="terms_sha256" value="([0-9a-f]{64})"', page.text)
    assert digest is not None
    csrf = page_csrf(ada, f"/console/me/licences/{lid}")
    wrong = ada.post(
        f"/console/me/licences/{lid}/sign",
        data={"csrf": csrf, "terms_sha256": digest.group(1), "signature_name": "Grace Hopper"},
    )
    assert wrong.status_code == 422 and "consent_signature_mismatch" in wrong.text
    forged = ada.post(
        f"/console/me/licences/{lid}/sign",
        data={"csrf": "forged", "terms_sha256": digest.group(1), "signature_name": "Ada Lovelace"},
    )
    assert forged.status_code == 403
    signed = ada.post(
        f"/console/me/licences/{lid}/sign",
        data={"csrf": csrf, "terms_sha256": digest.group(1), "signature_name": "Ada Lovelace"},
    )
    assert signed.status_code == 200 and "You signed this licence" in signed.text
    assert "Withdraw consent" in signed.text and "these terms" in signed.text
    assert f"Licence {lid}" not in agency.get("/console/consent").text
    agency_mail = "alerts@demo.example"
    preferences = world.client.put(
        "/v1/email-preferences",
        headers={"Authorization": f"Bearer {world.keys['agency']}"},
        json={"recipients": [agency_mail]},
    )
    assert preferences.status_code == 200, preferences.text
    unconfirmed = ada.post(f"/console/me/licences/{lid}/withdraw", data={"csrf": csrf})
    assert unconfirmed.status_code == 422  # one click is not enough: the page before asks
    assert "No talent of yours has withdrawn consent" in agency.get("/console/consent").text
    step = ada.get(f"/console/me/licences/{lid}/withdraw")
    assert "your agency, Demo Agency, is told" in step.text
    withdrawn = ada.post(
        f"/console/me/licences/{lid}/withdraw", data={"csrf": csrf, "confirm": "yes"}
    )
    assert withdrawn.status_code == 200 and "You withdrew your consent" in withdrawn.text
    told = agency.get("/console/consent").text
    assert f'withdrew her consent to <a href="/console/licences/{lid}/consent">' in told
    dispatcher = EmailDispatcher(world.ctx)
    while asyncio.run(dispatcher.run_once()):  # one message a turn, the talent's included
        pass
    (notice,) = messages_to(inbox, agency_mail)
    assert notice["Subject"] == f"Ada Lovelace withdrew consent to licence {lid} (Maison Verte)"
    assert "Uses of her likeness seen from now on under this licence are unlicensed" in (
        plain_text(notice)
    )
    assert "withdrew consent" in agency.get("/console/email").text  # its outbox lists it
    assert "withdrawn" in ada.get("/console/me/licences").text
    ledger = ada.get("/console/me/ledger")
    assert ledger.status_code == 200 and "Nothing yet." in ledger.text


def test_the_agency_uploads_an_offline_signed_document_in_the_console(
    world: ConsoleWorld, inbox: SmtpInbox
) -> None:
    lid = replica_licence(world)
    agency = browser(world, "agency")
    page = agency.get(f"/console/licences/{lid}/consent")
    assert "Upload a document the talent signed" in page.text
    csrf = page_csrf(agency, f"/console/licences/{lid}/consent")
    bad = agency.post(
        f"/console/licences/{lid}/consent/documents",
        data={"csrf": csrf, "signer_name": "Ada Lovelace"},
        files={"file": ("note.txt", b"yes", "text/plain")},
    )
    assert bad.status_code == 415
    someone_else = agency.post(
        f"/console/licences/{lid}/consent/documents",
        data={"csrf": csrf, "signer_name": "Somebody Else"},
        files={"file": ("signed.pdf", PDF, "application/pdf")},
    )
    assert someone_else.status_code == 422 and "consent_signature_mismatch" in someone_else.text
    uploaded = agency.post(
        f"/console/licences/{lid}/consent/documents",
        data={"csrf": csrf, "signer_name": "Ada Lovelace"},
        files={"file": ("signed.pdf", PDF, "application/pdf")},
    )
    assert uploaded.status_code == 200 and "signed.pdf" in uploaded.text
    assert "awaiting the talent's confirmation" in uploaded.text
    link = re.search(r'href="(/console/licences/\d+/consent/records/\d+/document)"', uploaded.text)
    assert link is not None
    assert agency.get(link.group(1)).content == PDF
    ada = invited_talent(world, inbox)
    assert ada.get(link.group(1)).content == PDF  # the talent sees their own evidence
    assert browser(world, "other_agency").get(link.group(1)).status_code == 404
    assert browser(world, "brand").get(link.group(1)).status_code == 403


def test_inviting_another_tenants_address_in_the_console_looks_like_a_fresh_invitation(
    world: ConsoleWorld, inbox: SmtpInbox
) -> None:
    """Whether the address is fresh or another tenant's account (issue 17), the page an
    invitation answers and the talent's page afterwards differ only in the talent; so do a
    second address and the same address again. Nothing usable is made for the other
    tenant's address: its owner gets a note without a link, naming nobody."""
    agency = browser(world, "agency")
    agency_id = world.ctx.registry.ensure_agency(name="Demo Agency").id
    bea, _ = world.ctx.registry.ensure_talent(agency_id=agency_id, name="Bea Silva")
    taken = world.email("other_agency")  # booker@other.example, another agency's booker
    fresh = "bea@other.example"  # masked alike: b***@other.example
    ada_id = world.talents["Ada Lovelace"]

    def seen(name: str, talent_id: int, text: str) -> str:
        text = re.sub(r'id="account-\d+"', 'id="account-N"', text)
        for said, shown in ((name, "NAME"), (f"/talents/{talent_id}", "/talents/ID")):
            text = text.replace(said, shown)
        return text.replace(f"Talent {talent_id} ", "Talent ID ")

    def invite(name: str, talent_id: int, email: str) -> tuple[int, str]:
        path = f"/console/talents/{talent_id}/access"
        shown = agency.post(path, data={"csrf": page_csrf(agency, path), "email": email})
        assert "/console/invite/" not in shown.text and email not in shown.text
        return shown.status_code, seen(name, talent_id, shown.text)

    def access_page(name: str, talent_id: int) -> str:
        return seen(name, talent_id, agency.get(f"/console/talents/{talent_id}/access").text)

    first = invite("Ada Lovelace", ada_id, fresh)
    assert first[0] == 200 and "Invitation sent to b***@other.example" in first[1]
    assert invite("Bea Silva", bea.id, taken) == first
    ada_page = access_page("Ada Lovelace", ada_id)
    assert "<td>b***@other.example</td><td>invited, no password yet</td>" in ada_page
    assert access_page("Bea Silva", bea.id) == ada_page
    assert invite("Bea Silva", bea.id, taken) == invite("Ada Lovelace", ada_id, fresh)
    second = invite("Ada Lovelace", ada_id, "someone.else@talent.example")
    assert second[0] == 409 and "talent_has_account" in second[1]
    assert invite("Bea Silva", bea.id, "someone.else@talent.example") == second

    invitations = messages_to(inbox, fresh)
    assert len(invitations) == 2 and all(link_path(m) for m in invitations)
    notes = messages_to(inbox, taken)
    assert len(notes) == 2 and len(inbox.messages) == 4
    for note in notes:
        text = plain_text(note)
        assert "/console/" not in text and "nothing was made" in text
        assert "Demo Agency" not in text and "Bea" not in text
    other = TestClient(world.client.app)
    assert sign_in(other, taken).status_code == 303  # the other tenant's account is untouched


def upload_document(world: ConsoleWorld, lid: int) -> None:
    agency = browser(world, "agency")
    csrf = page_csrf(agency, f"/console/licences/{lid}/consent")
    uploaded = agency.post(
        f"/console/licences/{lid}/consent/documents",
        data={"csrf": csrf, "signer_name": "Ada Lovelace"},
        files={"file": ("signed.pdf", PDF, "application/pdf")},
    )
    assert uploaded.status_code == 200, uploaded.text


def test_the_talent_confirms_a_document_in_her_name_and_reads_every_consent_event(
    world: ConsoleWorld, inbox: SmtpInbox
) -> None:
    lid = replica_licence(world)
    upload_document(world, lid)
    ada = invited_talent(world, inbox)
    page = ada.get(f"/console/me/licences/{lid}")
    assert "A document signed in your name" in page.text
    assert hashlib.sha256(PDF).hexdigest() in page.text
    form = re.search(r'action="(/console/me/licences/\d+/records/\d+/confirm)"', page.text)
    terms = re.search(r'name="terms_sha256" value="([0-9a-f]{64})"', page.text)
    assert form is not None and terms is not None
    csrf = page_csrf(ada, f"/console/me/licences/{lid}")
    forged = ada.post(
        form.group(1),
        data={"csrf": csrf, "terms_sha256": terms.group(1), "document_sha256": "f" * 64},
    )
    assert forged.status_code == 409 and "consent_document_mismatch" in forged.text
    confirmed = ada.post(
        form.group(1),
        data={
            "csrf": csrf,
            "terms_sha256": terms.group(1),
            "document_sha256": hashlib.sha256(PDF).hexdigest(),
        },
    )
    assert confirmed.status_code == 200 and "You confirmed the document" in confirmed.text
    assert "confirmed by the talent" in confirmed.text
    assert f"Licence {lid}" not in browser(world, "agency").get("/console/consent").text

    events = ada.get("/console/me/consent")
    assert events.status_code == 200 and "3 events" in events.text
    for shown in ("terms set", "document attested", "confirmed by talent", "shop.example"):
        assert shown in events.text, shown
    assert terms.group(1) in events.text
    certificate = ada.get(f"/console/licences/{lid}/consent/certificate.html")
    assert certificate.status_code == 200 and "Confirmed by the talent" in certificate.text
    assert "ada@talent.example" in certificate.text and terms.group(1) in certificate.text
    assert (
        browser(world, "other_agency")
        .get(f"/console/licences/{lid}/consent/certificate.html")
        .status_code
        == 404
    )


def test_an_admin_verifies_a_document_in_the_console_but_not_after_the_talent_withdrew(
    world: ConsoleWorld, inbox: SmtpInbox
) -> None:
    verified_lid, withdrawn_lid = replica_licence(world), replica_licence(world)
    for lid in (verified_lid, withdrawn_lid):
        upload_document(world, lid)
    ada = invited_talent(world, inbox)
    csrf = page_csrf(ada, f"/console/me/licences/{withdrawn_lid}")
    assert ada.post(
        f"/console/me/licences/{withdrawn_lid}/withdraw", data={"csrf": csrf, "confirm": "yes"}
    ).is_success

    admin = browser(world, "admin")
    assert (
        "Verify record"
        not in browser(world, "agency").get(f"/console/licences/{verified_lid}/consent").text
    )
    for lid, expected in ((verified_lid, 200), (withdrawn_lid, 409)):
        page = admin.get(f"/console/licences/{lid}/consent")
        form = re.search(r'action="(/console/licences/\d+/consent/records/\d+/verify)"', page.text)
        if expected == 409:  # withdrawn: no form is offered; a forged post is refused
            assert form is None
            record = re.search(r'id="record-(\d+)"', page.text)
            assert record is not None
            action = f"/console/licences/{lid}/consent/records/{record.group(1)}/verify"
        else:
            assert form is not None
            action = form.group(1)
        terms = re.search(r'name="terms_sha256" value="([0-9a-f]{64})"', page.text)
        digest = terms.group(1) if terms else "0" * 64
        answer = admin.post(
            action,
            data={
                "csrf": page_csrf(admin, f"/console/licences/{lid}/consent"),
                "terms_sha256": digest,
                "document_sha256": hashlib.sha256(PDF).hexdigest(),
            },
        )
        assert answer.status_code == expected, answer.text
    assert "verified by an admin" in admin.get(f"/console/licences/{verified_lid}/consent").text
    refused = admin.get(f"/console/licences/{withdrawn_lid}/consent")
    assert "withdrawn" in refused.text
