"""Errors every capability shares, each with a stable code (see :mod:`indexer.errors`).

Every refusal of :func:`service.core.fetching.fetch_image` is a subclass of
:class:`UrlFetchError`, so a front end can catch them all in one place and still report
the precise ``code``."""

from __future__ import annotations

from indexer.errors import ErrorCategory, NotFoundError, TwinwatchError

#: Kept for callers written before the audit of codes: it *is* :class:`NotFoundError`
#: (code ``not_found``), so one code still has one class.
ResourceNotFoundError = NotFoundError


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


class UnauthorizedError(TwinwatchError):
    code = "unauthorized"
    category = ErrorCategory.UNAUTHORIZED


class ForbiddenError(TwinwatchError):
    code = "forbidden"
    category = ErrorCategory.FORBIDDEN


class RouteNotFoundError(TwinwatchError):
    """No endpoint has this path (an object that is missing or out of scope is
    :class:`~indexer.errors.NotFoundError`)."""

    code = "route_not_found"
    category = ErrorCategory.NOT_FOUND


class MethodNotAllowedError(TwinwatchError):
    """The path exists but does not take this HTTP method; ``allowed`` lists those it does."""

    code = "method_not_allowed"
    category = ErrorCategory.METHOD_NOT_ALLOWED


class InvalidRequestError(TwinwatchError):
    """A parameter or body field is missing, malformed or out of bounds."""

    code = "invalid_request"
    category = ErrorCategory.INVALID


class MalformedBodyError(TwinwatchError):
    """The body cannot be parsed at all (broken multipart, undecodable form)."""

    code = "malformed_body"
    category = ErrorCategory.INVALID


class InternalError(TwinwatchError):
    """A fault on our side; the message never carries its cause (that goes to the log)."""

    code = "internal_error"
    category = ErrorCategory.INTERNAL


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


class TenantNotFoundError(TwinwatchError):
    """No agency, brand or monitor of that name: tenants are created explicitly."""

    code = "tenant_not_found"
    category = ErrorCategory.NOT_FOUND


class TenantExistsError(TwinwatchError):
    code = "tenant_exists"
    category = ErrorCategory.CONFLICT


class IdempotencyKeyInvalidError(TwinwatchError):
    """An Idempotency-Key that is empty, too long (it is never truncated) or not printable."""

    code = "idempotency_key_invalid"
    category = ErrorCategory.INVALID


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


class FormTokenError(TwinwatchError):
    """A console form's one-time token is not this session's (or was altered)."""

    code = "form_token_invalid"
    category = ErrorCategory.FORBIDDEN


class FormExpiredError(TwinwatchError):
    """A console form's one-time token is older than forms are kept (it could not be told
    apart from a form already sent)."""

    code = "form_expired"
    category = ErrorCategory.CONFLICT


class PageNotHtmlError(UrlFetchError):
    """A page URL whose answer is not an HTML document."""

    code = "url_not_html"
    category = ErrorCategory.UNSUPPORTED


# --- documents ---------------------------------------------------------------------------------
class PdfUnavailableError(TwinwatchError):
    """PDF output needs WeasyPrint and Pango, which this installation lacks."""

    code = "pdf_unavailable"
    category = ErrorCategory.UNAVAILABLE
