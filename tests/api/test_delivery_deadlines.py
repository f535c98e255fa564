"""Issue 17: one slow receiver must not stall everyone's deliveries.

Receivers are real servers on 127.0.0.1: a healthy one (tests/service_support.local_server)
and hostile ones that drip their answer a byte a second and never finish
(``dripping_server``), which per-read timeouts never cut. Every attempt, webhook, job
callback or e-mail, ends at the delivery deadline, counts as failed and is retried by the
outboxes' one rule; deliveries to different receivers run at once; a claim outlasts the
deadline. Alerts come from real scans through the API (the fake analyser's square faces).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from service.core.settings import ServiceSettings
from service.core.tables.access import Invitation, User
from service.core.tables.alerts import EmailMessage, WebhookDelivery
from service.jobs.worker import (
    BackgroundWorkers,
    CallbackDispatcher,
    EmailDispatcher,
    JobWorker,
    WebhookDispatcher,
)
from tests.support.console import TALENTS, ConsoleWorld, console_world
from tests.support.fakes import face_photo
from tests.support.service import dripping_server, local_server

DEADLINE_S = 1.5
SLACK_S = 1.0  # scheduling on a busy machine; the drips come a second apart
BACKOFF_BASE_S = 1.0
ADA = TALENTS["Ada Lovelace"][1]  # Demo Agency ("agency")
GRACE = TALENTS["Grace Hopper"][1]  # Other Agency ("other_agency")
# A status line, then a header that never ends: no answer is ever complete.
DRIP_HEADERS = b"HTTP/1.1 200 OK\r\nX-Slow: "


@contextmanager
def world(tmp_path: Path, **overrides: Any) -> Iterator[ConsoleWorld]:
    settings: dict[str, Any] = {
        "fetch_allow_private_networks": True,
        "delivery_deadline_s": DEADLINE_S,
        "webhook_backoff_base_s": BACKOFF_BASE_S,
        "webhook_max_attempts": 2,
        **overrides,
    }
    with console_world(tmp_path, **settings) as built:
        yield built


def auth(built: ConsoleWorld, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {built.keys[who]}"}


def add_webhook(built: ConsoleWorld, who: str, url: str) -> int:
    created = built.client.post("/v1/webhooks", json={"url": url}, headers=auth(built, who))
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def deliveries(built: ConsoleWorld, who: str, hook_id: int) -> list[dict[str, Any]]:
    answer = built.client.get(f"/v1/webhooks/{hook_id}/deliveries", headers=auth(built, who))
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def timed(step: Any) -> tuple[int, float]:
    started = time.monotonic()
    count = asyncio.run(step.run_once())
    return int(count), time.monotonic() - started


def assert_cut_at_deadline(elapsed_s: float) -> None:
    assert DEADLINE_S - 0.05 <= elapsed_s <= DEADLINE_S + SLACK_S, elapsed_s


# --- (a) the deadline, and the retry rule ---------------------------------------------------
def test_a_webhook_receiver_dripping_its_headers_is_cut_at_the_deadline_and_retried(
    tmp_path: Path,
) -> None:
    with world(tmp_path) as built, dripping_server(first=DRIP_HEADERS) as slow:
        hook = add_webhook(built, "agency", slow.url("/hook"))
        built.scan(ADA)

        count, elapsed = timed(WebhookDispatcher(built.ctx))
        assert count == 1
        assert_cut_at_deadline(elapsed)
        [delivery] = deliveries(built, "agency", hook)
        assert (delivery["status"], delivery["attempts"]) == ("pending", 1)
        [attempt] = delivery["attempt_log"]
        assert attempt["status_code"] is None and "1.5 s deadline" in attempt["error"]
        assert DEADLINE_S * 1000 - 50 <= attempt["ms"] <= (DEADLINE_S + SLACK_S) * 1000
        due_in = datetime.fromisoformat(delivery["next_attempt_at"]) - datetime.now(UTC)
        assert due_in <= timedelta(seconds=BACKOFF_BASE_S * 1.1)  # the backoff after 1 failure

        assert timed(WebhookDispatcher(built.ctx))[0] == 0  # not due yet: backing off
        time.sleep(BACKOFF_BASE_S * 1.2)
        count, elapsed = timed(WebhookDispatcher(built.ctx))
        assert count == 1
        assert_cut_at_deadline(elapsed)
        [delivery] = deliveries(built, "agency", hook)
        assert (delivery["status"], delivery["attempts"]) == ("failed", 2)  # max_attempts spent
        assert len(slow.connections) == 2


def test_a_receiver_that_answers_then_drips_its_body_counts_as_delivered_at_once(
    tmp_path: Path,
) -> None:
    headers = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"  # the body never comes
    with world(tmp_path) as built, dripping_server(first=headers) as slow:
        hook = add_webhook(built, "agency", slow.url("/hook"))
        built.scan(ADA)
        count, elapsed = timed(WebhookDispatcher(built.ctx))
        assert count == 1 and elapsed < DEADLINE_S / 2
        [delivery] = deliveries(built, "agency", hook)
        assert (delivery["status"], delivery["attempts"]) == ("delivered", 1)


# --- (b) concurrency: another receiver is never held up -------------------------------------
def test_a_dripping_receiver_does_not_delay_another_agencys_webhook(tmp_path: Path) -> None:
    with (
        world(tmp_path) as built,
        dripping_server(first=DRIP_HEADERS) as slow,
        local_server() as healthy,
    ):
        add_webhook(built, "agency", slow.url("/hook"))
        other = add_webhook(built, "other_agency", healthy.url("/hook"))
        built.scan(ADA)  # the slow receiver's delivery comes first in the outbox
        built.scan(GRACE)

        started = time.monotonic()
        count, elapsed = timed(WebhookDispatcher(built.ctx))
        assert count == 2
        [received] = healthy.received
        assert received.at - started < DEADLINE_S * 2 / 3  # not behind the slow one
        assert_cut_at_deadline(elapsed)
        assert [d["status"] for d in deliveries(built, "other_agency", other)] == ["delivered"]


def test_a_webhook_raised_while_a_slow_receiver_is_held_goes_out_at_once(tmp_path: Path) -> None:
    """Through the background loops as the service runs them: a new alert for another
    agency is delivered while the slow receiver's attempt is still in flight."""
    with (
        world(tmp_path, delivery_deadline_s=4.0) as built,
        dripping_server(first=DRIP_HEADERS) as slow,
        local_server() as healthy,
    ):
        add_webhook(built, "agency", slow.url("/hook"))
        add_webhook(built, "other_agency", healthy.url("/hook"))
        built.scan(ADA)

        async def run() -> float:
            workers = BackgroundWorkers(built.ctx)
            workers.start()
            try:
                await wait_for(lambda: bool(slow.connections))
                claimed_until = await asyncio.to_thread(claimed_until_of_slow_delivery, built)
                assert claimed_until - datetime.now(UTC) > timedelta(seconds=4.0)  # the lease
                await asyncio.to_thread(built.scan, GRACE)
                raised = time.monotonic()
                await wait_for(lambda: bool(healthy.received))
                return healthy.received[0].at - raised
            finally:
                await workers.stop()

        assert asyncio.run(run()) < 1.0  # a poll interval and a request, not the 4 s deadline
        assert len(slow.connections) == 1


def claimed_until_of_slow_delivery(built: ConsoleWorld) -> datetime:
    with built.ctx.db.session() as session:
        row = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).first()
        assert row is not None and row.claimed_until is not None
        return row.claimed_until.replace(tzinfo=row.claimed_until.tzinfo or UTC)


async def wait_for(condition: Any, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


def test_one_receiver_gets_one_attempt_at_a_time(tmp_path: Path) -> None:
    """Two webhooks on one slow host: one attempt in flight there, not one per URL."""
    with world(tmp_path) as built, dripping_server(first=DRIP_HEADERS) as slow:
        first = add_webhook(built, "agency", slow.url("/a"))
        second = add_webhook(built, "agency", slow.url("/b"))
        built.scan(ADA)
        assert timed(WebhookDispatcher(built.ctx))[0] == 1
        assert len(slow.connections) == 1
        assert timed(WebhookDispatcher(built.ctx))[0] == 1  # then the other one
        attempts = [len(deliveries(built, "agency", h)[0]["attempt_log"]) for h in (first, second)]
        assert attempts == [1, 1]


# --- (c) job callbacks ---------------------------------------------------------------------
def test_a_job_callback_to_a_dripping_receiver_is_cut_at_the_deadline(tmp_path: Path) -> None:
    with world(tmp_path) as built, dripping_server(first=DRIP_HEADERS) as slow:
        created = built.client.post(
            "/v1/scan-jobs",
            files={"files": ("a.png", face_photo([(ADA, 90)], size=130, seed=4))},
            data={"callback_url": slow.url("/done")},
            headers=auth(built, "monitor"),
        )
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]

        async def drain() -> None:
            while await JobWorker(built.ctx, name="deadline-test").run_once():
                pass

        asyncio.run(drain())
        count, elapsed = timed(CallbackDispatcher(built.ctx))
        assert count == 1
        assert_cut_at_deadline(elapsed)
        job = built.client.get(f"/v1/jobs/{job_id}", headers=auth(built, "monitor")).json()
        callback = job["callback"]
        assert (callback["status"], callback["attempts"]) == ("pending", 1)
        [attempt] = callback["attempt_log"]
        assert attempt["status_code"] is None and "deadline" in attempt["error"]


# --- e-mail: the same deadline on an SMTP conversation --------------------------------------
def test_an_smtp_server_dripping_its_greeting_is_cut_at_the_deadline(tmp_path: Path) -> None:
    with (
        dripping_server(drip=b"220 ", http=False) as slow,
        world(tmp_path, smtp_host="127.0.0.1", smtp_port=slow.port, smtp_starttls=False) as built,
    ):
        answer = built.client.put(
            "/v1/email-preferences",
            headers=auth(built, "agency"),
            json={"recipients": ["alerts@demo.example"]},
        )
        assert answer.status_code == 200, answer.text
        built.scan(ADA)
        count, elapsed = timed(EmailDispatcher(built.ctx))
        assert count == 1
        assert_cut_at_deadline(elapsed)
        with built.ctx.db.session() as session:
            message = session.scalars(select(EmailMessage)).one()
            assert (message.status, message.attempts) == ("pending", 1)
            assert message.last_error is not None and "deadline" in message.last_error


def test_an_account_email_to_a_dripping_smtp_server_is_cut_at_the_same_deadline(
    tmp_path: Path,
) -> None:
    """The account e-mails (an invitation here) go over the same transport
    (service.core.mail), so the same deadline bounds them: the answer is 503 email_not_sent
    at the deadline, and the link made for it never works."""
    with (
        dripping_server(drip=b"220 ", http=False) as slow,
        world(tmp_path, smtp_host="127.0.0.1", smtp_port=slow.port, smtp_starttls=False) as built,
    ):
        started = time.monotonic()
        answer = built.client.post(
            f"/v1/talents/{built.talents['Ada Lovelace']}/invitations",
            headers=auth(built, "agency"),
            json={"email": "ada@talent.example"},
        )
        assert_cut_at_deadline(time.monotonic() - started)
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "email_not_sent"
        with built.ctx.db.session() as session:
            voided = session.scalars(
                select(Invitation.used_at)
                .join(User, User.id == Invitation.user_id)
                .where(User.email == "ada@talent.example")
            ).one()
            assert voided is not None  # the link made for it never works


# --- (d) the lease outlasts the deadline ----------------------------------------------------
def test_settings_refuse_a_lease_that_does_not_outlast_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = ServiceSettings()
    assert defaults.delivery_lease_s >= 2 * defaults.delivery_deadline_s
    with pytest.raises(ValidationError, match="delivery_lease_s"):
        ServiceSettings(delivery_deadline_s=30, delivery_lease_s=30)
    with pytest.raises(ValidationError, match="delivery_lease_s"):
        ServiceSettings(delivery_deadline_s=30, delivery_lease_s=45)
    monkeypatch.setenv("TWINWATCH_DELIVERY_DEADLINE_S", "40")  # the default lease is 60
    with pytest.raises(ValidationError, match="delivery_lease_s"):
        ServiceSettings()
    assert ServiceSettings(delivery_lease_s=80).delivery_lease_s == 80
