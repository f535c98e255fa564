"""Typed errors of the service, each with a stable code (see :mod:`indexer.errors`).

Every refusal of :func:`service.fetching.fetch_image` is a subclass of
:class:`UrlFetchError`, so a front end can catch them all in one place and still report
the precise ``code``.
"""

from __future__ import annotations

from indexer.errors import ErrorCategory, TwinwatchError


# --- fetching an image by URL ---------------------------------------------------------------
class UrlFetchError(TwinwatchError):
    """Base class: the image at a URL could not (or must not) be fetched."""

    code = "url_fetch_error"
    category = ErrorCategory.INVALID


class UrlInvalidError(UrlFetchError):
    """The URL is malformed: no host, credentials in it, an unparsable host or port."""

    code = "url_invalid"
    category = ErrorCategory.INVALID


class UrlSchemeNotAllowedError(UrlFetchError):
    code = "url_scheme_not_allowed"
    category = ErrorCategory.INVALID


class UrlHostForbiddenError(UrlFetchError):
    """The host is, or resolves to, an address twinwatch must never connect to."""

    code = "url_host_forbidden"
    category = ErrorCategory.INVALID


class UrlTooManyRedirectsError(UrlFetchError):
    code = "url_too_many_redirects"
    category = ErrorCategory.UPSTREAM


class UrlFetchTimeoutError(UrlFetchError):
    code = "url_fetch_timeout"
    category = ErrorCategory.UPSTREAM


class UrlResponseTooLargeError(UrlFetchError):
    code = "url_response_too_large"
    category = ErrorCategory.TOO_LARGE


class UrlNotAnImageError(UrlFetchError):
    code = "url_not_an_image"
    category = ErrorCategory.UNSUPPORTED


class UrlFetchFailedError(UrlFetchError):
    """Resolution or connection failed, or the server answered with an error status."""

    code = "url_fetch_failed"
    category = ErrorCategory.UPSTREAM


# --- fingerprints ---------------------------------------------------------------------------
class FingerprintInputError(TwinwatchError):
    """The array given to the perceptual hash is not an 8-bit image."""

    code = "fingerprint_input_invalid"
    category = ErrorCategory.INVALID


class FingerprintFormatError(TwinwatchError):
    """A fingerprint string is not 16 hexadecimal characters."""

    code = "fingerprint_invalid"
    category = ErrorCategory.INVALID


# --- access, requests and limits ------------------------------------------------------------

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


# --- the database schema (service/migrations) ------------------------------------------------
class SchemaError(TwinwatchError):
    """Base class: the database's schema is not the one this twinwatch was built for."""

    code = "schema_error"
    category = ErrorCategory.UNAVAILABLE


class SchemaBehindError(SchemaError):
    """An external database is behind the migrations: the operator runs `twinwatch db upgrade`."""

    code = "schema_behind"


class SchemaRevisionUnknownError(SchemaError):
    """The database is at a revision this twinwatch does not know (made by a newer release)."""

    code = "schema_revision_unknown"


class SchemaNotAdoptableError(SchemaError):
    """A database made before migrations whose tables differ from the initial revision's."""

    code = "schema_not_adoptable"


class SchemaIntegrityError(SchemaError):
    """An upgrade would leave rows whose foreign keys point at nothing; it was rolled back."""

    code = "schema_integrity_violation"
