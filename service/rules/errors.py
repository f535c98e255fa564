"""Errors of the rules of meaning: unknown channels and territories, dates, fingerprints."""

from __future__ import annotations

from indexer.errors import ErrorCategory, TwinwatchError
from service.core.errors import InvalidRequestError


# --- fingerprints ---------------------------------------------------------------------------
class FingerprintInputError(TwinwatchError):
    """The array given to the perceptual hash is not an 8-bit image."""

    code = "fingerprint_input_invalid"
    category = ErrorCategory.INVALID


class FingerprintFormatError(TwinwatchError):
    """A fingerprint string is not 16 hexadecimal characters."""

    code = "fingerprint_invalid"
    category = ErrorCategory.INVALID


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
