"""Typed errors of the service, each with a stable code (see :mod:`indexer.errors`).

Every refusal of :func:`service.fetching.fetch_image` is a subclass of
:class:`UrlFetchError`, so a front end can catch them all in one place and still report
the precise ``code``.
"""

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


# --- batch jobs -----------------------------------------------------------------------------
class JobItemAttemptsExhaustedError(TwinwatchError):
    """A job item's worker died on it every time it was claimed: it is failed, not retried."""

    code = "job_item_attempts_exhausted"
    category = ErrorCategory.INTERNAL


class ManifestInvalidError(InvalidRequestError):
    """A batch's manifest (per-item context) is not the documented JSON, names an item the
    batch does not hold, or has a field out of bounds (``details.item`` names the entry)."""

    code = "manifest_invalid"


# --- crawl input (WARC archives, pages) -----------------------------------------------------
class WarcInvalidError(InvalidRequestError):
    """The upload is not a WARC archive at all (no record could be read from its start)."""

    code = "warc_invalid"


class PageNotHtmlError(UrlFetchError):
    """A page URL whose answer is not an HTML document."""

    code = "url_not_html"
    category = ErrorCategory.UNSUPPORTED


class PageHasNoImagesError(InvalidRequestError):
    """A page in which no image a person would see was found."""

    code = "page_no_images"


# --- licence vocabulary, dates and money ----------------------------------------------------
class ChannelUnknownError(InvalidRequestError):
    """A channel that is not on the closed list (``details.allowed`` names the list)."""

    code = "channel_unknown"


class TerritoryUnknownError(InvalidRequestError):
    """Not an ISO 3166-1 alpha-2 country code (sightings happen in one country)."""

    code = "territory_unknown"


class InvalidDateError(InvalidRequestError):
    """A date or date-time that does not parse, is out of range, or lies in the future."""

    code = "invalid_date"


class LicenceAssetNotFoundError(ResourceNotFoundError):
    code = "licence_asset_not_found"


# --- human accounts and the console ---------------------------------------------------------
class LoginFailedError(TwinwatchError):
    """Wrong e-mail or password, or a disabled account (one message for all three)."""

    code = "login_failed"
    category = ErrorCategory.UNAUTHORIZED


class LoginThrottledError(OverloadedError):
    """Too many failed sign-ins for this e-mail or from this address: wait ``retry_after_s``."""

    code = "login_throttled"
    category = ErrorCategory.RATE_LIMITED


class InvitationInvalidError(TwinwatchError):
    """The invitation link is unknown, used already, or expired."""

    code = "invitation_invalid"
    category = ErrorCategory.NOT_FOUND


class PasswordRejectedError(TwinwatchError):
    code = "password_rejected"
    category = ErrorCategory.INVALID


class UserExistsError(TwinwatchError):
    code = "user_exists"
    category = ErrorCategory.CONFLICT


class CsrfError(TwinwatchError):
    """A console form arrived without this session's CSRF token."""

    code = "csrf_failed"
    category = ErrorCategory.FORBIDDEN


class TriageNotAllowedError(TwinwatchError):
    """The triage action does not apply to the alert's current status."""

    code = "triage_not_allowed"
    category = ErrorCategory.CONFLICT


# --- takedown notices (service/takedowns) ---------------------------------------------------
class TakedownNotAllowedError(TwinwatchError):
    """The notice's status does not allow this step (e.g. editing a final notice)."""

    code = "takedown_not_allowed"
    category = ErrorCategory.CONFLICT


class TakedownIncompleteError(TwinwatchError):
    """A notice lacks an element its kind requires (a statement, the signature, contact)."""

    code = "takedown_incomplete"
    category = ErrorCategory.INVALID


class PdfUnavailableError(TwinwatchError):
    """PDF output needs WeasyPrint and Pango, which this installation lacks."""

    code = "pdf_unavailable"
    category = ErrorCategory.UNAVAILABLE


class LicenceRevokedError(TwinwatchError):
    """A revoked licence's terms cannot change (record a new licence)."""

    code = "licence_revoked"
    category = ErrorCategory.CONFLICT


class ReviewNotAllowedError(TwinwatchError):
    """Only an open or acknowledged alert about a face (band match or possible) can be
    reviewed as "same person" / "not the same person"."""

    code = "review_not_allowed"
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


# --- the talent's own consent (service.licensing.consent) ------------------------------------
class ConsentNotAllowedError(TwinwatchError):
    """The licence does not take this consent act now: it needs no consent, is revoked,
    is signed already by other means, or there is no consent to withdraw."""

    code = "consent_not_allowed"
    category = ErrorCategory.CONFLICT


class ConsentTermsChangedError(TwinwatchError):
    """The terms the talent read are not the licence's terms any more: read them again."""

    code = "consent_terms_changed"
    category = ErrorCategory.CONFLICT


class ConsentSignatureMismatchError(TwinwatchError):
    """The typed signature is not the talent's name."""

    code = "consent_signature_mismatch"
    category = ErrorCategory.INVALID


class ConsentDocumentUnsupportedError(TwinwatchError):
    """An offline consent document that is not a PDF, PNG or JPEG file."""

    code = "consent_document_unsupported"
    category = ErrorCategory.UNSUPPORTED


class FormTokenError(TwinwatchError):
    """A console form's one-time token is not this session's (or was altered)."""

    code = "form_token_invalid"
    category = ErrorCategory.FORBIDDEN


class FormExpiredError(TwinwatchError):
    """A console form's one-time token is older than forms are kept (it could not be told
    apart from a form already sent)."""

    code = "form_expired"
    category = ErrorCategory.CONFLICT


# --- added by h/crawl ---
class PageUnreadableError(InvalidRequestError):
    """A page whose markup the HTML parser refuses, so no image on it can be read (a crawled
    record says so under ``skipped``; a page job answers with it)."""

    code = "page_unreadable"
