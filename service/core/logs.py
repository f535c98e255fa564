"""Structured (JSON) logs for the service. Never log images, embeddings or keys."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

RECENT_ERRORS_KEPT = 100
MESSAGE_CHARS = 300


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_json_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler, *(h for h in root.handlers if isinstance(h, RecentErrorsHandler))]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# --- recent errors (the admin's status page) -------------------------------------------------
@dataclass(frozen=True)
class ErrorRecord:
    """One recent error: when, where, its code or exception type, a short message and the
    request id. Never a request body, an image or an embedding (only what logs carry)."""

    at: datetime
    source: str  # the logger, or "answer" for an error answered with a 5xx
    code: str | None
    message: str
    request_id: str | None = None
    status: int | None = None


class RecentErrors:
    """A bounded in-memory ring of this process's recent errors, newest last."""

    def __init__(self, capacity: int = RECENT_ERRORS_KEPT) -> None:
        self._ring: deque[ErrorRecord] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def add(self, record: ErrorRecord) -> None:
        with self._lock:
            self._ring.append(record)

    def answered(self, *, code: str, message: str, status: int) -> None:
        self.add(
            ErrorRecord(
                at=datetime.now(UTC),
                source="answer",
                code=code,
                message=message[:MESSAGE_CHARS],
                status=status,
            )
        )

    def newest_first(self) -> list[ErrorRecord]:
        with self._lock:
            return list(reversed(self._ring))

    def clear(self) -> None:
        with self._lock:
            self._ring.clear()


RECENT_ERRORS = RecentErrors()


class RecentErrorsHandler(logging.Handler):
    """Feeds ERROR (and worse) log records into :data:`RECENT_ERRORS`: the message and the
    exception's type, never its traceback or arguments beyond the formatted message."""

    def __init__(self, ring: RecentErrors = RECENT_ERRORS) -> None:
        super().__init__(level=logging.ERROR)
        self.ring = ring

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = getattr(record, "fields", None)
            fields = fields if isinstance(fields, dict) else {}
            kind = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else None
            self.ring.add(
                ErrorRecord(
                    at=datetime.fromtimestamp(record.created, UTC),
                    source=record.name,
                    code=str(fields.get("code") or kind or record.levelname.lower()),
                    message=record.getMessage()[:MESSAGE_CHARS],
                    request_id=str(fields["request_id"]) if "request_id" in fields else None,
                )
            )
        except Exception:  # a broken record must never break logging
            self.handleError(record)


def install_recent_errors() -> None:
    """Attach the recent-errors handler to the root logger, once per process."""
    root = logging.getLogger()
    if not any(isinstance(h, RecentErrorsHandler) for h in root.handlers):
        root.addHandler(RecentErrorsHandler())
