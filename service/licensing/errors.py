"""Errors of licences and consent."""

from __future__ import annotations

from indexer.errors import ErrorCategory, TwinwatchError
from service.core.errors import ResourceNotFoundError


class LicenceAssetNotFoundError(ResourceNotFoundError):
    code = "licence_asset_not_found"


class LicenceRevokedError(TwinwatchError):
    """A revoked licence's terms cannot change (record a new licence)."""

    code = "licence_revoked"
    category = ErrorCategory.CONFLICT


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


class ConsentDocumentMismatchError(TwinwatchError):
    """The document confirmed is not the record's document (its sha256 differs)."""

    code = "consent_document_mismatch"
    category = ErrorCategory.CONFLICT


class ConsentWithdrawnError(TwinwatchError):
    """The talent withdrew consent to this licence: only her own new act reverses that."""

    code = "consent_withdrawn"
    category = ErrorCategory.CONFLICT
