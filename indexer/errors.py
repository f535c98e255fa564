"""Typed errors with stable codes.

Each error is a small class with a stable ``code`` (part of the public API) and a
``category`` that front ends (CLI, HTTP service) map to an exit code or status.
"""

from __future__ import annotations

import difflib
from enum import StrEnum
from typing import Any, ClassVar


class ErrorCategory(StrEnum):
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    UNSUPPORTED = "unsupported"
    FORBIDDEN = "forbidden"
    UNAUTHORIZED = "unauthorized"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNAVAILABLE = "unavailable"
    OVERLOADED = "overloaded"
    RATE_LIMITED = "rate_limited"
    UPSTREAM = "upstream"  # a remote server (a URL we were asked to fetch) failed
    INTERNAL = "internal"


class TwinwatchError(Exception):
    code: ClassVar[str] = "twinwatch_error"
    category: ClassVar[ErrorCategory] = ErrorCategory.INTERNAL

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


def close_match(name: str, known: list[str]) -> str | None:
    """The one known name ``name`` is probably a typo of, if any (for "did you mean")."""
    matches = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
    return matches[0] if matches else None


# --- images ---------------------------------------------------------------------------------
class ImageDecodeError(TwinwatchError):
    code = "image_decode_failed"
    category = ErrorCategory.INVALID


class UnsupportedImageTypeError(TwinwatchError):
    code = "image_type_unsupported"
    category = ErrorCategory.UNSUPPORTED


class ImageTooLargeError(TwinwatchError):
    code = "image_too_large"
    category = ErrorCategory.TOO_LARGE


# --- videos ---------------------------------------------------------------------------------
class VideoDecodeError(TwinwatchError):
    """The container or its video stream could not be read (broken, truncated, no frames)."""

    code = "video_decode_failed"
    category = ErrorCategory.INVALID


class UnsupportedVideoTypeError(TwinwatchError):
    """A container or codec outside the video format table (``indexer.formats``)."""

    code = "video_type_unsupported"
    category = ErrorCategory.UNSUPPORTED


class VideoTooLargeError(TwinwatchError):
    """Over a video bound: bytes, frame size, declared duration or frames, decode time."""

    code = "video_too_large"
    category = ErrorCategory.TOO_LARGE


class TooManyFacesError(TwinwatchError):
    code = "too_many_faces"
    category = ErrorCategory.TOO_LARGE


# --- model packs ----------------------------------------------------------------------------
class ModelPackUnknownError(TwinwatchError):
    code = "model_pack_unknown"
    category = ErrorCategory.NOT_FOUND


class ModelPackMissingError(TwinwatchError):
    code = "model_pack_missing"
    category = ErrorCategory.UNAVAILABLE


class ModelPackLicenceError(TwinwatchError):
    code = "model_pack_licence_not_acknowledged"
    category = ErrorCategory.FORBIDDEN


class ModelPackChecksumError(TwinwatchError):
    code = "model_pack_checksum_mismatch"
    category = ErrorCategory.INVALID


class ModelPackFetchError(TwinwatchError):
    code = "model_pack_fetch_failed"
    category = ErrorCategory.UNAVAILABLE


class ModelPackManifestError(TwinwatchError):
    code = "model_pack_manifest_invalid"
    category = ErrorCategory.INVALID


# --- registry / index -----------------------------------------------------------------------
class NotFoundError(TwinwatchError):
    code = "not_found"
    category = ErrorCategory.NOT_FOUND


class TalentNotFoundError(NotFoundError):
    code = "talent_not_found"


class AgencyNotFoundError(NotFoundError):
    code = "agency_not_found"


class ConflictError(TwinwatchError):
    code = "conflict"
    category = ErrorCategory.CONFLICT


class ExternalIdTakenError(ConflictError):
    """Another talent of the agency has this external id (``details.existing_id``)."""

    code = "talent_external_id_taken"


class AmbiguousTalentError(ConflictError):
    """Several talents share the name given; an external id tells them apart."""

    code = "talent_name_ambiguous"


class ReferenceRejectedError(TwinwatchError):
    """A reference photo failed the quality gate; ``reasons`` says why."""

    code = "reference_photo_rejected"
    category = ErrorCategory.INVALID


class IndexUnavailableError(TwinwatchError):
    code = "index_unavailable"
    category = ErrorCategory.UNAVAILABLE
