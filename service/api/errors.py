"""One mapping from typed errors to HTTP answers in the documented envelope."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from indexer.errors import ErrorCategory, TwinwatchError
from service.errors import OverloadedError

log = logging.getLogger("twinwatch.http")

STATUS_BY_CATEGORY = {
    ErrorCategory.INVALID: 422, ErrorCategory.NOT_FOUND: 404, ErrorCategory.CONFLICT: 409,
    ErrorCategory.TOO_LARGE: 413, ErrorCategory.UNSUPPORTED: 415, ErrorCategory.FORBIDDEN: 403,
    ErrorCategory.UNAUTHORIZED: 401, ErrorCategory.UNAVAILABLE: 503,
    ErrorCategory.OVERLOADED: 503, ErrorCategory.RATE_LIMITED: 429,
    ErrorCategory.UPSTREAM: 502, ErrorCategory.INTERNAL: 500,
}


def error_response(exc: TwinwatchError) -> JSONResponse:
    status = STATUS_BY_CATEGORY[exc.category]
    headers = {}
    if isinstance(exc, OverloadedError):
        headers["Retry-After"] = str(exc.retry_after_s)
    return JSONResponse({"error": exc.to_dict()}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TwinwatchError)
    async def typed_error(_request: Request, exc: TwinwatchError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]}
                    for e in exc.errors()]
        return JSONResponse({"error": {"code": "invalid_request", "message":
                                       "The request is not valid: " + "; ".join(
                                           f"{p['field']}: {p['problem']}" for p in problems),
                                       "details": {"problems": problems}}}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": {"code": "internal_error", "message":
                                       "Something went wrong on our side; nothing was "
                                       "recorded for this request."}}, status_code=500)
