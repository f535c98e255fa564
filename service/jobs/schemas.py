"""Wire types of batch jobs: jobs, their items, skipped records and completion callbacks."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from service.scanning.types import AlertOutcome


class JobItemOut(BaseModel):
    """One item of a batch job. ``name`` is the uploaded file's name or the item's URL (an
    image URL, or a crawled record's target URI); ``source`` is the same (kept for older
    clients). ``context`` is the item's own context where it has one (else the job's)."""

    position: int
    name: str
    source: str
    status: str
    scan_id: int | None
    error: dict[str, Any] | None
    alert_outcome: AlertOutcome | None
    context: dict[str, Any] | None = None


class CallbackOut(BaseModel):
    """The job's completion callback: its URL and how its delivery went."""

    url: str
    status: str  # waiting (job not finished) | pending | delivered | failed
    attempts: int
    last_error: str | None
    delivered_at: datetime | None
    attempt_log: list[dict[str, Any]]


class SkippedRecordOut(BaseModel):
    """A crawl record reported and skipped (malformed, truncated, a revisit not resolved)."""

    offset: int | None
    uri: str | None
    reason: str
    message: str


class JobOut(BaseModel):
    id: int
    kind: str
    status: str
    total: int
    queued: int
    running: int
    done: int
    failed: int
    created_at: datetime
    finished_at: datetime | None
    items: list[JobItemOut] = Field(
        description="The first 100 items by position (a crawl job "
        "may hold thousands; `total` counts them all): every item "
        "is paged at `GET /v1/jobs/{id}/items`."
    )
    callback: CallbackOut | None = None
    callback_secret: str | None = Field(
        default=None,
        description="Only in the answer that "
        "created the job: the secret the callback is signed "
        "with (generated unless `callback_secret` was given).",
    )
    skipped: list[SkippedRecordOut] = []


class JobFinishedEvent(BaseModel):
    """The body of a job's completion callback: the job as ``GET /v1/jobs/{id}`` shows it
    to its submitter (per item: name, status, scan, alert outcome; never licence terms)."""

    event: Literal["job.finished"] = "job.finished"
    job: JobOut
