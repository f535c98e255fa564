"""Agency e-mail through a real local SMTP server (aiosmtpd): a new unlicensed match is
e-mailed once, as plain text + HTML with the face inline; possible matches come in a daily
digest; a confirmed removal is announced; a failing or refusing server is retried and every
attempt is recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from service.alerts.emails import queue_daily_digests
from service.core.tables.alerts import Alert, EmailMessage
from service.jobs.worker import EmailDispatcher
from tests.support.console import ConsoleWorld, console_world
from tests.support.service import local_server
from tests.support.takedowns import (
    ADA,
    alerts_of,
    auth,
    draft,
    free_port,
    scan_url,
    serve_image,
    set_profile,
    smtp_server,
)

pytestmark = pytest.mark.postgres  # also run on PostgreSQL by `make test`

RECIPIENT = "alerts@demo.example"


@contextmanager
def mail_world(tmp_path: Path, port: int) -> Iterator[ConsoleWorld]:
    with console_world(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        fetch_allow_private_networks=True,
    ) as world:
        yield world


def prefer(world: ConsoleWorld, **flags: bool) -> None:
    response = world.client.put(
        "/v1/email-preferences", headers=auth(world), json={"recipients": [RECIPIENT], **flags}
    )
    assert response.status_code == 200, response.text


def deliver(world: ConsoleWorld) -> int:
    return asyncio.run(EmailDispatcher(world.ctx).run_once())


def outbox(world: ConsoleWorld) -> list[dict[str, Any]]:
    response = world.client.get("/v1/emails", headers=auth(world))
    assert response.status_code == 200, response.text
    return list(response.json())


def fast_forward(world: ConsoleWorld) -> None:
    with world.ctx.db.session() as session:
        session.execute(update(EmailMessage).values(next_attempt_at=datetime.now(UTC)))


def test_a_new_unlicensed_match_is_emailed_once_as_text_and_html(tmp_path: Path) -> None:
    with smtp_server() as inbox, mail_world(tmp_path, inbox.port) as world:
        prefer(world)
        world.scan(ADA, publisher="shop.example", page="/p/1", seed=3)
        assert deliver(world) == 1
        [message] = inbox.messages
        assert inbox.envelopes == [[RECIPIENT]]
        assert "Ada Lovelace" in str(message["Subject"]) and "shop.example" in str(
            message["Subject"]
        )
        plain = message.get_body(("plain",))
        rich = message.get_body(("html",))
        assert plain is not None and rich is not None
        assert "https://shop.example/p/1" in plain.get_content()
        assert "<table>" in rich.get_content() and "Ada Lovelace" in rich.get_content()
        kinds = {part.get_content_type() for part in message.walk()}
        assert kinds == {  # the face crop inline (tests/api/test_alert_email_pictures.py)
            "multipart/alternative",
            "multipart/related",
            "text/plain",
            "text/html",
            "image/jpeg",
        }

        world.scan(ADA, publisher="shop.example", page="/p/1", seed=3)  # the same alert again
        assert deliver(world) == 0 and len(inbox.messages) == 1
        [logged] = outbox(world)
        assert logged["kind"] == "new_match" and logged["status"] == "sent"
        assert [a["smtp_code"] for a in logged["attempt_log"]] == [250]


def test_no_email_without_preferences_or_for_another_agency(tmp_path: Path) -> None:
    with smtp_server() as inbox, mail_world(tmp_path, inbox.port) as world:
        world.scan(ADA, seed=5)  # Demo Agency has chosen no recipients yet
        world.scan(9, seed=6)  # Grace Hopper, Other Agency
        assert deliver(world) == 0 and inbox.messages == []
        prefer(world, immediate_matches=False)
        world.scan(ADA, seed=7, page="/p/2")
        assert deliver(world) == 0 and inbox.messages == []


def test_smtp_failures_are_retried_and_every_attempt_recorded(tmp_path: Path) -> None:
    with smtp_server() as inbox, mail_world(tmp_path, inbox.port) as world:
        inbox.replies = ["451 4.3.0 Try again later", "554 5.7.1 Rejected for now"]
        prefer(world)
        world.scan(ADA, seed=3)
        assert deliver(world) == 1  # 451
        assert deliver(world) == 0  # backing off
        fast_forward(world)
        assert deliver(world) == 1  # 554
        fast_forward(world)
        assert deliver(world) == 1  # accepted
        [logged] = outbox(world)
        assert logged["status"] == "sent" and logged["attempts"] == 3
        assert [a["smtp_code"] for a in logged["attempt_log"]] == [451, 554, 250]
        assert "Try again later" in logged["attempt_log"][0]["error"]
        assert len(inbox.messages) == 1


def test_a_refusing_smtp_server_is_recorded_and_retried_later(tmp_path: Path) -> None:
    with mail_world(tmp_path, free_port()) as world:  # nothing listens there
        prefer(world)
        world.scan(ADA, seed=3)
        assert deliver(world) == 1
        [logged] = outbox(world)
        assert logged["status"] == "pending" and logged["attempts"] == 1
        [attempt] = logged["attempt_log"]
        assert attempt["smtp_code"] is None and "Refused" in attempt["error"]


def test_possible_matches_come_in_one_daily_digest(tmp_path: Path) -> None:
    with smtp_server() as inbox, mail_world(tmp_path, inbox.port) as world:
        prefer(world, immediate_matches=False)
        world.scan(ADA, seed=3)
        yesterday = datetime.now(UTC) - timedelta(days=1)
        with world.ctx.db.session() as session:  # seen yesterday, below the match threshold
            session.execute(update(Alert).values(band="possible", created_at=yesterday))
        assert queue_daily_digests(world.ctx.db, day=yesterday.date()) == 1
        assert queue_daily_digests(world.ctx.db, day=yesterday.date()) == 0  # once a day
        assert queue_daily_digests(world.ctx.db, day=datetime.now(UTC).date()) == 0
        assert deliver(world) == 1
        [message] = inbox.messages
        assert "1 possible match(es)" in str(message["Subject"])
        plain = message.get_body(("plain",))
        assert plain is not None and "on shop.example (similarity" in plain.get_content()
        assert "Ada Lovelace" not in plain.get_content()  # names stay out: erasure-proof


def test_a_confirmed_removal_is_announced(tmp_path: Path) -> None:
    with (
        smtp_server() as inbox,
        mail_world(tmp_path, inbox.port) as world,
        local_server() as server,
    ):
        prefer(world, immediate_matches=False)
        set_profile(world)
        serve_image(server, "/img/a.png", seed=11)
        scan_url(world, server, "/img/a.png")
        notice = draft(world, "dmca", alerts_of(world, "shop.example"))
        for step, body in (("confirm", None), ("sent", {"sent_to": "legal@shop.example"})):
            response = world.client.post(
                f"/v1/takedowns/{notice['id']}/{step}", json=body, headers=auth(world)
            )
            assert response.status_code == 200, response.text
        server.responses.clear()
        checked = world.client.post(
            f"/v1/takedowns/{notice['id']}/recheck", headers=auth(world)
        ).json()
        assert checked["status"] == "removed"
        assert deliver(world) == 1
        [message] = inbox.messages
        assert str(message["Subject"]) == "Removal confirmed: Ada Lovelace on shop.example"
        with world.ctx.db.session() as session:
            kinds = list(session.scalars(select(EmailMessage.kind)))
        assert kinds == ["removal_confirmed"]
