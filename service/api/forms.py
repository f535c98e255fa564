"""Form fields shared by scan, pre-check and batch endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, UploadFile

from indexer.db import utcnow
from service.api.idempotency import fingerprint
from service.dates import last_instant_or_error, require_not_future, start_or_error
from service.errors import InvalidRequestError
from service.licensing.publishers import parse_location
from service.scanning.types import ImageSource, UseContext
from service.scanning.uploads import read_upload
from service.schemas import MAX_PUBLISHER_CHARS
from service.vocabulary import ALLOWED_CHANNELS, channel_or_error, territory_or_error

MAX_URL_CHARS = 2000


@dataclass(frozen=True)
class ContextForm:
    """The parsed context plus a fingerprint of what was actually submitted (defaults such as
    "observed now" are left out, so a retried request fingerprints the same)."""

    context: UseContext
    fingerprint: str


def _text(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _channel(value: str | None) -> str | None:
    text = _text(value)
    return channel_or_error(text).value if text is not None else None


def _territory(value: str | None) -> str | None:
    text = _text(value)
    return territory_or_error(text) if text is not None else None


def _publisher(value: str | None, *, field: str) -> str | None:
    """A stated publisher or page URL must name a host (the publisher rule lives in
    service.licensing.publishers)."""
    text = _text(value)
    if text is not None and parse_location(text) is None:
        raise InvalidRequestError(f"{field} {text[:80]!r} names no host (a domain, account "
                                  "URL or page URL).", field=field)
    return text


_DATE_HELP = "a date (its start, UTC) or ISO 8601 date-time; no zone = UTC"


def sighting_context(
    page_url: Annotated[str | None, Form(max_length=MAX_URL_CHARS,
                                         description="Page where the image was seen.")] = None,
    publisher: Annotated[str | None, Form(max_length=MAX_PUBLISHER_CHARS,
                                          description="Publisher domain or account URL.")]
    = None,
    observed_at: Annotated[str | None, Form(max_length=64, description=(
        f"When it was seen (default: now): {_DATE_HELP}; not in the future."))] = None,
    channel: Annotated[str | None, Form(max_length=40, description=(
        f"One of {ALLOWED_CHANNELS} (case, separators and synonyms such as e-commerce or "
        "Instagram are understood)."))] = None,
    territory: Annotated[str | None, Form(max_length=10,
                                          description="ISO 3166-1 alpha-2 code.")] = None,
) -> ContextForm:
    now = utcnow()
    seen = start_or_error(observed_at, field="observed_at")
    if seen is not None:
        require_not_future(seen, now=now, field="observed_at")
    context = UseContext(page_url=_publisher(page_url, field="page_url"),
                         publisher=_publisher(publisher, field="publisher"),
                         observed_at=seen or now, channel=_channel(channel),
                         territory=_territory(territory))
    return ContextForm(context, fingerprint(page_url, publisher, observed_at, channel,
                                            territory))


def intended_use(
    publisher: Annotated[str, Form(max_length=MAX_PUBLISHER_CHARS, description=(
        "Where the brand will publish (its domain or account URL)."))],
    channel: Annotated[str, Form(max_length=40, description=f"One of {ALLOWED_CHANNELS}.")],
    territory: Annotated[str, Form(max_length=10, description="ISO 3166-1 alpha-2 code.")],
    use_from: Annotated[str | None, Form(max_length=64, description=(
        f"First day of use (default now): {_DATE_HELP}."))] = None,
    use_until: Annotated[str | None, Form(max_length=64, description=(
        "Last day of use: a date (to its end, UTC) or date-time."))] = None,
    page_url: Annotated[str | None, Form(max_length=MAX_URL_CHARS)] = None,
) -> ContextForm:
    start = start_or_error(use_from, field="use_from") or utcnow()
    until = last_instant_or_error(use_until, field="use_until")
    if until is not None and until < start:
        raise InvalidRequestError("use_until is before use_from.")
    stated = _publisher(publisher, field="publisher")
    if stated is None:
        raise InvalidRequestError("publisher is required.", field="publisher")
    context = UseContext(page_url=_publisher(page_url, field="page_url"), publisher=stated,
                         observed_at=start, channel=_channel(channel),
                         territory=_territory(territory), use_until=until)
    return ContextForm(context, fingerprint(publisher, channel, territory, use_from,
                                            use_until, page_url))


SightingContext = Annotated[ContextForm, Depends(sighting_context)]
IntendedUse = Annotated[ContextForm, Depends(intended_use)]


async def image_source(file: UploadFile | None, url: str | None, *, max_bytes: int
                       ) -> ImageSource:
    url = _text(url)
    if (file is None) == (url is None):
        raise InvalidRequestError("Send exactly one of `file` (an upload) or `url`.")
    if file is not None:
        return ImageSource(data=await read_upload(file, max_bytes=max_bytes))
    return ImageSource(url=url)
