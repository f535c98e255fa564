"""Form fields shared by scan, pre-check and batch endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Form, UploadFile

from indexer.db import utcnow
from service.api.idempotency import fingerprint
from service.errors import InvalidRequestError
from service.scanning.types import ImageSource, UseContext
from service.scanning.uploads import read_upload


@dataclass(frozen=True)
class ContextForm:
    """The parsed context plus a fingerprint of what was actually submitted (defaults such as
    "observed now" are left out, so a retried request fingerprints the same)."""

    context: UseContext
    fingerprint: str


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # naive timestamps are taken as UTC
    return value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _territory(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    code = value.strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise InvalidRequestError(f"territory {value!r} is not an ISO 3166-1 alpha-2 code.")
    return code


def _text(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def sighting_context(
    page_url: Annotated[str | None, Form(description="Page where the image was seen.")] = None,
    publisher: Annotated[str | None, Form(description="Publisher domain or account URL.")]
    = None,
    observed_at: Annotated[datetime | None, Form(description="When it was seen (default: "
                                                  "now; naive = UTC).")] = None,
    channel: Annotated[str | None, Form(description="social, ecommerce, print, outdoor, "
                                        "video, ...")] = None,
    territory: Annotated[str | None, Form(description="ISO 3166-1 alpha-2 code.")] = None,
) -> ContextForm:
    context = UseContext(page_url=_text(page_url), publisher=_text(publisher),
                         observed_at=_aware(observed_at) or utcnow(),
                         channel=(_text(channel) or "").lower() or None,
                         territory=_territory(territory))
    return ContextForm(context, fingerprint(page_url, publisher, _iso(observed_at), channel,
                                            territory))


def intended_use(
    publisher: Annotated[str, Form(description="Where the brand will publish (its domain or "
                                   "account URL).")],
    channel: Annotated[str, Form(description="social, ecommerce, print, outdoor, video, ...")],
    territory: Annotated[str, Form(description="ISO 3166-1 alpha-2 code.")],
    use_from: Annotated[datetime | None, Form(description="First day of use (default now).")]
    = None,
    use_until: Annotated[datetime | None, Form(description="Last day of use.")] = None,
    page_url: Annotated[str | None, Form()] = None,
) -> ContextForm:
    start = _aware(use_from) or utcnow()
    until = _aware(use_until)
    if until is not None and until < start:
        raise InvalidRequestError("use_until is before use_from.")
    context = UseContext(page_url=_text(page_url), publisher=_text(publisher),
                         observed_at=start, channel=channel.strip().lower(),
                         territory=_territory(territory), use_until=until)
    return ContextForm(context, fingerprint(publisher, channel, territory, _iso(use_from),
                                            _iso(use_until), page_url))


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
