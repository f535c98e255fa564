"""Every request gets an ``X-Request-Id`` and one access-log line, a 500 included.

A pure ASGI middleware (outside the body-size limit, inside Starlette's last-resort error
middleware): an exception that escapes the app is logged with the request id and answered
here with the ``internal_error`` envelope, so even a crash has an id and a log line.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_response, internal_error
from service.core.settings import SECRET_LINK_PATHS

log = logging.getLogger("twinwatch.http")

#: A caller's own request id is echoed only if it is short and plain (it goes into logs).
CALLER_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def logged_path(path: str | None) -> str | None:
    """The path as the log writes it: a one-time link's secret (an invitation, a password
    reset, an address confirmation) is replaced by ``...``."""
    for prefix in SECRET_LINK_PATHS:
        if path is not None and path.startswith(prefix) and len(path) > len(prefix):
            return f"{prefix}..."
    return path


def request_id_for(headers: Headers) -> str:
    given = headers.get("x-request-id", "")
    return given if CALLER_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(Headers(scope=scope))
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                MutableHeaders(scope=message)["X-Request-Id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"fields": {"request_id": request_id}})
            if response_started:
                raise
            await error_response(internal_error(request_id))(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                extra={
                    "fields": {
                        "request_id": request_id,
                        "method": scope.get("method"),
                        "path": logged_path(scope.get("path")),
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                        "key": scope["state"].get("key_prefix"),
                    }
                },
            )
