"""Jinja2 pages (autoescaped) and the console's answer to a typed error."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError

from indexer.errors import TwinwatchError
from indexer.formats import MEDIA_TYPES
from service.access import labels as access_labels
from service.api.errors import STATUS_BY_CATEGORY, note_answer
from service.console.asset_marks import face_marks
from service.console.links import LOGIN, PREFIX, STATIC
from service.console.once import FIELD as ONCE_FIELD
from service.console.once import issue as once_token
from service.core.errors import UnauthorizedError
from service.jobs import labels as job_labels
from service.licensing import labels
from service.licensing.publishers import web_url
from service.rules.dates import video_range
from service.talents.advice import MORE_PHOTOS, NOT_FINDABLE, RECOMMENDED_PHOTOS

templates = Environment(
    loader=PackageLoader("service.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def last_day(end: datetime) -> date:
    """The last day an exclusive end covers (an end at midnight UTC is the day before)."""
    return (end.astimezone(UTC) - timedelta(microseconds=1)).date()


def _until(end: datetime | None) -> str:
    """A licence's end as people read it: "31 May 2027 (last day)" for an end at midnight
    UTC (a last day as picked), else the exclusive instant; the one wording of every page."""
    if end is None:
        return "open-ended"
    if end.astimezone(UTC).time() == time(0):
        day = last_day(end)
        return f"{day.day} {day:%B %Y} (last day)"
    return f"{_when(end)} (exclusive)"


def _is_web_url(value: object) -> bool:
    return isinstance(value, str) and web_url(value) is not None


def _web_url(value: object) -> str | None:
    return web_url(value) if isinstance(value, str) else None


templates.filters["when"] = _when
templates.filters["video_range"] = video_range  # a video's "0:12–0:27"
templates.filters["until"] = _until  # a licence's (exclusive) end as its last day
templates.filters["web_url"] = _web_url  # a stored URL fit for an href, else None
templates.tests["web_url"] = _is_web_url  # only these become links (_page_link.html)
templates.filters["licence_words"] = labels.wording  # a licence's terms in plain words
templates.filters["fingerprint"] = labels.fingerprint  # a sha256's short form
templates.filters["channel_label"] = labels.channel
templates.filters["territory_label"] = labels.territory
templates.filters["medium_label"] = labels.medium
templates.filters["scope_label"] = labels.scope
templates.filters["alterations_label"] = labels.alteration
templates.filters["channels_words"] = labels.channels  # a list of codes as one phrase
templates.filters["territories_words"] = labels.territories
templates.filters["media_words"] = labels.media
templates.filters["publishers_words"] = labels.publishers
templates.filters["consent_label"] = labels.consent
templates.filters["consent_method_label"] = labels.consent_method
templates.globals["standing"] = labels.standing  # a licence in force or not, in words
templates.filters["face_marks"] = face_marks  # a pre-check's numbered face boxes
templates.globals["UNLINKED_WARNING"] = labels.UNLINKED
templates.globals["FREE_TEXT_WARNING"] = labels.FREE_TEXT
templates.globals["PREFIX"] = PREFIX
templates.globals["NOT_FINDABLE"] = NOT_FINDABLE  # a talent with no usable reference photo
templates.globals["MORE_PHOTOS"] = MORE_PHOTOS  # the nudge below RECOMMENDED_PHOTOS photos
templates.globals["RECOMMENDED_PHOTOS"] = RECOMMENDED_PHOTOS
templates.globals["STATIC"] = STATIC
templates.globals["ONCE_FIELD"] = ONCE_FIELD
templates.globals["once_token"] = once_token  # a create form's one-time token
templates.filters["job_status"] = job_labels.job_status  # a batch's state in words
templates.filters["role_label"] = access_labels.role  # who someone is, in words
templates.filters["account_state"] = access_labels.account_state
templates.filters["index_kind"] = access_labels.index_kind


def next_offset(offset: int, size: int, total: int) -> int | None:
    """Where the page after the one at ``offset`` starts (None: this is the last)."""
    following = offset + size
    return following if following < total else None


def previous_offset(offset: int, size: int) -> int | None:
    """Where the page before the one at ``offset`` starts (None: this is the first)."""
    return max(0, offset - size) if offset > 0 else None


def page(template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(template).render(**values), status_code=status_code)


IMAGE_CACHE = "private, max-age=300"  # thumbnails: only this browser, briefly


def jpeg(data: bytes) -> Response:
    return Response(data, media_type=MEDIA_TYPES["JPEG"], headers={"Cache-Control": IMAGE_CACHE})


def error_page(request: Request, exc: TwinwatchError) -> Response:
    """Not signed in: to the sign-in page (pages) or 401; otherwise the error's own status
    (the API's one mapping) with its code and message."""
    if isinstance(exc, UnauthorizedError) and request.method == "GET" and not _is_image(request):
        return RedirectResponse(f"{LOGIN}?next={quote(request.url.path)}", status_code=303)
    status = STATUS_BY_CATEGORY[exc.category]
    note_answer(exc)
    response = page("error.html", status_code=status, code=exc.code, message=exc.message, user=None)
    retry_after = getattr(exc, "retry_after_s", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _is_image(request: Request) -> bool:
    return request.url.path.endswith(".jpg")


def field_errors(exc: ValidationError) -> dict[str, str]:
    """A form's failing fields with the first message for each (what the page shows)."""
    errors: dict[str, str] = {}
    for problem in exc.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "form"
        errors.setdefault(name, str(problem["msg"]).removeprefix("Value error, "))
    return errors
