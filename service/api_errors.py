"""Errors raised by the API layer (auth, limits, scoping), each with a stable code."""

from __future__ import annotations

from indexer.errors import ErrorCategory, TwinwatchError


class UnauthorizedError(TwinwatchError):
    code = "unauthorized"
    category = ErrorCategory.UNAUTHORIZED


class ForbiddenError(TwinwatchError):
    code = "forbidden"
    category = ErrorCategory.FORBIDDEN


class ResourceNotFoundError(TwinwatchError):
    code = "not_found"
    category = ErrorCategory.NOT_FOUND


class InvalidRequestError(TwinwatchError):
    code = "invalid_request"
    category = ErrorCategory.INVALID


class PayloadTooLargeError(TwinwatchError):
    code = "payload_too_large"
    category = ErrorCategory.TOO_LARGE


class OverloadedError(TwinwatchError):
    """The inference queue is full: try again after ``retry_after_s``."""

    code = "overloaded"
    category = ErrorCategory.OVERLOADED

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.retry_after_s = retry_after_s


class RateLimitedError(OverloadedError):
    """This API key already has too many scans in flight."""

    code = "rate_limited"
    category = ErrorCategory.RATE_LIMITED


class NotReadyError(TwinwatchError):
    code = "not_ready"
    category = ErrorCategory.UNAVAILABLE


class IdempotencyConflictError(TwinwatchError):
    code = "idempotency_key_conflict"
    category = ErrorCategory.CONFLICT
