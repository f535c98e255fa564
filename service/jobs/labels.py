"""A batch job's codes in plain words: the one wording of job and item states and of what an
item did to the alerts, for every page (and the progress a page polls) that shows a job to a
person. The API keeps the codes; people read these."""

from __future__ import annotations

from indexer.video import Truncation
from service.jobs.queue import ItemStatus, JobStatus
from service.rules.dates import video_time
from service.scanning.types import AlertOutcome

JOB_STATUS: dict[str, str] = {
    JobStatus.QUEUED: "waiting to start",
    JobStatus.RUNNING: "in progress",
    JobStatus.DONE: "finished",
}
ITEM_STATUS: dict[str, str] = {
    ItemStatus.QUEUED: "waiting",
    ItemStatus.RUNNING: "being scanned",
    ItemStatus.DONE: "scanned",
    ItemStatus.FAILED: "could not be scanned",
}
ALERT_OUTCOME: dict[str, str] = {
    AlertOutcome.RAISED: "raised an alert",
    AlertOutcome.UPDATED: "added to an alert",
    AlertOutcome.NONE: "no alert",
    "yes": "on an alert",  # items recorded before the jobs service said raised or updated
    "no": "no alert",
}

VIDEO_CUT: dict[str, str] = {
    Truncation.MAX_DURATION: "longer than the length limit",
    Truncation.MAX_FRAMES: "more frames than the limit",
    Truncation.MAX_SAMPLES: "the analysis budget ran out",
    Truncation.BROKEN_STREAM: "the file is broken after that point",
}


def job_status(code: str) -> str:
    return JOB_STATUS.get(code, code)


def item_status(code: str) -> str:
    return ITEM_STATUS.get(code, code)


def alert_outcome(code: str | None) -> str:
    return "—" if code is None else ALERT_OUTCOME.get(code, code)


def video_read(duration_s: float | None, truncated: str | None) -> str:
    """How much of a scanned video was looked at: ``video, 0:45``, or, when it was cut
    short, ``video: only the first 10:00 was checked (longer than the length limit)``."""
    read = video_time(duration_s or 0.0)
    if truncated is None:
        return f"video, {read}"
    return f"video: only the first {read} was checked ({VIDEO_CUT.get(truncated, truncated)})"
