"""One mapping from typed errors to HTTP answers in the documented envelope.

Everything the app can answer with an error goes through :func:`error_response`: typed
errors, request validation, Starlette's own 404/405/400 (unknown route, wrong method, a
body that cannot be parsed) and, last, anything unexpected (a 500 that names no cause).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from indexer.errors import ErrorCategory, TwinwatchError
from service.core.errors import (
    ForbiddenError,
    InternalError,
    InvalidRequestError,
    MalformedBodyError,
    MethodNotAllowedError,
    OverloadedError,
    PayloadTooLargeError,
    RouteNotFoundError,
    UnauthorizedError,
)
from service.core.logs import RECENT_ERRORS

log = logging.getLogger("twinwatch.http")

STATUS_BY_CATEGORY = {
    ErrorCategory.INVALID: 422,
    ErrorCategory.NOT_FOUND: 404,
    ErrorCategory.CONFLICT: 409,
    ErrorCategory.TOO_LARGE: 413,
    ErrorCategory.UNSUPPORTED: 415,
    ErrorCategory.FORBIDDEN: 403,
    ErrorCategory.UNAUTHORIZED: 401,
    ErrorCategory.METHOD_NOT_ALLOWED: 405,
    ErrorCategory.UNAVAILABLE: 503,
    ErrorCategory.OVERLOADED: 503,
    ErrorCategory.RATE_LIMITED: 429,
    ErrorCategory.UPSTREAM: 502,
    ErrorCategory.INTERNAL: 500,
}

#: Starlette's and FastAPI's own HTTP errors, as the typed error that says the same thing.
FRAMEWORK_ERRORS: dict[int, type[TwinwatchError]] = {
    400: MalformedBodyError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: RouteNotFoundError,
    405: MethodNotAllowedError,
    413: PayloadTooLargeError,
}

INTERNAL_MESSAGE = "Something went wrong on our side; nothing was recorded for this request."
MAX_PROBLEMS = 20  # a body with thousands of bad fields answers with the first few


def status_of(exc: TwinwatchError) -> int:
    return STATUS_BY_CATEGORY[exc.category]


def error_response(exc: TwinwatchError, *, headers: dict[str, str] | None = None) -> JSONResponse:
    """The envelope ``{"error": {"code", "message", "details"?}}`` with the category's status."""
    headers = dict(headers or {})
    note_answer(exc)
    if isinstance(exc, OverloadedError):
        headers["Retry-After"] = str(exc.retry_after_s)
    return JSONResponse({"error": exc.to_dict()}, status_code=status_of(exc), headers=headers)


def note_answer(exc: TwinwatchError) -> None:
    """Errors answered with a 5xx go to the admin's recent errors (code and message only)."""
    status = status_of(exc)
    if status >= 500 and not isinstance(exc, InternalError):  # a crash: its log line counts
        RECENT_ERRORS.answered(code=exc.code, message=exc.message, status=status)


def internal_error(request_id: str | None) -> InternalError:
    if request_id:
        return InternalError(INTERNAL_MESSAGE, request_id=request_id)
    return InternalError(INTERNAL_MESSAGE)


def framework_error(exc: StarletteHTTPException, request: Request) -> TwinwatchError:
    kind = FRAMEWORK_ERRORS.get(exc.status_code, MalformedBodyError)
    if kind is RouteNotFoundError:
        return RouteNotFoundError(f"There is no endpoint at {request.url.path}.")
    if kind is MethodNotAllowedError:
        allowed = [m.strip() for m in (exc.headers or {}).get("Allow", "").split(",") if m.strip()]
        return MethodNotAllowedError(
            f"{request.method} is not allowed on {request.url.path}.", allowed=allowed
        )
    if kind is MalformedBodyError:
        return MalformedBodyError(f"The request body could not be parsed: {exc.detail}.")
    return kind(str(exc.detail))


def validation_error(exc: RequestValidationError) -> InvalidRequestError:
    problems: list[dict[str, Any]] = [
        {"field": ".".join(str(part) for part in error["loc"]), "problem": error["msg"]}
        for error in exc.errors()[:MAX_PROBLEMS]
    ]
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return InvalidRequestError(f"The request is not valid: {summary}", problems=problems)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TwinwatchError)
    async def typed_error(_request: Request, exc: TwinwatchError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def framework(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return framework_response(request, exc)


def framework_response(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's own HTTP error (unknown route, wrong method...) in the envelope."""
    headers = {"Allow": exc.headers["Allow"]} if exc.headers and "Allow" in exc.headers else None
    return error_response(framework_error(exc, request), headers=headers)
