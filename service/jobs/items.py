"""Per-item context in batch jobs: each item may say where and when it was seen.

An item's own ``page_url``, ``publisher``, ``observed_at``, ``channel`` and ``territory``
replace the job's; what it leaves out comes from the job. Where an image was published is
one fact: an item that names its page or its publisher takes neither from the job (a crawl's
page on one site never gets the batch's publisher of another). Every field is checked with
the same rules as a single scan's form (publishers and page URLs:
:mod:`service.licensing.publishers`; channels, territories: :mod:`service.rules.vocabulary`;
dates: :mod:`service.rules.dates`). A manifest nested deeper than
:data:`~service.rules.json_depth.MAX_JSON_DEPTH` is refused before it is decoded.

A manifest (a JSON object beside the files) maps item names (upload file names or URLs)
to such contexts::

    {"look-12.jpg": {"page_url": "https://shop.example/p/12", "observed_at": "2026-11-02"},
     "https://cdn.example/a.jpg": {"publisher": "instagram.com/knockoff", "territory": "FR"}}
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from indexer.db import utcnow
from service.core.schemas import CHANNEL_MAX, PUBLISHER_MAX, URL_MAX
from service.jobs.errors import ManifestInvalidError
from service.licensing.publishers import stated_location, stated_page_url
from service.rules.dates import require_not_future, start_or_error
from service.rules.json_depth import JsonTooDeepError, loads_bounded
from service.rules.vocabulary import channel_or_error, territory_or_error
from service.scanning.types import UseContext

#: A manifest is read whole (it is small): its bound in bytes.
MANIFEST_MAX_BYTES = 1024 * 1024
DATE_MAX = 64
TERRITORY_MAX = 8
FIELD_MAX = {
    "page_url": URL_MAX,
    "publisher": PUBLISHER_MAX,
    "observed_at": DATE_MAX,
    "channel": CHANNEL_MAX,
    "territory": TERRITORY_MAX,
}


@dataclass(frozen=True)
class ItemContext:
    """An item's own context: the fields it states (validated), ``None`` where it is silent."""

    page_url: str | None = None
    publisher: str | None = None
    observed_at: datetime | None = None
    channel: str | None = None
    territory: str | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def to_json(self) -> dict[str, Any]:
        """The stated fields, as stored on the job item."""
        stated = {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }
        if self.observed_at is not None:
            stated["observed_at"] = self.observed_at.isoformat()
        return stated

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ItemContext:
        seen = raw.get("observed_at")
        return cls(
            page_url=raw.get("page_url"),
            publisher=raw.get("publisher"),
            observed_at=datetime.fromisoformat(seen) if seen else None,
            channel=raw.get("channel"),
            territory=raw.get("territory"),
        )

    def over(self, base: UseContext) -> UseContext:
        """This item's context with the job's filling what it leaves out."""
        located = self.page_url is not None or self.publisher is not None
        return replace(
            base,
            page_url=self.page_url if located else base.page_url,
            publisher=self.publisher if located else base.publisher,
            observed_at=self.observed_at or base.observed_at,
            channel=self.channel or base.channel,
            territory=self.territory or base.territory,
        )


def item_context(raw: Mapping[str, Any], *, item: str, now: datetime | None = None) -> ItemContext:
    """Validate one item's stated context (``item`` names it in errors)."""
    unknown = sorted(set(raw) - set(FIELD_MAX))
    if unknown:
        raise ManifestInvalidError(
            f"Item {item[:200]!r}: unknown field(s) {unknown}; an item "
            f"may state {sorted(FIELD_MAX)}.",
            item=item[:200],
        )
    text: dict[str, str | None] = {}
    for name, bound in FIELD_MAX.items():
        value = raw.get(name)
        if value is not None and (
            not isinstance(value, str) or len(value) > bound or "\x00" in value
        ):
            raise ManifestInvalidError(
                f"Item {item[:200]!r}: {name} must be text of at most "
                f"{bound} characters, without NUL.",
                item=item[:200],
                field=name,
                max_length=bound,
            )
        text[name] = value.strip() or None if isinstance(value, str) else None
    seen = start_or_error(text["observed_at"], field="observed_at")
    if seen is not None:
        require_not_future(seen, now=now or utcnow(), field="observed_at")
    return ItemContext(
        page_url=stated_page_url(text["page_url"], "page_url"),
        publisher=stated_location(text["publisher"], "publisher"),
        observed_at=seen,
        channel=channel_or_error(text["channel"]).value if text["channel"] else None,
        territory=territory_or_error(text["territory"]) if text["territory"] else None,
    )


def parse_manifest(
    data: bytes, *, names: Collection[str], max_entries: int
) -> dict[str, ItemContext]:
    """A manifest's item contexts, keyed by item name; every key must name an item."""
    if len(data) > MANIFEST_MAX_BYTES:
        raise ManifestInvalidError(
            f"The manifest is over {MANIFEST_MAX_BYTES:,} bytes.", max_bytes=MANIFEST_MAX_BYTES
        )
    try:
        raw = loads_bounded(data.decode("utf-8"))
    except JsonTooDeepError as exc:
        raise ManifestInvalidError(
            f"The manifest is {exc}: it is an object of objects.", max_depth=exc.max_depth
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ManifestInvalidError(f"The manifest is not JSON: {exc}"[:300]) from None
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise ManifestInvalidError(
            "The manifest is a JSON object mapping item names (file "
            "names or URLs) to objects of context fields."
        )
    if len(raw) > max_entries:
        raise ManifestInvalidError(
            f"The manifest has {len(raw)} entries; at most {max_entries}.", max_entries=max_entries
        )
    known = set(names)
    missing = [name for name in raw if name not in known]
    if missing:
        raise ManifestInvalidError(
            f"The manifest names {missing[0][:200]!r}, which is not an "
            "item of this batch (name items by their file name or URL).",
            item=missing[0][:200],
        )
    now = utcnow()
    return {name: item_context(fields_, item=name, now=now) for name, fields_ in raw.items()}
