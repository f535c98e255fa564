"""Job-completion callbacks: the submitter's URL is called once when its job finishes.

The outbox row is written in the transaction that finishes the job (``queue``), claimed
here like the agency webhooks' deliveries, POSTed with the same signature headers
(``X-Twinwatch-Signature: v1=HMAC-SHA256(secret, "<timestamp>.<body>")``, by
:func:`service.alerts.webhooks.send`), retried with the same backoff, and every attempt is
kept on the row. The URL was checked at submission and is checked again (SSRF) at each
attempt. ``X-Twinwatch-Delivery`` is ``job-<job id>``: stable across retries.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from indexer.db import Database, utcnow
from service.alerts.webhooks import (
    AttemptResult,
    DueDelivery,
    ReceiverUrls,
    claim_due_rows,
    count_attempt,
    retry_or_give_up,
)
from service.core.settings import ServiceSettings
from service.core.tables.jobs import Job, JobCallback

log = logging.getLogger(__name__)
JOB_FINISHED = "job.finished"
# A callback's receiver is its job's URL: one attempt in flight per receiver (issue 17).
CALLBACK_RECEIVERS = ReceiverUrls(Job.callback_url, Job, Job.id == JobCallback.job_id)


class CallbackStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


def claim_due_callbacks(db: Database, *, limit: int, lease_s: float) -> list[DueDelivery]:
    """Claim up to ``limit`` due callbacks for ``lease_s`` (safe with several workers)."""
    claimed: list[DueDelivery] = []
    with db.session() as session:
        rows = claim_due_rows(
            session, JobCallback, limit=limit, lease_s=lease_s, receivers=CALLBACK_RECEIVERS
        )
        for row in rows:
            job = session.get(Job, row.job_id)
            if job is None or not job.callback_url or not job.callback_secret:
                continue
            claimed.append(
                DueDelivery(
                    id=row.id,
                    url=job.callback_url,
                    secret=job.callback_secret,
                    event=JOB_FINISHED,
                    payload=row.payload,
                    attempts=row.attempts,
                    reference=f"job-{job.id}",
                )
            )
    return claimed


def record_callback_attempt(
    db: Database, *, delivery: DueDelivery, result: AttemptResult, settings: ServiceSettings
) -> None:
    now = utcnow()
    with db.session() as session:
        row = session.get(JobCallback, delivery.id)
        if row is None:
            return
        count_attempt(row)
        row.attempt_log = [
            *row.attempt_log,
            {
                "at": now.isoformat(),
                "status_code": result.status_code,
                "error": result.error,
                "ms": round(result.duration_ms, 1),
            },
        ]
        if result.delivered:
            row.status, row.delivered_at, row.last_error = CallbackStatus.DELIVERED, now, None
            return
        if retry_or_give_up(
            row,
            error=result.error,
            now=now,
            max_attempts=settings.webhook_max_attempts,
            backoff_base_s=settings.webhook_backoff_base_s,
        ):
            log.warning(
                "job %d callback failed for good after %d attempts", row.job_id, row.attempts
            )
