"""Form and query fields shared by scan, pre-check and batch endpoints.

Fields are bounded like the columns they are stored in and never carry NUL; the rules for
what they mean live elsewhere, each in one place: publishers (service.licensing.publishers),
channels and territories (service.rules.vocabulary), dates (service.rules.dates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Query, UploadFile

from indexer.db import utcnow
from indexer.registry import PhotoInput
from service.core.errors import InvalidRequestError
from service.core.fetching import check_url_syntax
from service.core.hashing import fingerprint
from service.core.schemas import (
    CHANNEL_MAX,
    NO_NUL,
    PUBLISHER_MAX,
    SECRET_MAX,
    UPLOAD_NAME_MAX,
    URL_MAX,
)
from service.licensing.publishers import stated_location, stated_page_url
from service.rules.dates import last_instant_or_error, require_not_future, start_or_error
from service.rules.vocabulary import (
    ALLOWED_CHANNELS,
    AiLabel,
    Medium,
    channel_or_error,
    territory_or_error,
)
from service.scanning.types import ImageSource, UseContext
from service.scanning.uploads import UploadBounds, read_upload

_DATE_HELP = "a date (its start, UTC) or ISO 8601 date-time; no zone = UTC"
DATE_MAX = 64

PageUrl = Annotated[
    str | None,
    Form(
        max_length=URL_MAX,
        pattern=NO_NUL,
        description="Page where the image was seen: an absolute http(s) URL.",
        examples=["https://shop.example.net/p/summer-dress"],
    ),
]
Publisher = Annotated[
    str | None,
    Form(
        max_length=PUBLISHER_MAX,
        pattern=NO_NUL,
        description="Publisher domain or account URL.",
        examples=["instagram.com/knockoff_store"],
    ),
]
Channel = Annotated[
    str | None,
    Form(
        max_length=CHANNEL_MAX,
        pattern=NO_NUL,
        description=f"One of {ALLOWED_CHANNELS} (case, separators and synonyms such as "
        "e-commerce or Instagram are understood).",
        examples=["ecommerce"],
    ),
]
Territory = Annotated[
    str | None,
    Form(max_length=8, pattern=NO_NUL, description="ISO 3166-1 alpha-2 code.", examples=["FR"]),
]
ImageUrl = Annotated[
    str | None,
    Form(
        max_length=URL_MAX,
        pattern=NO_NUL,
        description="Image URL to fetch (instead of `file`).",
        examples=["https://cdn.shop.example.net/img/4411.jpg"],
    ),
]
PublisherFilter = Annotated[
    str | None, Query(max_length=PUBLISHER_MAX, pattern=NO_NUL, examples=["knockoff.example.net"])
]


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


def located(value: str | None, field: str) -> str | None:
    """A stated publisher, stripped; 422 if it names no host (the rule lives in
    service.licensing.publishers, beside the one for page URLs: ``stated_page_url``)."""
    return stated_location(value, field)


def checked_urls(urls: Sequence[str]) -> list[str]:
    """Batch image URLs: stripped, blank ones dropped, each bounded, without NUL, and a URL a
    fetch could use (refused now, not as a failed item later)."""
    kept = [u.strip() for u in urls if u.strip()]
    for url in kept:
        if len(url) > URL_MAX or "\x00" in url:
            raise InvalidRequestError(
                f"Each URL is at most {URL_MAX} characters, without NUL.", max_length=URL_MAX
            )
        check_url_syntax(url)
    return kept


def check_upload_names(files: Sequence[UploadFile], *, max_files: int | None = None) -> None:
    """Upload file names are kept with job items: bounded, without NUL; at most
    ``max_files`` uploads when given."""
    if max_files is not None and len(files) > max_files:
        raise InvalidRequestError(
            f"At most {max_files} files per request; got {len(files)}.", max_items=max_files
        )
    for upload in files:
        name = upload.filename or ""
        if len(name) > UPLOAD_NAME_MAX or "\x00" in name:
            raise InvalidRequestError(
                f"An upload's file name is at most {UPLOAD_NAME_MAX} characters, without NUL.",
                max_length=UPLOAD_NAME_MAX,
            )


async def photo_inputs(
    files: Sequence[UploadFile], *, max_files: int, max_bytes: int, unnamed: str
) -> list[PhotoInput]:
    """Uploaded photos, checked as :func:`check_upload_names` says and read one at a time
    within ``max_bytes`` each; a file sent without a name is called ``<unnamed>-<n>``."""
    check_upload_names(files, max_files=max_files)
    return [
        PhotoInput(
            upload.filename or f"{unnamed}-{n}", await read_upload(upload, max_bytes=max_bytes)
        )
        for n, upload in enumerate(files, start=1)
    ]


def sighting_context(
    page_url: PageUrl = None,
    publisher: Publisher = None,
    observed_at: Annotated[
        str | None,
        Form(
            max_length=DATE_MAX,
            pattern=NO_NUL,
            description=(f"When it was seen (default: now): {_DATE_HELP}; not in the future."),
        ),
    ] = None,
    channel: Channel = None,
    territory: Territory = None,
) -> ContextForm:
    now = utcnow()
    seen = start_or_error(observed_at, field="observed_at")
    if seen is not None:
        require_not_future(seen, now=now, field="observed_at")
    context = UseContext(
        page_url=stated_page_url(page_url, "page_url"),
        publisher=located(publisher, "publisher"),
        observed_at=seen or now,
        channel=_channel(channel),
        territory=_territory(territory),
    )
    return ContextForm(context, fingerprint(page_url, publisher, observed_at, channel, territory))


def intended_use(
    publisher: Annotated[
        str,
        Form(
            max_length=PUBLISHER_MAX,
            pattern=NO_NUL,
            description="Where the brand will publish (its domain or account URL).",
            examples=["hm.com"],
        ),
    ],
    channel: Annotated[
        str,
        Form(
            max_length=CHANNEL_MAX,
            pattern=NO_NUL,
            description=f"One of {ALLOWED_CHANNELS}.",
            examples=["social"],
        ),
    ],
    territory: Annotated[
        str,
        Form(max_length=8, pattern=NO_NUL, description="ISO 3166-1 alpha-2 code.", examples=["FR"]),
    ],
    use_from: Annotated[
        str | None,
        Form(
            max_length=DATE_MAX,
            pattern=NO_NUL,
            description=(f"First day of use (default now): {_DATE_HELP}."),
        ),
    ] = None,
    use_until: Annotated[
        str | None,
        Form(
            max_length=DATE_MAX,
            pattern=NO_NUL,
            description=("Last day of use: a date (to its end, UTC) or date-time."),
        ),
    ] = None,
    page_url: PageUrl = None,
    medium: Annotated[
        Medium | None,
        Form(
            description="How the likeness will appear: photo or ai_replica (default: what the "
            "image's own AI label says)."
        ),
    ] = None,
    ai_label: Annotated[
        AiLabel | None,
        Form(
            description="The AI label the published asset will carry (c2pa or iptc), if any; "
            "only for medium ai_replica."
        ),
    ] = None,
) -> ContextForm:
    if ai_label is not None and medium is not Medium.AI_REPLICA:
        raise InvalidRequestError(
            "ai_label applies to an AI replica: send medium=ai_replica with it.", field="ai_label"
        )
    start = start_or_error(use_from, field="use_from") or utcnow()
    until = last_instant_or_error(use_until, field="use_until")
    if until is not None and until < start:
        raise InvalidRequestError("use_until is before use_from.")
    stated = located(publisher, "publisher")
    if stated is None:
        raise InvalidRequestError("publisher is required.", field="publisher")
    context = UseContext(
        page_url=stated_page_url(page_url, "page_url"),
        publisher=stated,
        observed_at=start,
        channel=_channel(channel),
        territory=_territory(territory),
        use_until=until,
        medium=medium,
        ai_label=ai_label,
    )
    return ContextForm(
        context,
        fingerprint(publisher, channel, territory, use_from, use_until, page_url, medium, ai_label),
    )


SightingContext = Annotated[ContextForm, Depends(sighting_context)]
IntendedUse = Annotated[ContextForm, Depends(intended_use)]


async def image_source(
    file: UploadFile | None, url: str | None, *, bounds: UploadBounds
) -> ImageSource:
    """The upload (a video within ``bounds.video_bytes``, an image within
    ``bounds.image_bytes``) or the URL to fetch."""
    url = checked_urls([url])[0] if url and url.strip() else None
    if (file is None) == (url is None):
        raise InvalidRequestError("Send exactly one of `file` (an upload) or `url`.")
    if file is not None:
        return ImageSource(data=await read_upload(file, max_bytes=bounds))
    return ImageSource(url=url)


# --- batch jobs: the completion callback --------------------------------------------------
@dataclass(frozen=True)
class CallbackForm:
    """A job's completion callback as submitted (checked against SSRF rules by the router)."""

    url: str | None
    secret: str | None


def callback_form(
    callback_url: Annotated[
        str | None,
        Form(
            min_length=8,
            max_length=URL_MAX,
            pattern=NO_NUL,
            description="Called once (POST, signed like the agency webhooks) when the job "
            "finishes; must resolve to a public address.",
            examples=["https://crawler.example/twinwatch/done"],
        ),
    ] = None,
    callback_secret: Annotated[
        str | None,
        Form(
            min_length=16,
            max_length=SECRET_MAX,
            pattern=NO_NUL,
            description="Secret for the callback's signature (default: generated and shown "
            "once in this answer).",
        ),
    ] = None,
) -> CallbackForm:
    url = callback_url.strip() if callback_url and callback_url.strip() else None
    if url is None and callback_secret:
        raise InvalidRequestError("callback_secret needs a callback_url.", field="callback_secret")
    return CallbackForm(url, callback_secret)


Callback = Annotated[CallbackForm, Depends(callback_form)]
