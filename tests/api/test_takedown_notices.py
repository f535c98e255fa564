"""Takedown notices through the real API: drafted from a group of alerts, edited, confirmed
(immutable), as PDF with every required element and the third-party evidence; tracked:
sent, re-checked against a real local HTTP server (removed / still up), re-opened when the
image is seen again; overdue; and nobody but the agency sees them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from service.core.tables.alerts import Alert
from service.core.tables.takedowns import TakedownEvent, TakedownItem, TakedownNotice
from service.takedowns.notices import PLACEHOLDER
from tests.support.console import ConsoleWorld, console_world
from tests.support.fakes import face_photo
from tests.support.service import LocalServer, local_server
from tests.support.takedowns import (
    ADA,
    PROFILE,
    alerts_of,
    auth,
    draft,
    pdf_available,
    pdf_text,
    scan_url,
    serve_image,
    set_profile,
)

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path, fetch_allow_private_networks=True) as built:
        yield built


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


def two_sightings(
    world: ConsoleWorld, server: LocalServer, publisher: str = "shop.example"
) -> list[int]:
    """Two different images of Ada on one publisher: a group of two alerts."""
    serve_image(server, "/img/a.png", seed=11)
    serve_image(server, "/img/b.png", seed=12)
    scan_url(world, server, "/img/a.png", publisher=publisher, page="/look/1")
    scan_url(world, server, "/img/b.png", publisher=publisher, page="/look/2")
    ids = alerts_of(world, publisher)
    assert len(ids) == 2
    return ids


def confirm(world: ConsoleWorld, notice_id: int) -> dict:  # type: ignore[type-arg]
    response = world.client.post(f"/v1/takedowns/{notice_id}/confirm", headers=auth(world))
    assert response.status_code == 200, response.text
    return dict(response.json())


def mark_sent(world: ConsoleWorld, notice_id: int, **extra: str) -> dict:  # type: ignore[type-arg]
    response = world.client.post(
        f"/v1/takedowns/{notice_id}/sent",
        headers=auth(world),
        json={"sent_to": "copyright@shop.example", **extra},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def recheck(world: ConsoleWorld, notice_id: int) -> dict:  # type: ignore[type-arg]
    response = world.client.post(f"/v1/takedowns/{notice_id}/recheck", headers=auth(world))
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_dmca_notice_from_a_group_is_edited_confirmed_and_its_pdf_has_every_element(
    world: ConsoleWorld, server: LocalServer
) -> None:
    reason = pdf_available()
    if reason:
        pytest.skip(reason)
    set_profile(world)
    now = datetime.now(UTC)
    licence = world.client.post(  # licence terms, a licensee and fees: never in a notice
        f"/v1/talents/{world.talents['Ada Lovelace']}/licences",
        headers=auth(world),
        json={
            "licensee": "Secret Licensee Co",
            "publishers": ["elsewhere.example"],
            "channels": ["ecommerce"],
            "territories": ["SE"],
            "media": ["photo"],
            "ai_label_required": False,
            "valid_from": (now - timedelta(days=9)).isoformat(),
            "compensation": {"per_use": "987.65", "currency": "EUR"},
        },
    )
    assert licence.status_code == 201, licence.text
    ids = two_sightings(world, server)
    with world.ctx.db.session() as session:  # internal facts that must never reach a notice
        session.get(Alert, ids[0]).triage_note = "INTERNAL-NOTE-do-not-share"  # type: ignore[union-attr]
    notice = draft(world, "dmca", ids)
    assert notice["status"] == "draft" and notice["missing"] == []
    assert notice["fields"]["signature"] == "/s/ Jane Booker"
    assert [i["alert_id"] for i in notice["items"]] == ids

    edited = world.client.patch(
        f"/v1/takedowns/{notice['id']}",
        headers=auth(world),
        json={
            "work_description": "Editorial portraits of Ada Lovelace shot in 2025 (agency ref. "
            "AL-77), and her likeness in them.",
            "additional_information": "Please confirm removal within 7 days.",
        },
    )
    assert edited.status_code == 200, edited.text
    final = confirm(world, notice["id"])
    assert final["status"] == "final" and len(final["final_sha256"]) == 64

    refused = world.client.patch(
        f"/v1/takedowns/{notice['id']}", headers=auth(world), json={"signature": "/s/ someone else"}
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "takedown_not_allowed"
    again = world.client.post(f"/v1/takedowns/{notice['id']}/confirm", headers=auth(world))
    assert again.status_code == 409

    pdf = world.client.get(f"/v1/takedowns/{notice['id']}/notice.pdf", headers=auth(world))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = pdf_text(pdf.content)
    for element in (
        "17 U.S.C. §512(c)(3)",
        PROFILE["rights_holder"],
        PROFILE["address"],
        PROFILE["email"],
        PROFILE["phone"],
        "agency ref. AL-77",
        "good faith belief",
        "under penalty of perjury",
        "/s/ Jane Booker",
        "Please confirm removal within 7 days.",
    ):
        assert element in text, element
    for item in final["items"]:
        assert item["page_url"] in text and item["image_url"] in text
        assert item["image_sha256"] in text.replace(" ", "") or item["image_sha256"] in text
        assert item["image_phash"] in text
    for evidence in ("First seen", "Last seen", "fake-pack", "Similarity"):
        assert evidence in text, evidence
    assert "DRAFT" not in text
    for secret in ("INTERNAL-NOTE", "Secret Licensee", "987.65", "elsewhere.example"):
        assert secret not in text, secret

    html = world.client.get(f"/v1/takedowns/{notice['id']}/notice.html", headers=auth(world))
    assert html.text.count("data:image/jpeg;base64,") == 2  # a face crop per URL
    assert (
        html.text
        == world.client.get(f"/v1/takedowns/{notice['id']}/notice.html", headers=auth(world)).text
    )  # frozen


def test_dsa_notice_from_a_group_carries_article_16_elements(
    world: ConsoleWorld, server: LocalServer
) -> None:
    reason = pdf_available()
    if reason:
        pytest.skip(reason)
    set_profile(world)
    ids = two_sightings(world, server, publisher="market.example")
    notice = draft(world, "dsa", ids)
    assert notice["missing"] == []
    confirm(world, notice["id"])
    text = pdf_text(
        world.client.get(f"/v1/takedowns/{notice['id']}/notice.pdf", headers=auth(world)).content
    )
    for element in (
        "Article 16",
        "Digital Services Act",
        "(a) Explanation of the reasons",
        "without Ada Lovelace's consent",
        "(b) Exact electronic location",
        "(c) Name and e-mail address",
        PROFILE["rights_holder"],
        PROFILE["email"],
        "(d) Statement of good faith",
        "bona fide belief",
    ):
        assert element in text, element
    for item in notice["items"]:
        assert item["page_url"] in text


def test_a_draft_missing_required_elements_cannot_be_confirmed(
    world: ConsoleWorld, server: LocalServer
) -> None:
    ids = two_sightings(world, server)  # no profile: no contact, no signature
    notice = draft(world, "dmca", ids[:1])
    assert {"notifier_name", "notifier_email", "signature"} <= set(notice["missing"])
    refused = world.client.post(f"/v1/takedowns/{notice['id']}/confirm", headers=auth(world))
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "takedown_incomplete"
    assert "signature" in refused.json()["error"]["details"]["missing"]


def test_a_placeholder_can_never_reach_a_final_notice(
    world: ConsoleWorld, server: LocalServer
) -> None:
    """Drafted before the profile: '[the agency]' stands in the text; filling every contact
    field by hand does not make it confirmable while the placeholder is still there."""
    ids = two_sightings(world, server)
    notice = draft(world, "dmca", ids[:1])
    assert PLACEHOLDER in notice["fields"]["work_description"]
    assert "work_description" in notice["missing"]
    edited = world.client.patch(
        f"/v1/takedowns/{notice['id']}",
        json={
            "notifier_name": "Lumen Models Ltd",
            "notifier_address": "1 Example Street, London",
            "notifier_email": "legal@lumen.example",
            "signature": "/s/ Jane Booker",
        },
        headers=auth(world),
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["missing"] == ["work_description"]
    refused = world.client.post(f"/v1/takedowns/{notice['id']}/confirm", headers=auth(world))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "takedown_incomplete"
    assert error["details"]["invalid"] == ["work_description"]


def test_saving_the_profile_fills_drafts_made_before_it_but_keeps_what_was_edited(
    world: ConsoleWorld, server: LocalServer
) -> None:
    ids = two_sightings(world, server)
    untouched = draft(world, "dmca", ids[:1])
    edited = draft(world, "dsa", ids[1:])
    kept = "Notice and action mechanism of shop.example, by hand"
    assert world.client.patch(
        f"/v1/takedowns/{edited['id']}", json={"recipient": kept}, headers=auth(world)
    ).is_success
    set_profile(world)
    filled = get_notice(world, untouched["id"])
    assert filled["missing"] == []
    assert filled["fields"]["notifier_email"] == PROFILE["email"]
    assert filled["fields"]["signature"] == f"/s/ {PROFILE['signature_name']}"
    assert PROFILE["rights_holder"] in filled["fields"]["work_description"]
    assert PLACEHOLDER not in str(filled["fields"])
    other = get_notice(world, edited["id"])
    assert other["fields"]["recipient"] == kept and PLACEHOLDER not in other["fields"]["reasons"]
    final = confirm(world, untouched["id"])
    html = world.client.get(f"/v1/takedowns/{final['id']}/notice.html", headers=auth(world))
    assert html.status_code == 200 and PLACEHOLDER not in html.text
    assert PROFILE["rights_holder"] in html.text


def get_notice(world: ConsoleWorld, notice_id: int) -> dict:  # type: ignore[type-arg]
    response = world.client.get(f"/v1/takedowns/{notice_id}", headers=auth(world))
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_recheck_confirms_removal_when_the_server_answers_404(
    world: ConsoleWorld, server: LocalServer
) -> None:
    set_profile(world)
    ids = two_sightings(world, server)
    notice = draft(world, "dmca", ids)
    confirm(world, notice["id"])
    premature = world.client.post(f"/v1/takedowns/{notice['id']}/recheck", headers=auth(world))
    assert premature.status_code == 409  # not sent yet
    sent = mark_sent(world, notice["id"])
    assert sent["status"] == "sent" and sent["sent_to"] == "copyright@shop.example"
    assert sent["overdue"] is False and sent["due_at"] is not None

    server.responses.pop("/img/a.png")  # the local server now answers 404
    server.responses["/img/b.png"] = (410, "text/plain", b"gone")
    checked = recheck(world, notice["id"])
    assert checked["status"] == "removed"
    assert [i["state"] for i in checked["items"]] == ["removed", "removed"]
    assert "404" in checked["items"][0]["check_detail"]
    assert [h["to_status"] for h in checked["history"]] == ["draft", "final", "sent", "removed"]


def test_recheck_finds_the_image_still_up(world: ConsoleWorld, server: LocalServer) -> None:
    set_profile(world)
    ids = two_sightings(world, server)
    notice = draft(world, "dsa", ids)
    confirm(world, notice["id"])
    mark_sent(world, notice["id"])
    server.responses.pop("/img/a.png")
    checked = recheck(world, notice["id"])  # b is still served and still shows Ada
    assert checked["status"] == "still_up"
    states = {i["image_url"].rsplit("/", 1)[-1]: i["state"] for i in checked["items"]}
    assert states == {"a.png": "removed", "b.png": "still_up"}


def test_recheck_of_an_uploaded_sighting_with_the_page_still_up_decides_nothing(
    world: ConsoleWorld, server: LocalServer
) -> None:
    set_profile(world)
    server.responses["/look/9"] = (200, "text/html", b"<html>a shop page</html>")
    world.client.post(
        "/v1/scans",
        headers=auth(world, "monitor"),
        files={"file": ("seen.png", face_photo([(ADA, 90)], size=130, seed=41))},
        data={"page_url": server.url("/look/9"), "publisher": "shop.example"},
    )
    notice = draft(world, "dmca", alerts_of(world, "shop.example"))
    assert notice["items"][0]["image_url"] is None
    confirm(world, notice["id"])
    mark_sent(world, notice["id"])
    checked = recheck(world, notice["id"])
    assert checked["status"] == "sent" and checked["items"][0]["state"] == "unreachable"
    server.responses.clear()  # the page itself is gone now
    assert recheck(world, notice["id"])["status"] == "removed"


def test_a_sighting_of_a_removed_image_reopens_the_case(
    world: ConsoleWorld, server: LocalServer
) -> None:
    set_profile(world)
    serve_image(server, "/img/a.png", seed=11)
    scan_url(world, server, "/img/a.png", publisher="shop.example")
    notice = draft(world, "dmca", alerts_of(world, "shop.example"))
    confirm(world, notice["id"])
    mark_sent(world, notice["id"])
    image = server.responses.pop("/img/a.png")[2]
    assert recheck(world, notice["id"])["status"] == "removed"

    server.responses["/mirror/x.png"] = (200, "image/png", image)  # the same image elsewhere
    scan_url(world, server, "/mirror/x.png", publisher="mirror.example", page="/x")
    reopened = world.client.get(f"/v1/takedowns/{notice['id']}", headers=auth(world)).json()
    assert reopened["status"] == "reappeared"
    assert reopened["items"][0]["state"] == "reappeared"
    assert "mirror.example" in reopened["items"][0]["check_detail"]
    assert reopened["history"][-1]["actor"] == "twinwatch"
    again = mark_sent(world, notice["id"], note="second request")  # reappeared -> sent
    assert again["status"] == "sent"


def test_sent_notices_unanswered_after_the_deadline_are_flagged_overdue(
    world: ConsoleWorld, server: LocalServer
) -> None:
    set_profile(world)
    ids = two_sightings(world, server)
    old, fresh = draft(world, "dmca", ids[:1]), draft(world, "dmca", ids[1:])
    for notice in (old, fresh):
        confirm(world, notice["id"])
    long_ago = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()  # a date, no zone
    assert mark_sent(world, old["id"], sent_at=long_ago)["overdue"] is True
    assert mark_sent(world, fresh["id"])["overdue"] is False
    late = world.client.get("/v1/takedowns", params={"overdue": "true"}, headers=auth(world))
    assert [n["id"] for n in late.json()["items"]] == [old["id"]]
    on_time = world.client.get("/v1/takedowns", params={"overdue": "false"}, headers=auth(world))
    assert [n["id"] for n in on_time.json()["items"]] == [fresh["id"]]


def test_erasing_the_talent_erases_their_notices(world: ConsoleWorld, server: LocalServer) -> None:
    set_profile(world)
    notice = draft(world, "dmca", two_sightings(world, server))
    confirm(world, notice["id"])
    erased = world.client.delete(
        f"/v1/talents/{world.talents['Ada Lovelace']}", headers=auth(world)
    )
    assert erased.status_code == 200, erased.text
    assert world.client.get(f"/v1/takedowns/{notice['id']}", headers=auth(world)).status_code == 404
    with world.ctx.db.session() as session:
        assert session.scalars(select(TakedownItem)).all() == []
        assert session.scalars(select(TakedownEvent)).all() == []


def test_brand_monitor_and_other_agency_get_nothing(
    world: ConsoleWorld, server: LocalServer
) -> None:
    set_profile(world)
    ids = two_sightings(world, server)
    notice = draft(world, "dmca", ids)
    for who in ("brand", "monitor"):
        for method, path in (
            ("GET", "/v1/takedowns"),
            ("GET", f"/v1/takedowns/{notice['id']}"),
            ("GET", f"/v1/takedowns/{notice['id']}/notice.html"),
            ("GET", "/v1/takedown-profile"),
            ("GET", "/v1/email-preferences"),
        ):
            response = world.client.request(method, path, headers=auth(world, who))
            assert response.status_code == 403, (who, path, response.text)
        refused = world.client.post(
            "/v1/takedowns", headers=auth(world, who), json={"kind": "dmca", "alert_ids": ids}
        )
        assert refused.status_code == 403
    other = auth(world, "other_agency")
    assert world.client.get(f"/v1/takedowns/{notice['id']}", headers=other).status_code == 404
    assert (
        world.client.get(f"/v1/takedowns/{notice['id']}/notice.html", headers=other).status_code
        == 404
    )
    assert world.client.get("/v1/takedowns", headers=other).json()["items"] == []
    stolen = world.client.post(
        "/v1/takedowns", headers=other, json={"kind": "dsa", "alert_ids": ids}
    )
    assert stolen.status_code == 404  # another agency's alerts do not exist for it


def test_a_notice_names_one_talent_on_one_publisher(
    world: ConsoleWorld, server: LocalServer
) -> None:
    first = two_sightings(world, server, publisher="one.example")
    serve_image(server, "/img/c.png", seed=13)
    scan_url(world, server, "/img/c.png", publisher="two.example")
    mixed = [first[0], *alerts_of(world, "two.example")]
    response = world.client.post(
        "/v1/takedowns", headers=auth(world), json={"kind": "dmca", "alert_ids": mixed}
    )
    assert response.status_code == 422
    assert "one publisher" in response.json()["error"]["message"]


def test_without_weasyprint_the_pdf_is_a_503_and_the_html_still_works(
    world: ConsoleWorld, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_profile(world)
    notice = draft(world, "dsa", two_sightings(world, server))
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as if it (or Pango) were missing
    response = world.client.get(f"/v1/takedowns/{notice['id']}/notice.pdf", headers=auth(world))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "pdf_unavailable"
    html = world.client.get(f"/v1/takedowns/{notice['id']}/notice.html", headers=auth(world))
    assert html.status_code == 200 and "DRAFT" in html.text


def test_rendering_a_pdf_leaves_truncated_images_refused_by_scans() -> None:
    """WeasyPrint turns on Pillow's process-wide LOAD_TRUNCATED_IMAGES when imported; after a
    notice's PDF, a truncated upload must still be a decode error, not a half-grey scan."""
    reason = pdf_available()
    if reason:
        pytest.skip(reason)
    from indexer.errors import ImageDecodeError
    from indexer.imaging import decode_image
    from service.core.pdf import render_pdf
    from tests.unit.indexer.test_imaging import encode, gradient

    assert render_pdf("<p>notice</p>").startswith(b"%PDF")
    data = encode(gradient(400, 300), "JPEG")
    with pytest.raises(ImageDecodeError):
        decode_image(data[: len(data) // 3], max_pixels=10_000_000)


@pytest.mark.parametrize(
    "email",
    ["not-an-email", "two@at@signs.example", "legal@lumen.example, cc@x.example", "a@b\n.example"],
)
def test_a_notifier_email_that_is_no_address_is_refused_like_the_profile_refuses_it(
    world: ConsoleWorld, server: LocalServer, email: str
) -> None:
    set_profile(world)
    notice = draft(world, "dsa", two_sightings(world, server)[:1])
    path = f"/v1/takedowns/{notice['id']}"
    profile = world.client.put(
        "/v1/takedown-profile", headers=auth(world), json={**PROFILE, "email": email}
    )
    assert profile.status_code == 422, profile.text  # the one rule, in both places
    refused = world.client.patch(path, headers=auth(world), json={"notifier_email": email})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "invalid_request"
    kept = world.client.get(path, headers=auth(world)).json()
    assert kept["fields"]["notifier_email"] == PROFILE["email"]

    cleared = world.client.patch(path, headers=auth(world), json={"notifier_email": ""})
    assert cleared.status_code == 200 and cleared.json()["missing"] == ["notifier_email"]
    assert confirm_refused(world, notice["id"])["details"]["missing"] == ["notifier_email"]
    fixed = world.client.patch(path, headers=auth(world), json={"notifier_email": "a@b.example"})
    assert fixed.status_code == 200 and fixed.json()["missing"] == []
    assert confirm(world, notice["id"])["fields"]["notifier_email"] == "a@b.example"


def test_a_draft_holding_an_invalid_notifier_email_cannot_be_confirmed(
    world: ConsoleWorld, server: LocalServer
) -> None:
    """A draft saved before the rule existed keeps its text, is listed as lacking a valid
    e-mail, and is refused at confirmation until it is corrected."""
    set_profile(world)
    notice = draft(world, "dmca", two_sightings(world, server)[:1])
    with world.ctx.db.session() as session:
        row = session.get(TakedownNotice, notice["id"])
        assert row is not None
        row.fields = {**row.fields, "notifier_email": "not-an-email"}
    path = f"/v1/takedowns/{notice['id']}"
    shown = world.client.get(path, headers=auth(world))
    assert shown.status_code == 200 and shown.json()["missing"] == ["notifier_email"]
    error = confirm_refused(world, notice["id"])
    assert error["code"] == "takedown_incomplete"
    assert error["details"] == {"missing": ["notifier_email"], "invalid": ["notifier_email"]}
    assert "notifier email (not valid)" in error["message"]
    assert world.client.get(path, headers=auth(world)).json()["status"] == "draft"


def confirm_refused(world: ConsoleWorld, notice_id: int) -> dict:  # type: ignore[type-arg]
    response = world.client.post(f"/v1/takedowns/{notice_id}/confirm", headers=auth(world))
    assert response.status_code == 422, response.text
    return dict(response.json()["error"])
