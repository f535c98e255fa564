"""Agency webhooks: signed, retried with exponential backoff, every attempt recorded.

Deliveries come from the outbox table (written in the alert's own transaction). Each
request carries ``X-Twinwatch-Timestamp`` and ``X-Twinwatch-Signature: v1=<hex>``, the
HMAC-SHA256 of ``"<timestamp>.<body>"`` under the webhook's secret, and
``X-Twinwatch-Delivery`` (the outbox id) so receivers can drop a retried duplicate.

One slow receiver holds nothing but its own deliveries (issue 17): every attempt has one
wall-clock deadline (``delivery_deadline_s``) on the whole exchange, whatever the receiver
drips, and the answer's body is never read; rows are claimed at most one per receiver (its
scheme, host and port), skipping a receiver with an attempt in flight, so the dispatcher
(service/jobs/worker.py) can deliver to several receivers at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx
from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from indexer.db import Base, Database, Talent, rows_changed, utcnow
from indexer.errors import TwinwatchError
from service.access.scoping import webhook_in_scope
from service.alerts.alerts import alert_out
from service.alerts.schemas import AlertCreatedEvent, DeliveryOut, WebhookCreate, WebhookOut
from service.core.errors import InvalidRequestError
from service.core.fetching import check_url, pinned_request
from service.core.metrics import Metrics
from service.core.principal import Principal, Role
from service.core.settings import ServiceSettings
from service.core.tables.alerts import Alert, Webhook, WebhookAttempt, WebhookDelivery

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twinwatch-Signature"
TIMESTAMP_HEADER = "X-Twinwatch-Timestamp"
DELIVERY_HEADER = "X-Twinwatch-Delivery"
EVENT_HEADER = "X-Twinwatch-Event"
MAX_BACKOFF_S = 3600.0
ERROR_TEXT_MAX = 500
# Receivers looked at per claim (each the oldest due row of one receiver URL): bounds the
# claim's cost however many receivers have rows waiting.
RECEIVER_WINDOW = 500


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify_signature(
    *,
    secret: str,
    timestamp: str,
    body: bytes,
    presented: str,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """What a receiver runs: right signature, and a timestamp within ``tolerance_s``."""
    if abs((now or time.time()) - float(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), presented)


ALERT_CREATED = "alert.created"


def enqueue_alert_created(session: Session, alert: Alert, talent: Talent) -> None:
    """Outbox rows for a new alert, written in its transaction (a crash can neither lose nor
    duplicate them). The body is the alert exactly as ``GET /v1/alerts/{id}`` shows it."""
    hooks = session.scalars(
        select(Webhook).where(Webhook.agency_id == alert.agency_id, Webhook.active.is_(True))
    )
    payload = AlertCreatedEvent(alert=alert_out(alert, talent)).model_dump_json()
    for hook in hooks:
        session.add(
            WebhookDelivery(
                webhook_id=hook.id, alert_id=alert.id, event=ALERT_CREATED, payload=payload
            )
        )


# --- registration ---------------------------------------------------------------------------
async def create_webhook(
    *, db: Database, principal: Principal, body: WebhookCreate, settings: ServiceSettings
) -> WebhookOut:
    principal.require(Role.AGENCY)
    if principal.agency_id is None:
        raise InvalidRequestError("Webhooks belong to an agency; use an agency key.")
    await check_url(body.url, allow_private_networks=settings.fetch_allow_private_networks)
    secret = body.secret or secrets.token_urlsafe(32)
    with db.session() as session:
        hook = Webhook(agency_id=principal.agency_id, url=body.url, secret=secret)
        session.add(hook)
        session.flush()
        return WebhookOut(
            id=hook.id, url=hook.url, active=hook.active, created_at=hook.created_at, secret=secret
        )


def list_webhooks(session: Session, *, principal: Principal) -> list[WebhookOut]:
    principal.require(Role.AGENCY)
    query = select(Webhook).where(Webhook.active.is_(True)).order_by(Webhook.id)
    if not principal.is_admin:
        query = query.where(Webhook.agency_id == principal.agency_id)
    return [
        WebhookOut(id=h.id, url=h.url, active=h.active, created_at=h.created_at)
        for h in session.scalars(query)
    ]


def deactivate_webhook(session: Session, *, principal: Principal, webhook_id: int) -> None:
    principal.require(Role.AGENCY)
    hook = webhook_in_scope(session, principal=principal, webhook_id=webhook_id)
    hook.active = False
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == hook.id, WebhookDelivery.status == "pending")
        .values(status="failed", last_error="webhook removed")
    )


def list_deliveries(
    session: Session, *, principal: Principal, webhook_id: int, offset: int, limit: int
) -> list[DeliveryOut]:
    principal.require(Role.AGENCY)
    webhook_in_scope(session, principal=principal, webhook_id=webhook_id)
    deliveries = list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookDelivery.id.desc())
            .offset(offset)
            .limit(limit)
        )
    )
    attempts: dict[int, list[WebhookAttempt]] = {}
    for attempt in session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_([d.id for d in deliveries]))
        .order_by(WebhookAttempt.id)
    ):
        attempts.setdefault(attempt.delivery_id, []).append(attempt)
    return [
        DeliveryOut(
            id=d.id,
            event=d.event,
            alert_id=d.alert_id,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_error=d.last_error,
            delivered_at=d.delivered_at,
            attempt_log=[
                {
                    "at": a.attempted_at.isoformat(),
                    "status_code": a.status_code,
                    "error": a.error,
                    "ms": round(a.duration_ms, 1),
                }
                for a in attempts.get(d.id, [])
            ],
        )
        for d in deliveries
    ]


# --- delivery -------------------------------------------------------------------------------
@dataclass(frozen=True)
class DueDelivery:
    id: int
    url: str
    secret: str
    event: str
    payload: str
    attempts: int
    reference: str | None = None  # X-Twinwatch-Delivery; default: the outbox id


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    error: str | None
    duration_ms: float

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def claim_due(db: Database, *, limit: int, lease_s: float) -> list[DueDelivery]:
    """Claim up to ``limit`` due deliveries for ``lease_s`` (safe with several dispatchers)."""
    claimed: list[DueDelivery] = []
    with db.session() as session:
        rows = claim_due_rows(
            session, WebhookDelivery, limit=limit, lease_s=lease_s, receivers=WEBHOOK_RECEIVERS
        )
        for delivery in rows:
            hook = session.get(Webhook, delivery.webhook_id)
            if hook is not None:
                claimed.append(
                    DueDelivery(
                        delivery.id,
                        hook.url,
                        hook.secret,
                        delivery.event,
                        delivery.payload,
                        delivery.attempts,
                    )
                )
    return claimed


OutboxTable = TypeVar("OutboxTable", bound=Base)


@dataclass(frozen=True)
class ReceiverUrls:
    """Where the receiver URL of an outbox's rows is: a column of another table, joined."""

    url: InstrumentedAttribute[Any]
    table: type[Base]
    join: ColumnElement[bool]


WEBHOOK_RECEIVERS = ReceiverUrls(Webhook.url, Webhook, Webhook.id == WebhookDelivery.webhook_id)


def receiver_of(url: str) -> str:
    """The receiver a URL names, its origin (scheme, host, port): one attempt in flight each."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:  # not a URL any more: the attempt will say so; keep it apart
        return url
    return f"{parts.scheme.lower()}://{(parts.hostname or '').rstrip('.')}:{port}"


def claim_due_rows(
    session: Session,
    table: type[OutboxTable],
    *,
    limit: int,
    lease_s: float,
    receivers: ReceiverUrls | None = None,
) -> list[OutboxTable]:
    """Claim up to ``limit`` due rows of an outbox table (pending, due, not claimed or its
    claim run out) for ``lease_s``: rows locked with SKIP LOCKED where the database has it,
    then each taken by a conditional update, so two dispatchers never claim one row. With
    ``receivers``, at most one row per receiver and none for a receiver that has a claimed
    row (an attempt in flight, in this process or another)."""
    now = utcnow()
    columns = table.__table__.c
    due = (
        (columns.status == "pending")
        & (columns.next_attempt_at <= now)
        & or_(columns.claimed_until.is_(None), columns.claimed_until < now)
    )
    query = select(columns.id).where(due)
    if receivers is not None:
        spread = one_per_receiver(session, table, receivers, due=due, now=now, limit=limit)
        query = query.where(columns.id.in_(spread))
    ids = list(
        session.scalars(query.order_by(columns.id).limit(limit).with_for_update(skip_locked=True))
    )
    claimed: list[OutboxTable] = []
    for row_id in ids:
        won = rows_changed(
            session,
            update(table)
            .where(columns.id == row_id, due)
            .values(claimed_until=now + timedelta(seconds=lease_s)),
        )
        row = session.get(table, row_id) if won == 1 else None
        if row is not None:
            claimed.append(row)
    return claimed


def one_per_receiver(
    session: Session,
    table: type[Base],
    receivers: ReceiverUrls,
    *,
    due: ColumnElement[bool],
    now: datetime,
    limit: int,
) -> list[int]:
    """The oldest due row of up to ``limit`` receivers that have no attempt in flight."""
    columns = table.__table__.c
    joined = select().select_from(table).join(receivers.table, receivers.join)
    in_flight = joined.add_columns(receivers.url).distinct()
    in_flight = in_flight.where(columns.status == "pending", columns.claimed_until >= now)
    busy = {receiver_of(url) for url in session.scalars(in_flight) if url}
    oldest = func.min(columns.id)
    candidates = (
        joined.add_columns(oldest, receivers.url)
        .where(due)
        .group_by(receivers.url)
        .order_by(oldest)
        .limit(RECEIVER_WINDOW)
    )
    picked: list[int] = []
    for row_id, url in session.execute(candidates):
        receiver = receiver_of(url or "")
        if receiver not in busy:
            busy.add(receiver)
            picked.append(row_id)
        if len(picked) >= limit:
            break
    return picked


async def send(delivery: DueDelivery, *, settings: ServiceSettings) -> AttemptResult:
    """POST one signed delivery to a vetted address (never into the private network), all of
    it within ``delivery_deadline_s``: a receiver that drips its answer is cut there."""
    started = time.perf_counter()
    deadline_s = settings.delivery_deadline_s
    try:
        async with asyncio.timeout(deadline_s):
            status = await _post(delivery, settings=settings)
    except TimeoutError:
        return AttemptResult(None, f"no answer within the {deadline_s:g} s deadline", _ms(started))
    except TwinwatchError as exc:
        return AttemptResult(None, exc.message[:ERROR_TEXT_MAX], _ms(started))
    except httpx.HTTPError as exc:
        return AttemptResult(None, f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_MAX], _ms(started))
    error = None if 200 <= status < 300 else f"HTTP {status}"
    return AttemptResult(status, error, _ms(started))


async def _post(delivery: DueDelivery, *, settings: ServiceSettings) -> int:
    """The answer's status code; its body is not read (nothing in it counts)."""
    body = delivery.payload.encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(delivery.secret, timestamp, body),
        DELIVERY_HEADER: delivery.reference or str(delivery.id),
        EVENT_HEADER: delivery.event,
        "User-Agent": "twinwatch-webhooks/1",
    }
    target = await check_url(
        delivery.url, allow_private_networks=settings.fetch_allow_private_networks
    )
    async with httpx.AsyncClient(
        follow_redirects=False, trust_env=False, timeout=settings.webhook_timeout_s
    ) as client:
        request = pinned_request(client, target, method="POST", content=body, headers=headers)
        response = await client.send(request, stream=True)
        await response.aclose()
        return response.status_code


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def record_attempt(
    db: Database,
    *,
    delivery: DueDelivery,
    result: AttemptResult,
    settings: ServiceSettings,
    metrics: Metrics,
) -> None:
    now = utcnow()
    with db.session() as session:
        row = session.get(WebhookDelivery, delivery.id)
        if row is None:
            return
        session.add(
            WebhookAttempt(
                delivery_id=row.id,
                attempted_at=now,
                status_code=result.status_code,
                error=result.error,
                duration_ms=result.duration_ms,
            )
        )
        count_attempt(row)
        if result.delivered:
            row.status, row.delivered_at, row.last_error = "delivered", now, None
            metrics.webhook_deliveries.inc()
            return
        metrics.webhook_failures.inc()
        if retry_or_give_up(
            row,
            error=result.error,
            now=now,
            max_attempts=settings.webhook_max_attempts,
            backoff_base_s=settings.webhook_backoff_base_s,
        ):
            log.warning(
                "webhook delivery %d failed for good after %d attempts", row.id, row.attempts
            )


class OutboxRow(Protocol):
    """A row of an outbox (webhook deliveries, e-mails, job callbacks): claimed with a lease,
    attempted, retried with backoff until it succeeds or runs out of attempts."""

    status: str
    attempts: int
    next_attempt_at: datetime
    claimed_until: datetime | None
    last_error: str | None


def count_attempt(row: OutboxRow) -> None:
    """An attempt was made: count it and end its claim."""
    row.attempts += 1
    row.claimed_until = None


def retry_or_give_up(
    row: OutboxRow, *, error: str | None, now: datetime, max_attempts: int, backoff_base_s: float
) -> bool:
    """After a failed attempt: failed for good once ``max_attempts`` are spent (True), else
    due again after the backoff. The one retry rule of every outbox."""
    row.last_error = error
    if row.attempts >= max_attempts:
        row.status = "failed"
        return True
    row.next_attempt_at = now + timedelta(seconds=backoff_s(row.attempts, base_s=backoff_base_s))
    return False


def backoff_s(attempts: int, *, base_s: float, jitter: float = 0.1) -> float:
    """Delay before attempt ``attempts + 1``: base * 2^(attempts-1), capped, +/- 10%."""
    delay = min(base_s * 2 ** max(attempts - 1, 0), MAX_BACKOFF_S)
    return float(delay * (1 + random.uniform(-jitter, jitter)))


def next_due_at(db: Database) -> datetime | None:
    with db.session() as session:
        return session.scalar(
            select(WebhookDelivery.next_attempt_at)
            .where(WebhookDelivery.status == "pending")
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(1)
        )
