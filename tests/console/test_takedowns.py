"""The console's takedown pages over HTTP (the browser flow is in
test_console_browser_takedowns.py): draft from an inbox group, edit, confirm, mark sent,
re-check, the overdue flag in the list, the profile and e-mail forms, and refusals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from service.core.tables.takedowns import TakedownNotice
from tests.console.test_pages import browser, page_csrf
from tests.support.console import ConsoleWorld, console_world
from tests.support.service import LocalServer, local_server
from tests.support.takedowns import ADA, PROFILE, scan_url, serve_image

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path, fetch_allow_private_networks=True) as built:
        yield built


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


def save_profile(client: TestClient) -> None:
    response = client.post(
        "/console/takedown-profile",
        follow_redirects=False,
        data={**PROFILE, "csrf": page_csrf(client, "/console/takedown-profile")},
    )
    assert response.status_code == 303, response.text


def two_sightings(world: ConsoleWorld, server: LocalServer) -> None:
    """Two images of Ada on one publisher (two pages): one inbox group to draft from."""
    serve_image(server, "/img/a.png", seed=11)
    serve_image(server, "/img/b.png", seed=12)
    scan_url(world, server, "/img/a.png", page="/look/1")
    scan_url(world, server, "/img/b.png", page="/look/2")


def draft_from_inbox(client: TestClient, kind: str = "dmca") -> int:
    inbox = client.get("/console/alerts").text
    assert 'class="draft-notice"' in inbox and "Takedown notice for Ada Lovelace (2 URLs)" in inbox
    ids = [
        int(x)
        for x in re.findall(
            r'name="alert_id" value="(\d+)"(?! form)',
            inbox.split('class="draft-notice"')[1].split("</form>")[0],
        )
    ]
    response = client.post(
        "/console/notices",
        follow_redirects=False,
        data={"kind": kind, "alert_id": ids, "csrf": page_csrf(client, "/console/alerts")},
    )
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[-1])


def test_an_agency_drafts_edits_confirms_sends_and_rechecks_in_the_console(
    world: ConsoleWorld, server: LocalServer
) -> None:
    two_sightings(world, server)
    client = browser(world, "agency")
    save_profile(client)
    notice_id = draft_from_inbox(client)
    path = f"/console/notices/{notice_id}"
    page = client.get(path).text
    assert "DMCA notice" in page and "Jane Booker" in page and 'id="confirm-notice"' in page

    edited = client.post(
        f"{path}/edit",
        follow_redirects=False,
        data={"csrf": page_csrf(client, path), "work_description": "Portraits <b>AL-77</b>"},
    )
    assert edited.status_code == 303
    assert "Portraits &lt;b&gt;AL-77&lt;/b&gt;" in client.get(path).text  # escaped
    assert (
        client.post(
            f"{path}/confirm", data={"csrf": page_csrf(client, path)}, follow_redirects=False
        ).status_code
        == 303
    )
    final = client.get(path).text
    assert "final since" in final and 'id="edit-form"' not in final
    refused = client.post(
        f"{path}/edit", data={"csrf": page_csrf(client, path), "signature": "/s/ x"}
    )
    assert refused.status_code == 409 and "takedown_not_allowed" in refused.text

    sent = client.post(
        f"{path}/sent",
        follow_redirects=False,
        data={"csrf": page_csrf(client, path), "sent_to": "legal@shop.example"},
    )
    assert sent.status_code == 303
    server.responses.clear()  # both images gone: 404
    assert (
        client.post(
            f"{path}/recheck", data={"csrf": page_csrf(client, path)}, follow_redirects=False
        ).status_code
        == 303
    )
    assert 'id="notice-status">removed<' in client.get(path).text
    download = client.get(f"{path}/notice.html")
    assert download.headers["content-disposition"].startswith("attachment")


def test_notice_history_names_who_acted_as_alert_history_does(
    world: ConsoleWorld, server: LocalServer
) -> None:
    two_sightings(world, server)
    client = browser(world, "agency")
    save_profile(client)
    page = client.get(f"/console/notices/{draft_from_inbox(client)}").text
    history = page.split('<ol class="history">')[1].split("</ol>")[0]
    assert f": {world.email('agency')}: new → draft" in history
    assert "user " not in history


def test_the_list_flags_overdue_notices(world: ConsoleWorld, server: LocalServer) -> None:
    two_sightings(world, server)
    client = browser(world, "agency")
    save_profile(client)
    notice_id = draft_from_inbox(client, "dsa")
    path = f"/console/notices/{notice_id}"
    client.post(f"{path}/confirm", data={"csrf": page_csrf(client, path)})
    client.post(f"{path}/sent", data={"csrf": page_csrf(client, path), "sent_to": "dsa@x.example"})
    with world.ctx.db.session() as session:
        session.execute(
            update(TakedownNotice).values(sent_at=datetime.now(UTC) - timedelta(days=40))
        )
    listing = client.get("/console/notices?overdue=true").text
    assert f'id="notice-{notice_id}"' in listing and "overdue</strong>" in listing
    assert f'id="notice-{notice_id}"' not in client.get("/console/notices?overdue=false").text


def test_email_preferences_are_saved_from_the_console(world: ConsoleWorld) -> None:
    client = browser(world, "agency")
    response = client.post(
        "/console/email",
        follow_redirects=False,
        data={
            "csrf": page_csrf(client, "/console/email"),
            "recipients": "a@demo.example\nb@demo.example",
            "immediate_matches": "1",
        },
    )
    assert response.status_code == 303
    page = client.get("/console/email").text
    assert "a@demo.example\nb@demo.example" in page
    assert 'id="e-immediate" name="immediate_matches" value="1" checked' in page
    assert 'id="e-digest" name="daily_digest" value="1" >' in page  # unticked
    bad = client.post(
        "/console/email",
        data={"csrf": page_csrf(client, "/console/email"), "recipients": "not an address"},
    )
    assert bad.status_code == 422


@pytest.mark.parametrize("who", ["brand", "monitor"])
def test_brands_and_monitors_are_refused_the_takedown_pages(world: ConsoleWorld, who: str) -> None:
    world.scan(ADA)
    client = browser(world, who)
    for path in ("/console/notices", "/console/email", "/console/takedown-profile"):
        assert client.get(path).status_code == 403, path


def test_another_agency_cannot_open_a_notice(world: ConsoleWorld, server: LocalServer) -> None:
    two_sightings(world, server)
    notice_id = draft_from_inbox(browser(world, "agency"))
    other = browser(world, "other_agency")
    assert other.get(f"/console/notices/{notice_id}").status_code == 404
    assert other.get(f"/console/notices/{notice_id}/notice.html").status_code == 404


def test_the_notice_form_refuses_a_notifier_email_the_profile_form_would_refuse(
    world: ConsoleWorld, server: LocalServer
) -> None:
    two_sightings(world, server)
    client = browser(world, "agency")
    save_profile(client)
    profile = client.post(
        "/console/takedown-profile",
        data={
            **PROFILE,
            "email": "not-an-email",
            "csrf": page_csrf(client, "/console/takedown-profile"),
        },
    )
    assert profile.status_code == 422
    path = f"/console/notices/{draft_from_inbox(client)}"
    refused = client.post(
        f"{path}/edit", data={"csrf": page_csrf(client, path), "notifier_email": "not-an-email"}
    )
    assert refused.status_code == 422 and "notifier_email" in refused.text
    assert "not-an-email" not in client.get(path).text
    confirmed = client.post(
        f"{path}/confirm", data={"csrf": page_csrf(client, path)}, follow_redirects=False
    )
    assert confirmed.status_code == 303  # the profile's address, untouched, is valid


def test_confirming_an_incomplete_draft_stays_on_its_page_and_saving_the_profile_mends_it(
    world: ConsoleWorld, server: LocalServer
) -> None:
    """Drafted before the profile: confirming keeps the booker on the notice, saying what is
    missing and marking those fields; saving the profile fills the draft, which then
    confirms, without the placeholder."""
    two_sightings(world, server)
    client = browser(world, "agency")
    notice_id = draft_from_inbox(client)
    path = f"/console/notices/{notice_id}"
    refused = client.post(f"{path}/confirm", data={"csrf": page_csrf(client, path)})
    assert refused.status_code == 422, refused.text
    assert 'id="notice-problem"' in refused.text and "takedown_incomplete" in refused.text
    assert 'id="f-signature" name="signature" aria-invalid="true"' in refused.text
    assert 'id="edit-form"' in refused.text  # the way on is on the page
    save_profile(client)
    mended = client.get(path).text
    assert 'id="missing"' not in mended and "[the agency]" not in mended
    confirmed = client.post(
        f"{path}/confirm", data={"csrf": page_csrf(client, path)}, follow_redirects=False
    )
    assert confirmed.status_code == 303, confirmed.text
    final = client.get(f"{path}/notice.html").text
    assert "[the agency]" not in final and PROFILE["rights_holder"] in final
