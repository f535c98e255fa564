"""Every e-mail carries a Date and a Message-ID unique across installs and data resets (one
place: service.core.mail), an outbox row keeps its Message-ID on every attempt, and a new
match's e-mail links to the alert in the console when a public URL is set."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from sqlalchemy import update

from service.core.mail import deliver, message_id_domain
from service.core.settings import ServiceSettings
from service.core.tables.alerts import EmailMessage as OutboxRow
from service.jobs.worker import EmailDispatcher
from tests.support.console import ConsoleWorld, console_world
from tests.support.takedowns import ADA, SmtpInbox, auth, smtp_server

RECIPIENT = "alerts@demo.example"


def mailed_match(tmp_path: Path, inbox: SmtpInbox, **overrides: object) -> EmailMessage:
    """One new-match e-mail sent by a fresh twinwatch in ``tmp_path``."""
    with console_world(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_starttls=False,
        **overrides,
    ) as world:
        prefer(world)
        world.scan(ADA, publisher="shop.example", page="/p/1", seed=3)
        assert asyncio.run(EmailDispatcher(world.ctx).run_once()) == 1
    return inbox.messages[-1]


def prefer(world: ConsoleWorld) -> None:
    response = world.client.put(
        "/v1/email-preferences", headers=auth(world), json={"recipients": [RECIPIENT]}
    )
    assert response.status_code == 200, response.text


def plain(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def rich(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None
    return str(body.get_content())


def test_every_message_gets_a_date_and_a_unique_message_id(tmp_path: Path) -> None:
    with smtp_server() as inbox:
        settings = ServiceSettings(
            smtp_host="127.0.0.1",
            smtp_port=inbox.port,
            smtp_starttls=False,
            smtp_from="twinwatch <noreply@mail.agency.example>",
        )
        for _ in range(2):  # a bare message, like an account e-mail, passes the same place
            mime = EmailMessage()
            mime["From"], mime["To"], mime["Subject"] = settings.smtp_from, RECIPIENT, "Hi"
            mime.set_content("hello")
            assert deliver(mime, settings=settings).sent
    first, second = inbox.messages
    for message in (first, second):
        sent = parsedate_to_datetime(str(message["Date"]))
        assert sent.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - sent) < timedelta(minutes=1)
        assert str(message["Message-ID"]).endswith("@mail.agency.example>")
    assert first["Message-ID"] != second["Message-ID"]


def test_the_message_id_domain_is_the_public_hosts_else_the_senders() -> None:
    assert message_id_domain(ServiceSettings(public_url="https://tw.agency.example/")) == (
        "tw.agency.example"
    )
    assert message_id_domain(ServiceSettings(smtp_from="a <x@Mail.Example>")) == "mail.example"


def test_outbox_ids_differ_across_fresh_data_folders(tmp_path: Path) -> None:
    with smtp_server() as inbox:
        one = mailed_match(tmp_path / "one", inbox)
        two = mailed_match(tmp_path / "two", inbox)  # the same row id, event and agency
    assert one["X-Twinwatch-Message"] == two["X-Twinwatch-Message"]
    assert one["Message-ID"] != two["Message-ID"]
    for message in (one, two):
        assert parsedate_to_datetime(str(message["Date"])).utcoffset() == timedelta(0)


def test_a_retried_outbox_row_keeps_its_message_id(tmp_path: Path) -> None:
    with (
        smtp_server() as inbox,
        console_world(
            tmp_path, smtp_host="127.0.0.1", smtp_port=inbox.port, smtp_starttls=False
        ) as world,
    ):
        inbox.replies = ["451 4.3.0 Try again later"]
        prefer(world)
        world.scan(ADA, seed=3)
        dispatcher = EmailDispatcher(world.ctx)
        assert asyncio.run(dispatcher.run_once()) == 1  # refused with 451
        with world.ctx.db.session() as session:
            session.execute(update(OutboxRow).values(next_attempt_at=datetime.now(UTC)))
        assert asyncio.run(dispatcher.run_once()) == 1  # accepted
    [refused] = inbox.refused
    [accepted] = inbox.messages
    assert refused["Message-ID"] == accepted["Message-ID"]


def test_a_new_match_links_to_the_alert_only_with_a_public_url(tmp_path: Path) -> None:
    with smtp_server() as inbox:
        linked = mailed_match(tmp_path / "linked", inbox, public_url="https://tw.example/")
        bare = mailed_match(tmp_path / "bare", inbox)
    [alert_id] = re.findall(r"^Alert: (\d+)\s*$", plain(linked), re.MULTILINE)
    link = f"https://tw.example/console/alerts/{alert_id}/review"
    assert link in plain(linked) and f"href='{link}'" in rich(linked)
    assert str(linked["Message-ID"]).endswith("@tw.example>")
    assert "/console/alerts" not in plain(bare) and "/console/alerts" not in rich(bare)
