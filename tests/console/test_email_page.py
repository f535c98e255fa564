"""The console's E-mail page shows whether SMTP is set up (server and sender, never the
password) and sends a test e-mail to the signed-in person's own address through the one
SMTP transport, showing the outcome; without SMTP the button is disabled and says why."""

from __future__ import annotations

from pathlib import Path

from tests.console.test_pages import browser, page_csrf
from tests.support.console import console_world
from tests.support.mail import mailing_console_world, messages_to, plain_text

PATH = "/console/email"


def test_the_test_email_goes_to_the_users_own_address(tmp_path: Path) -> None:
    with mailing_console_world(
        tmp_path, smtp_from="twinwatch <alerts@agency.example>", smtp_password="hunter2-secret"
    ) as (world, inbox):
        client = browser(world, "agency")
        shown = client.get(PATH).text
        assert f"127.0.0.1:{inbox.port}" in shown and "alerts@agency.example" in shown
        assert "hunter2-secret" not in shown and " disabled" not in shown

        refused = client.post(f"{PATH}/test", data={"csrf": "forged"}, follow_redirects=False)
        assert refused.status_code in (400, 403) and inbox.messages == []

        answer = client.post(f"{PATH}/test", data={"csrf": page_csrf(client, PATH)})
        assert answer.status_code == 200
        me = world.email("agency")
        assert f"Test e-mail sent to {me}" in answer.text
        [message] = messages_to(inbox, me)
        assert inbox.envelopes == [[me]]
        assert "test e-mail from twinwatch" in plain_text(message)
        assert message["Date"] is not None and message["Message-ID"] is not None


def test_a_refused_test_email_shows_the_reason(tmp_path: Path) -> None:
    with mailing_console_world(tmp_path) as (world, inbox):
        inbox.replies = ["554 5.7.1 Relaying denied"]
        client = browser(world, "agency")
        answer = client.post(f"{PATH}/test", data={"csrf": page_csrf(client, PATH)})
        assert "Test e-mail not sent" in answer.text and "Relaying denied" in answer.text
        assert inbox.messages == []


def test_without_smtp_the_page_says_so_and_sends_nothing(tmp_path: Path) -> None:
    with console_world(tmp_path) as world:
        client = browser(world, "agency")
        shown = client.get(PATH).text
        assert "SMTP is not configured" in shown
        assert "Send a test e-mail</button>" in shown and " disabled " in shown
        assert "Disabled: there is no mail server" in shown
        answer = client.post(f"{PATH}/test", data={"csrf": page_csrf(client, PATH)})
        assert answer.status_code == 409 and "not set up on this server" in answer.text
