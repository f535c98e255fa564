"""Image responses out of a WARC archive, each with its own context, in one streaming pass.

Read with ``warcio`` (see docs/benchmarks.md, "Crawl input", for why not ``fastwarc``), one
record at a time: a record's payload is read in chunks and dropped as soon as it passes
``max_record_bytes``, so memory stays bounded whatever the archive's size. gzip per record
(``.warc.gz``) and plain ``.warc`` alike.

- An image response (status 2xx, ``Content-Type: image/*``, bytes in a supported format),
  or a video one (a video media type of ``indexer.formats``, a video container's bytes)
  becomes a :class:`WarcImage`: its target URI is the image URL, the WARC-Date its
  ``observed_at``, its page the request's ``Referer`` (the request record with the same
  ``WARC-Concurrent-To``, or the request for the same URI), else an archived HTML page whose
  ``<img>``/``srcset``/``og:image``/JSON-LD names it; its publisher comes from that page, or
  from the image URI when no page is known. Crawlers write a page before the images it
  shows, and an image's request right beside its response, so an image's page is settled
  :data:`SETTLE_AFTER_RECORDS` records after it (at most that many images wait in memory);
  a page archived later than that is not linked.
- A revisit record (``identical-payload-digest`` or ``server-not-modified``) is resolved to
  the earlier response with the same payload digest (or the same URI) in this archive, read
  again from its offset, and yields that payload with the revisit's own URI and date;
  otherwise it is skipped with the reason ``revisit_unresolved``.
- A malformed or truncated record is reported (:class:`SkippedRecord`: its offset, URI and
  reason) and skipped: reading resumes at the next record that parses.
- A hostile record costs only itself: a response or revisit whose target URI is not an
  http(s) URL (``file:``, ``javascript:``, ``ftp:``; warcio reads no HTTP headers for it, so
  nothing says what it holds) is reported as ``uri_scheme_unsupported`` (the crawler's own
  ``dns:``/``whois:``/``ntp:`` lookups are not content and are passed over); an archived page
  whose HTML cannot be parsed is reported as ``page_unreadable`` (a too-deep JSON-LD block
  is only ignored: the page's other images still link); a Referer that is not an http(s)
  URL means no page is known.
"""

from __future__ import annotations

import logging
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecord

from indexer.db import utcnow
from indexer.formats import VIDEO_MEDIA_TYPES, media_type, video_media_type
from indexer.imaging import sniff_format
from service.core.schemas import URL_MAX as URI_MAX
from service.crawl.errors import PageUnreadableError, WarcInvalidError
from service.crawl.html import page_images
from service.jobs.items import ItemContext
from service.licensing.publishers import parse_location, web_url
from service.rules.dates import MAX_CLOCK_SKEW, start_of
from service.rules.errors import InvalidDateError

log = logging.getLogger(__name__)
CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b\x08"
WARC_MAGIC = b"WARC/1."
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
REVISIT_PROFILES = ("identical-payload-digest", "server-not-modified")
PAGE_IMAGES_MAX = 2000
#: An image's page is settled this many records after it (its request usually follows it).
SETTLE_AFTER_RECORDS = 4
#: Records a crawler writes for its own lookups (no content anyone saw): not reported.
LOOKUP_SCHEMES = ("dns:", "whois:", "ntp:")
#: Record types that hold a fetched resource.
CONTENT_RECORDS = frozenset({"response", "revisit"})


class SkipReason(StrEnum):
    MALFORMED = "malformed_record"
    TRUNCATED = "truncated_record"
    TOO_LARGE = "record_too_large"
    REVISIT_UNRESOLVED = "revisit_unresolved"
    UNSUPPORTED_IMAGE = "image_type_unsupported"
    TOO_MANY_IMAGES = "too_many_images"
    URI_INVALID = "uri_invalid"
    URI_SCHEME = "uri_scheme_unsupported"
    PAGE_UNREADABLE = "page_unreadable"


@dataclass(frozen=True)
class WarcLimits:
    max_record_bytes: int  # an image payload (as the scans' upload limit)
    max_images: int  # images taken from one archive; the rest are skipped
    max_html_bytes: int = 5 * 1024 * 1024  # pages read for their images
    max_index_entries: int = 500_000  # page links and payload offsets remembered


@dataclass(frozen=True)
class SkippedRecord:
    offset: int | None
    uri: str | None
    reason: SkipReason
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "uri": self.uri,
            "reason": self.reason.value,
            "message": self.message,
        }


@dataclass(frozen=True)
class WarcImage:
    """An image response (or a resolved revisit) with where and when it was seen."""

    uri: str
    observed_at: datetime | None
    page_url: str | None
    data: bytes = field(repr=False)
    offset: int
    revisit_of: int | None = None  # the offset of the response whose payload this is

    @property
    def publisher(self) -> str | None:
        """The page's publisher, else the image host's (registrable domain, + account)."""
        location = parse_location(self.page_url or self.uri)
        return location.key if location is not None else None

    def context(self) -> ItemContext:
        return ItemContext(
            page_url=self.page_url, publisher=self.publisher, observed_at=self.observed_at
        )


@dataclass
class WarcIndex:
    """What the records read so far say about the others (bounded)."""

    referers: dict[str, str] = field(default_factory=dict)  # record id or URI -> Referer
    linked: dict[str, str] = field(default_factory=dict)  # image URL -> first page naming it
    by_digest: dict[str, int] = field(default_factory=dict)  # payload digest -> offset
    by_uri: dict[str, int] = field(default_factory=dict)  # image URI -> offset

    def remember(
        self, table: dict[str, Any], key: str | None, value: Any, limits: WarcLimits
    ) -> None:
        if key and key not in table and len(table) < limits.max_index_entries:
            table[key] = value


# --- records, with recovery ----------------------------------------------------------------
@dataclass(frozen=True)
class _Record:
    offset: int
    record: ArcWarcRecord

    def header(self, name: str) -> str | None:
        value = self.record.rec_headers.get_header(name)
        return str(value).strip() if value else None

    @property
    def uri(self) -> str | None:
        return self.header("WARC-Target-URI")

    def http_header(self, name: str) -> str | None:
        headers = self.record.http_headers
        value = headers.get_header(name) if headers is not None else None
        return str(value).strip() if value else None

    @property
    def content_type(self) -> str:
        return (self.http_header("Content-Type") or "").split(";", 1)[0].strip().lower()

    @property
    def status(self) -> int | None:
        headers = self.record.http_headers
        try:
            return int(headers.get_statuscode()) if headers is not None else None
        except (TypeError, ValueError):
            return None


class _TruncatedError(Exception):
    pass


class _TooLargeError(Exception):
    pass


def _read_payload(record: ArcWarcRecord, max_bytes: int) -> bytes:
    """The record's (decoded) payload; ``_TooLargeError`` past ``max_bytes`` (the rest is left for
    the iterator to skip), ``_TruncatedError`` if the archive ends inside the record."""
    body = bytearray()
    stream = record.content_stream()
    while chunk := stream.read(CHUNK):
        if len(body) + len(chunk) > max_bytes:
            raise _TooLargeError
        body += chunk
    if getattr(record.raw_stream, "limit", 0) > 0:
        raise _TruncatedError
    return bytes(body)


def _resume_at(handle: IO[bytes], after: int, gzipped: bool) -> int | None:
    """The offset of the next record start after ``after`` (a gzip member or "WARC/1.")."""
    magic = GZIP_MAGIC if gzipped else WARC_MAGIC
    position = after + 1
    while True:
        handle.seek(position)
        block = handle.read(CHUNK + len(magic))
        if len(block) < len(magic):
            return None
        found = block.find(magic)
        if found >= 0 and found < CHUNK:
            candidate = position + found
            if _parses_at(handle, candidate):
                return candidate
            position = candidate + 1
            continue
        position += CHUNK


def _parses_at(handle: IO[bytes], offset: int) -> bool:
    handle.seek(offset)
    try:
        record = next(iter(ArchiveIterator(handle)))
    except (ArchiveLoadFailed, StopIteration, zlib.error, EOFError, ValueError, OSError):
        return False
    return str(record.format).startswith("warc")


def _is_gzipped(handle: IO[bytes]) -> bool:
    handle.seek(0)
    return handle.read(3) == GZIP_MAGIC


def _records(handle: IO[bytes], problems: list[SkippedRecord] | None = None) -> Iterator[_Record]:
    """Every record that parses; a record that does not is reported in ``problems`` and
    reading resumes at the next one."""
    gzipped = _is_gzipped(handle)
    start: int | None = 0
    while start is not None:
        handle.seek(start)
        iterator = ArchiveIterator(handle)
        offset = start
        try:
            for record in iterator:
                offset = iterator.offset
                yield _Record(offset, record)
            return
        except (ArchiveLoadFailed, zlib.error, EOFError, ValueError) as exc:
            offset = max(offset, iterator.offset)  # where the record that failed begins
            if problems is not None:
                problems.append(
                    SkippedRecord(
                        offset, None, SkipReason.MALFORMED, f"{type(exc).__name__}: {exc}"[:300]
                    )
                )
            start = _resume_at(handle, offset, gzipped)


def require_warc(handle: IO[bytes]) -> None:
    """``warc_invalid`` unless the file starts with a WARC record (plain or gzipped)."""
    handle.seek(0)
    head = handle.read(64 * 1024)
    if head.startswith(GZIP_MAGIC):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 16)
        except zlib.error:
            head = b""
    if not head.lstrip(b"\r\n").startswith(WARC_MAGIC):
        raise WarcInvalidError(
            "The file is not a WARC archive: it does not start with a "
            "WARC record (plain, or gzip per record)."
        )


# --- one pass: the images -------------------------------------------------------------------
def iter_warc_images(
    path: Path, *, limits: WarcLimits, on_position: Callable[[int], None] | None = None
) -> Iterator[WarcImage | SkippedRecord]:
    """Each image (in archive order) or the report of a record that was skipped, in one
    streaming pass; ``warc_invalid`` if the file is not a WARC archive. ``on_position`` is
    told the offset reached after each record (a progress bar over the file's size)."""
    learnt = WarcIndex()
    problems: list[SkippedRecord] = []
    pending: deque[tuple[int, _Found | SkippedRecord]] = deque()
    taken = [0]
    with path.open("rb") as handle, path.open("rb") as originals:
        require_warc(handle)
        for sequence, entry in enumerate(_records(handle, problems)):
            pending.extend((sequence, problem) for problem in problems)
            problems.clear()
            unreadable = _learn(learnt, entry, limits)
            if unreadable is not None:
                pending.append((sequence, unreadable))
            outcome = _image_of(entry, learnt, limits, originals)
            if outcome is not None:
                pending.append((sequence, outcome))
            while pending and sequence - pending[0][0] >= SETTLE_AFTER_RECORDS:
                yield _settle(pending.popleft()[1], learnt, limits, taken)
            if on_position is not None:
                on_position(entry.offset)
        pending.extend((0, problem) for problem in problems)
        while pending:
            yield _settle(pending.popleft()[1], learnt, limits, taken)


@dataclass(frozen=True)
class _Found:
    """An image read from the archive, its page not settled yet."""

    image: WarcImage
    referer_keys: tuple[str | None, ...]  # its record id, WARC-Concurrent-To, its URI
    linked_as: str  # the URL a page would name it by


def _settle(
    found: _Found | SkippedRecord, learnt: WarcIndex, limits: WarcLimits, taken: list[int]
) -> WarcImage | SkippedRecord:
    if isinstance(found, SkippedRecord):
        return found
    image = found.image
    if taken[0] >= limits.max_images:
        return SkippedRecord(
            image.offset,
            image.uri,
            SkipReason.TOO_MANY_IMAGES,
            f"An archive gives at most {limits.max_images} images.",
        )
    taken[0] += 1
    return replace(image, page_url=_page_of(found, learnt))


def _learn(learnt: WarcIndex, entry: _Record, limits: WarcLimits) -> SkippedRecord | None:
    """What a record says about the others: Referers, pages' images, payload offsets; the
    report of an archived page whose HTML cannot be parsed."""
    kind = entry.record.rec_type
    if kind == "request":
        referer = entry.http_header("Referer")
        if referer:
            for key in (
                entry.header("WARC-Concurrent-To"),
                entry.header("WARC-Record-ID"),
                entry.uri,
            ):
                learnt.remember(learnt.referers, key, referer, limits)
    elif kind == "response" and _is_media(entry.content_type):
        learnt.remember(learnt.by_digest, entry.header("WARC-Payload-Digest"), entry.offset, limits)
        learnt.remember(learnt.by_uri, entry.uri, entry.offset, limits)
    elif kind == "response" and entry.content_type in HTML_TYPES and entry.uri:
        try:
            html = _read_payload(entry.record, limits.max_html_bytes)
        except (_TooLargeError, _TruncatedError, zlib.error, EOFError, ValueError):
            return None
        try:
            images = page_images(html, page_url=entry.uri, limit=PAGE_IMAGES_MAX)
        except PageUnreadableError as exc:
            return _skip(entry, SkipReason.PAGE_UNREADABLE, exc.message)
        for image in images:
            learnt.remember(learnt.linked, image.url, entry.uri, limits)
    return None


def _is_image_revisit(entry: _Record) -> bool:
    """A revisit of an image (by its HTTP headers, or, without them, by what it revisits)."""
    profile = entry.header("WARC-Profile") or ""
    return profile.endswith(REVISIT_PROFILES) and (
        _is_media(entry.content_type) or not entry.content_type
    )


def _is_media(content_type: str) -> bool:
    """An image, or a video in one of the accepted media types (issue 21)."""
    return content_type.startswith("image/") or content_type in VIDEO_MEDIA_TYPES


def _off_the_web(entry: _Record) -> bool:
    """A record for a target URI that is not an http(s) URL (missing, ``file:``,
    ``javascript:``), other than a crawler's lookup."""
    uri = entry.uri or ""
    return not uri.lower().startswith(LOOKUP_SCHEMES) and web_url(uri) is None


def _image_of(
    entry: _Record, learnt: WarcIndex, limits: WarcLimits, originals: IO[bytes]
) -> _Found | SkippedRecord | None:
    kind = entry.record.rec_type
    if kind in CONTENT_RECORDS and _off_the_web(entry):
        return _skip(
            entry,
            SkipReason.URI_SCHEME,
            "The record's target URI is missing or not an http(s) URL: nothing seen on the web.",
        )
    if kind == "revisit" and _is_image_revisit(entry):
        return _revisit(entry, learnt, limits, originals)
    if kind != "response" or not _is_media(entry.content_type):
        return None
    status = entry.status
    if status is not None and not 200 <= status < 300:
        return None
    try:
        data = _read_payload(entry.record, limits.max_record_bytes)
    except _TooLargeError:
        return _skip(
            entry, SkipReason.TOO_LARGE, f"The image is over {limits.max_record_bytes:,} bytes."
        )
    except (_TruncatedError, zlib.error, EOFError) as exc:
        return _skip(
            entry,
            SkipReason.TRUNCATED,
            "The archive ends inside this record"
            f"{'' if isinstance(exc, _TruncatedError) else f' ({type(exc).__name__})'}.",
        )
    return _image(entry, data)


def _image(entry: _Record, data: bytes, revisit_of: int | None = None) -> _Found | SkippedRecord:
    if media_type(sniff_format(data)) is None and video_media_type(data) is None:
        return _skip(
            entry,
            SkipReason.UNSUPPORTED_IMAGE,
            f"Served as {entry.content_type or 'untyped'} but not in a supported image format.",
        )
    uri = entry.uri or ""
    if not uri or len(uri) > URI_MAX or web_url(uri) is None:
        return _skip(
            entry,
            SkipReason.URI_INVALID,
            f"The record's target URI is missing, "
            f"longer than {URI_MAX} characters or names no host.",
        )
    image = WarcImage(
        uri=uri,
        observed_at=_warc_date(entry),
        page_url=None,
        data=data,
        offset=entry.offset,
        revisit_of=revisit_of,
    )
    keys = (entry.header("WARC-Record-ID"), entry.header("WARC-Concurrent-To"), uri)
    return _Found(image, keys, entry.header("WARC-Refers-To-Target-URI") or uri)


def _revisit(
    entry: _Record, learnt: WarcIndex, limits: WarcLimits, originals: IO[bytes]
) -> _Found | SkippedRecord:
    digest = entry.header("WARC-Payload-Digest")
    refers_to = entry.header("WARC-Refers-To-Target-URI") or entry.uri
    offset = learnt.by_digest.get(digest or "")
    if offset is None and refers_to:
        offset = learnt.by_uri.get(refers_to)
    if offset is None:
        return _skip(
            entry,
            SkipReason.REVISIT_UNRESOLVED,
            "The revisited response is not earlier in this archive.",
        )
    originals.seek(offset)
    try:
        original = next(iter(ArchiveIterator(originals)))
        data = _read_payload(original, limits.max_record_bytes)
    except (
        _TooLargeError,
        _TruncatedError,
        ArchiveLoadFailed,
        StopIteration,
        zlib.error,
        EOFError,
        ValueError,
    ):
        return _skip(
            entry, SkipReason.REVISIT_UNRESOLVED, "The revisited response could not be read."
        )
    return _image(entry, data, revisit_of=offset)


def _skip(entry: _Record, reason: SkipReason, message: str) -> SkippedRecord:
    return SkippedRecord(entry.offset, entry.uri, reason, message)


def _warc_date(entry: _Record) -> datetime | None:
    """The record's WARC-Date; None (the job's date applies) if it does not parse, lies
    outside the dates twinwatch keeps, or in the future."""
    raw = entry.header("WARC-Date")
    try:
        seen = start_of(raw) if raw else None
    except (ValueError, InvalidDateError):
        return None
    return seen if seen is None or seen <= utcnow() + MAX_CLOCK_SKEW else None


def _page_of(found: _Found, learnt: WarcIndex) -> str | None:
    """The image's page: the request's Referer, else an archived page that shows it."""
    for key in found.referer_keys:
        if key and key in learnt.referers:
            return _checked_page(learnt.referers[key])
    return _checked_page(learnt.linked.get(found.linked_as))


def _checked_page(url: str | None) -> str | None:
    """A page URL as a Referer or a page record names it: an http(s) URL, else unknown."""
    page = web_url(url)
    return page if page is not None and len(page) <= URI_MAX else None
