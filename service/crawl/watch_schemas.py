"""Wire types of watches and their runs (issue 19)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.core.schemas import CHANNEL_MAX, PUBLISHER_MAX, URL_MAX

KindName = Literal["site", "page", "sitemap", "feed"]
HOURS_MAX = 24 * 31
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # no control characters (NUL never reaches the database)


class WatchIn(BaseModel):
    """A watch: what to fetch, how often, the context its sightings carry, and its caps
    (each at most the service's own ``watch_max_*``; left out, the service's)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=1, max_length=URL_MAX, pattern=PRINTABLE, examples=["https://shop.example/"]
    )
    kind: KindName = "page"
    every_hours: int = Field(default=24, ge=1, le=HOURS_MAX)
    channel: str | None = Field(default=None, max_length=CHANNEL_MAX)
    territory: str | None = Field(default=None, max_length=8)
    publisher: str | None = Field(default=None, max_length=PUBLISHER_MAX, pattern=PRINTABLE)
    max_pages: int | None = Field(default=None, ge=1, le=10_000)
    max_images: int | None = Field(default=None, ge=1, le=10_000)
    max_bytes: int | None = Field(default=None, ge=1, le=2**31 - 1)
    max_depth: int | None = Field(default=None, ge=0, le=20)


class WatchPatch(BaseModel):
    """What may change on a watch (its URL and kind may not: make another watch)."""

    model_config = ConfigDict(extra="forbid")

    every_hours: int | None = Field(default=None, ge=1, le=HOURS_MAX)
    paused: bool | None = None
    channel: str | None = Field(default=None, max_length=CHANNEL_MAX)
    territory: str | None = Field(default=None, max_length=8)
    max_pages: int | None = Field(default=None, ge=1, le=10_000)
    max_images: int | None = Field(default=None, ge=1, le=10_000)
    max_bytes: int | None = Field(default=None, ge=1, le=2**31 - 1)
    max_depth: int | None = Field(default=None, ge=0, le=20)


class RunOut(BaseModel):
    id: int
    watch_id: int
    trigger: str
    status: str
    slot: datetime
    attempts: int
    started_at: datetime | None
    crawled_at: datetime | None
    finished_at: datetime | None
    job_id: int | None
    stats: dict[str, Any]
    problems: list[dict[str, Any]]


class WatchOut(BaseModel):
    id: int
    url: str
    kind: str
    every_hours: int
    channel: str | None
    territory: str | None
    publisher: str | None
    max_pages: int
    max_images: int
    max_bytes: int
    max_depth: int
    paused: bool
    next_run_at: datetime
    created_at: datetime
    licence_id: int | None = None  # a page watched after this licence ended
    last_run: RunOut | None
