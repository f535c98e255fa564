"""Dates as people write them: the one parser for every date and date-time the API accepts.

- A date-time is ISO 8601 (``2026-11-28T09:30:00+01:00``, ``...Z``); without a zone it is UTC.
- A date alone (``2026-11-28``) means a whole day in UTC: its **start** where a range begins
  (``from``, ``since``, ``valid_from``, ``use_from``, ``revoked_at``) and its **end** where a
  range ends (``to``, ``until``, ``valid_until``, ``use_until``), so ``until=2026-12-01``
  includes all of 1 December.
- Every value is converted to UTC and must lie in [:data:`EARLIEST`, :data:`LATEST`);
  year-1 and year-9999 values with offsets that leave that range are refused, never crash.

End bounds are returned **exclusive** (:func:`end_of`): a date gives the next midnight, a
date-time is taken as given (or one microsecond later when the caller's bound is inclusive,
the finest step the timestamp columns store). Parsers raise ``ValueError`` (pydantic turns it
into a 422); :func:`start_or_error` / :func:`end_or_error` raise the typed
:class:`~service.rules.errors.InvalidDateError` for query and form parameters.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator

from service.rules.errors import InvalidDateError

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)  # exclusive
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_TEXT = 64
_TICK = timedelta(microseconds=1)

Moment = date | datetime


def parse_moment(value: str | date | datetime) -> Moment:
    """A ``date`` (no time given) or a UTC ``datetime``; ``ValueError`` when it is neither."""
    if isinstance(value, datetime):
        return _to_utc(value)
    if isinstance(value, date):
        return _in_range_date(value)
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 date or date-time, got {type(value).__name__}")
    text = value.strip()
    if not text or len(text) > MAX_TEXT:
        raise ValueError(
            "expected an ISO 8601 date (2026-11-28) or date-time (2026-11-28T09:30:00Z)"
        )
    try:
        if len(text) <= 10 and ":" not in text:
            return _in_range_date(date.fromisoformat(text))
        return _to_utc(datetime.fromisoformat(text))
    except ValueError as exc:
        raise ValueError(
            f"{text[:MAX_TEXT]!r} is not an ISO 8601 date or date-time ({exc})"
        ) from None


def _to_utc(value: datetime) -> datetime:
    aware = value if value.utcoffset() is not None else value.replace(tzinfo=UTC)
    try:
        converted = aware.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(_range_message()) from None
    if not EARLIEST <= converted < LATEST:
        raise ValueError(_range_message())
    return converted


def _in_range_date(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError(_range_message())
    return value


def _range_message() -> str:
    return (
        f"dates must lie between {EARLIEST.date().isoformat()} and "
        f"{(LATEST - _TICK).date().isoformat()} (UTC)"
    )


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def start_of(value: str | date | datetime) -> datetime:
    """The instant a range begins: a date's midnight (UTC), or the date-time itself."""
    moment = parse_moment(value)
    return moment if isinstance(moment, datetime) else _midnight(moment)


def end_of(value: str | date | datetime, *, inclusive: bool) -> datetime:
    """The **exclusive** instant a range ends: after a date's last moment; for a date-time,
    the instant itself (``inclusive=False``) or the one just after it (``inclusive=True``)."""
    moment = parse_moment(value)
    if isinstance(moment, datetime):
        return moment + _TICK if inclusive else moment
    return _midnight(moment) + timedelta(days=1)


def last_instant(value: str | date | datetime) -> datetime:
    """The last instant a range includes (a date's 23:59:59.999999, or the date-time)."""
    return end_of(value, inclusive=True) - _TICK


def require_not_future(at: datetime, *, now: datetime, field: str) -> datetime:
    """Sightings cannot come from the future (beyond :data:`MAX_CLOCK_SKEW`)."""
    if at > now + MAX_CLOCK_SKEW:
        raise InvalidDateError(
            f"{field} {at.isoformat()} is in the future (now {now.isoformat(timespec='seconds')}).",
            field=field,
        )
    return at


def start_or_error(value: str | None, *, field: str) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        return start_of(value)
    except ValueError as exc:
        raise InvalidDateError(f"{field}: {exc}", field=field) from None


def end_or_error(value: str | None, *, field: str, inclusive: bool) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        return end_of(value, inclusive=inclusive)
    except ValueError as exc:
        raise InvalidDateError(f"{field}: {exc}", field=field) from None


def last_instant_or_error(value: str | None, *, field: str) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        return last_instant(value)
    except ValueError as exc:
        raise InvalidDateError(f"{field}: {exc}", field=field) from None


def month_bounds(value: str) -> tuple[datetime, datetime]:
    """A calendar month written ``YYYY-MM`` (UTC): its first instant and the next month's
    (an exclusive end); ``ValueError`` for anything else."""
    text = value.strip()
    digits = text[:4] + text[5:]
    if len(text) != 7 or text[4] != "-" or not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"{text[:MAX_TEXT]!r} is not a month written YYYY-MM (2026-11)")
    year, month = int(text[:4]), int(text[5:])
    if not 1 <= month <= 12:
        raise ValueError(f"{text!r}: months run from 01 to 12")
    first = _in_range_date(date(year, month, 1))
    following = date(year + month // 12, month % 12 + 1, 1)
    return _midnight(first), _midnight(following)


def month_or_error(value: str, *, field: str) -> tuple[datetime, datetime]:
    try:
        return month_bounds(value)
    except ValueError as exc:
        raise InvalidDateError(f"{field}: {exc}", field=field) from None


def _exclusive_end(value: str | date | datetime) -> datetime:
    return end_of(value, inclusive=False)


# Pydantic field types: a date alone is a whole day (its start / the end of that day).
StartInstant = Annotated[datetime, BeforeValidator(start_of)]
EndInstant = Annotated[datetime, BeforeValidator(_exclusive_end)]


def local_time(at: datetime, zone: str) -> str:
    """An instant as people read it where they are, the zone named: "2026-12-07 00:41 CET
    (Europe/Paris)" (e-mails; ``zone`` is an IANA name the settings checked)."""
    local = (
        at.astimezone(ZoneInfo(zone))
        if at.tzinfo
        else at.replace(tzinfo=UTC).astimezone(ZoneInfo(zone))
    )
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({zone})"


def video_time(seconds: float) -> str:
    """A moment of a video as people write it: ``0:12``, ``12:05``, ``1:02:07``."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def video_range(start_s: float, end_s: float) -> str:
    """A time range of a video: ``0:12–0:27``."""
    return f"{video_time(start_s)}–{video_time(end_s)}"
