"""Form fields shared by scan, pre-check and batch endpoints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Form, Query, UploadFile

from indexer.db import utcnow
from service.api.idempotency import fingerprint
from service.errors import InvalidRequestError, UrlInvalidError
from service.fetching import split_url
from service.scanning.types import ImageSource, UseContext
from service.scanning.uploads import read_upload
from service.schemas import (
    CHANNEL_MAX,
    NO_NUL,
    PUBLISHER_MAX,
    UPLOAD_NAME_MAX,
    URL_MAX,
    UtcTimestamp,
)

# Form and query fields, bounded like the columns they are stored in, never with NUL.
PageUrl = Annotated[str | None, Form(max_length=URL_MAX, pattern=NO_NUL,
                                     description="Page where the image was seen.",
                                     examples=["https://shop.example.net/p/summer-dress"])]
Publisher = Annotated[str | None, Form(max_length=PUBLISHER_MAX, pattern=NO_NUL,
                                       description="Publisher domain or account URL.",
                                       examples=["instagram.com/knockoff_store"])]
Channel = Annotated[str | None, Form(max_length=CHANNEL_MAX, pattern=NO_NUL,
                                     description="social, ecommerce, print, outdoor, video, "
                                                 "...", examples=["ecommerce"])]
Territory = Annotated[str | None, Form(max_length=8, pattern=NO_NUL,
                                       description="ISO 3166-1 alpha-2 code.",
                                       examples=["FR"])]
ImageUrl = Annotated[str | None, Form(max_length=URL_MAX, pattern=NO_NUL,
                                      description="Image URL to fetch (instead of `file`).",
                                      examples=["https://cdn.shop.example.net/img/4411.jpg"])]
PublisherFilter = Annotated[str | None, Query(max_length=PUBLISHER_MAX, pattern=NO_NUL,
                                              examples=["knockoff.example.net"])]


@dataclass(frozen=True)
class ContextForm:
    """The parsed context plus a fingerprint of what was actually submitted (defaults such as
    "observed now" are left out, so a retried request fingerprints the same)."""

    context: UseContext
    fingerprint: str


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _territory(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    code = value.strip().upper()
    if len(code) != 2 or not (code.isascii() and code.isalpha()):
        raise InvalidRequestError(f"territory {value!r} is not an ISO 3166-1 alpha-2 code.")
    return code


def _text(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def located(value: str | None, field: str) -> str | None:
    """A publisher or page URL, stripped; refused (422) if it names no parsable host."""
    text = _text(value)
    if text is not None:
        try:
            split_url(text)
        except UrlInvalidError as exc:  # say which field
            raise UrlInvalidError(f"{field}: {exc.message}", **exc.details,
                                  field=field) from exc
    return text


def _channel(value: str | None) -> str | None:
    channel = (_text(value) or "").lower() or None
    if channel is not None and len(channel) > CHANNEL_MAX:  # lower() can lengthen text
        raise InvalidRequestError(f"channel is over {CHANNEL_MAX} characters.")
    return channel


def checked_urls(urls: Sequence[str]) -> list[str]:
    """Batch image URLs: stripped, blank ones dropped, each bounded and without NUL."""
    kept = [u.strip() for u in urls if u.strip()]
    for url in kept:
        if len(url) > URL_MAX or "\x00" in url:
            raise InvalidRequestError(f"Each URL is at most {URL_MAX} characters, without NUL.",
                                      max_length=URL_MAX)
    return kept


def check_upload_names(files: Sequence[UploadFile], *, max_files: int | None = None) -> None:
    """Upload file names are kept with job items: bounded, without NUL; at most
    ``max_files`` uploads when given."""
    if max_files is not None and len(files) > max_files:
        raise InvalidRequestError(f"At most {max_files} files per request; got {len(files)}.",
                                  max_items=max_files)
    for upload in files:
        name = upload.filename or ""
        if len(name) > UPLOAD_NAME_MAX or "\x00" in name:
            raise InvalidRequestError(f"An upload's file name is at most {UPLOAD_NAME_MAX} "
                                      "characters, without NUL.", max_length=UPLOAD_NAME_MAX)


def sighting_context(
    page_url: PageUrl = None,
    publisher: Publisher = None,
    observed_at: Annotated[UtcTimestamp | None, Form(description="When it was seen (default: "
                                                     "now; naive = UTC).")] = None,
    channel: Channel = None,
    territory: Territory = None,
) -> ContextForm:
    context = UseContext(page_url=located(page_url, "page_url"),
                         publisher=located(publisher, "publisher"),
                         observed_at=observed_at or utcnow(), channel=_channel(channel),
                         territory=_territory(territory))
    return ContextForm(context, fingerprint(page_url, publisher, _iso(observed_at), channel,
                                            territory))


def intended_use(
    publisher: Annotated[str, Form(max_length=PUBLISHER_MAX, pattern=NO_NUL,
                                   description="Where the brand will publish (its domain or "
                                   "account URL).", examples=["hm.com"])],
    channel: Annotated[str, Form(max_length=CHANNEL_MAX, pattern=NO_NUL,
                                 description="social, ecommerce, print, outdoor, video, ...",
                                 examples=["social"])],
    territory: Annotated[str, Form(max_length=8, pattern=NO_NUL,
                                   description="ISO 3166-1 alpha-2 code.", examples=["FR"])],
    use_from: Annotated[UtcTimestamp | None,
                        Form(description="First day of use (default now).")] = None,
    use_until: Annotated[UtcTimestamp | None, Form(description="Last day of use.")] = None,
    page_url: PageUrl = None,
) -> ContextForm:
    start = use_from or utcnow()
    if use_until is not None and use_until < start:
        raise InvalidRequestError("use_until is before use_from.")
    context = UseContext(page_url=located(page_url, "page_url"),
                         publisher=located(publisher, "publisher"),
                         observed_at=start, channel=_channel(channel),
                         territory=_territory(territory), use_until=use_until)
    return ContextForm(context, fingerprint(publisher, channel, territory, _iso(use_from),
                                            _iso(use_until), page_url))


SightingContext = Annotated[ContextForm, Depends(sighting_context)]
IntendedUse = Annotated[ContextForm, Depends(intended_use)]


async def image_source(file: UploadFile | None, url: str | None, *, max_bytes: int
                       ) -> ImageSource:
    url = checked_urls([url])[0] if url and url.strip() else None
    if (file is None) == (url is None):
        raise InvalidRequestError("Send exactly one of `file` (an upload) or `url`.")
    if file is not None:
        return ImageSource(data=await read_upload(file, max_bytes=max_bytes))
    return ImageSource(url=url)
