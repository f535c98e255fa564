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
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_response, internal_error

log = logging.getLogger("twinwatch.http")

#: A caller's own request id is echoed only if it is short and plain (it goes into logs).
CALLER_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

#: What a logged secret is replaced with.
REDACTED = "[redacted]"
#: Secret-bearing paths: the segment after one of these is a one-time secret (the console's
#: invitation link ``/console/invite/<token>``, its password reset ``/console/reset/<token>``
#: and address confirmation ``/console/email/confirm/<token>``, the paths of
#: ``service.core.settings.SECRET_LINK_PATHS``, and any other password-reset or e-mail
#: verification style link), logged as ``/console/invite/[redacted]``.
SECRET_PATH = re.compile(
    r"(?P<before>/(?:invite|invitation|reset|password-reset|reset-password|verify|confirm)/)"
    r"[^/?#]+",
    re.IGNORECASE,
)
#: Query parameters whose values are secrets, whatever the path (``?token=...``).
SECRET_PARAMETER = re.compile(
    r"token|secret|key|password|signature|code|csrf|session|auth|invite|reset", re.IGNORECASE
)


def loggable_target(path: str, query_string: bytes = b"") -> dict[str, str]:
    """The request's ``path`` (and ``query``, if any) as they may be logged: the one
    redaction rule. Secret path segments (``SECRET_PATH``) become ``[redacted]``, in the path
    and in any query value that carries a path (``?next=/console/invite/...``); so do the
    values of parameters named like a secret (``SECRET_PARAMETER``)."""
    target = {"path": _redacted_path(path)}
    query = query_string.decode("latin-1")
    if query:
        pairs = [
            (name, REDACTED if SECRET_PARAMETER.search(name) else _redacted_path(value))
            for name, value in parse_qsl(query, keep_blank_values=True)
        ]
        target["query"] = urlencode(pairs, safe="/[]:,")
    return target


def _redacted_path(path: str) -> str:
    return SECRET_PATH.sub(rf"\g<before>{REDACTED}", path)


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
                        **loggable_target(scope["path"], scope.get("query_string", b"")),
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                        "key": scope["state"].get("key_prefix"),
                    }
                },
            )
