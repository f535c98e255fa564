"""Image responses out of a WARC archive, each with its own context, streamed.

Read with ``warcio`` (see docs/benchmarks.md, "WARC reader", for why not ``fastwarc``), one
record at a time: a record's payload is read in chunks and dropped as soon as it passes
``max_record_bytes``, so memory stays bounded whatever the archive's size. gzip per record
(``.warc.gz``) and plain ``.warc`` alike.

Two passes over the file, both streaming. The first learns which page each image belongs
to and where each payload is (for revisits), and counts the images; the second yields them:

- an image response (status 2xx, ``Content-Type: image/*``, bytes in a supported format)
  becomes a :class:`WarcImage`: its target URI is the image URL, the WARC-Date its
  ``observed_at``, its page the request's ``Referer`` (the request record with the same
  ``WARC-Concurrent-To``, or the request for the same URI), else the first archived HTML
  page whose ``<img>``/``srcset``/``og:image``/JSON-LD names it; its publisher comes from
  that page, or from the image URI when no page is known;
- a revisit record (``identical-payload-digest`` or ``server-not-modified``) is resolved to
  the earlier response with the same payload digest (or the same URI) in this archive and
  yields that payload with the revisit's own URI and date; otherwise it is skipped with
  the reason ``revisit_unresolved``;
- a malformed or truncated record is reported (:class:`SkippedRecord`: its offset, URI and
  reason) and skipped: reading resumes at the next record that parses.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecord

from indexer.formats import media_type
from indexer.imaging import sniff_format
from service.crawl.html import page_images
from service.errors import InvalidDateError, UrlInvalidError, WarcInvalidError
from service.jobs.items import ItemContext
from service.licensing.publishers import parse_location
from service.rules.dates import start_of

log = logging.getLogger(__name__)
CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b\x08"
WARC_MAGIC = b"WARC/1."
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
REVISIT_PROFILES = ("identical-payload-digest", "server-not-modified")
PAGE_IMAGES_MAX = 2000


class SkipReason(StrEnum):
    MALFORMED = "malformed_record"
    TRUNCATED = "truncated_record"
    TOO_LARGE = "record_too_large"
    REVISIT_UNRESOLVED = "revisit_unresolved"
    UNSUPPORTED_IMAGE = "image_type_unsupported"
    TOO_MANY_IMAGES = "too_many_images"


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
        return {"offset": self.offset, "uri": self.uri, "reason": self.reason.value,
                "message": self.message}


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
        return ItemContext(page_url=self.page_url, publisher=self.publisher,
                           observed_at=self.observed_at)


@dataclass
class WarcIndex:
    """What the first pass learnt."""

    images: int = 0  # image responses and revisits (the progress bar's total)
    referers: dict[str, str] = field(default_factory=dict)  # record id or URI -> Referer
    linked: dict[str, str] = field(default_factory=dict)  # image URL -> first page naming it
    by_digest: dict[str, int] = field(default_factory=dict)  # payload digest -> offset
    by_uri: dict[str, int] = field(default_factory=dict)  # image URI -> offset

    def remember(self, table: dict[str, Any], key: str | None, value: Any,
                 limits: WarcLimits) -> None:
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


def _records(handle: IO[bytes], problems: list[SkippedRecord] | None = None
             ) -> Iterator[_Record]:
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
                problems.append(SkippedRecord(offset, None, SkipReason.MALFORMED,
                                              f"{type(exc).__name__}: {exc}"[:300]))
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
        raise WarcInvalidError("The file is not a WARC archive: it does not start with a "
                               "WARC record (plain, or gzip per record).")


# --- pass 1: the index ---------------------------------------------------------------------
def index_warc(path: Path, *, limits: WarcLimits) -> WarcIndex:
    """What the second pass needs; ``warc_invalid`` if the file is not a WARC archive."""
    index = WarcIndex()
    with path.open("rb") as handle:
        require_warc(handle)
        for entry in _records(handle):
            _index_record(index, entry, limits)
    return index


def _index_record(index: WarcIndex, entry: _Record, limits: WarcLimits) -> None:
    kind = entry.record.rec_type
    if kind == "request":
        referer = entry.http_header("Referer")
        if referer:
            index.remember(index.referers, entry.header("WARC-Concurrent-To"), referer, limits)
            index.remember(index.referers, entry.header("WARC-Record-ID"), referer, limits)
            index.remember(index.referers, entry.uri, referer, limits)
    elif kind == "response" and entry.content_type.startswith("image/"):
        index.images += 1
        index.remember(index.by_digest, entry.header("WARC-Payload-Digest"), entry.offset,
                       limits)
        index.remember(index.by_uri, entry.uri, entry.offset, limits)
    elif kind == "revisit" and _is_image_revisit(entry):
        index.images += 1
    elif kind == "response" and entry.content_type in HTML_TYPES and entry.uri:
        try:
            html = _read_payload(entry.record, limits.max_html_bytes)
        except (_TooLargeError, _TruncatedError, zlib.error, EOFError, ValueError):
            return
        for image in page_images(html, page_url=entry.uri, limit=PAGE_IMAGES_MAX):
            index.remember(index.linked, image.url, entry.uri, limits)


def _is_image_revisit(entry: _Record) -> bool:
    """A revisit of an image (by its HTTP headers, or, without them, by what it revisits)."""
    profile = entry.header("WARC-Profile") or ""
    return profile.endswith(REVISIT_PROFILES) and (
        entry.content_type.startswith("image/") or not entry.content_type)


# --- pass 2: the images --------------------------------------------------------------------
def iter_warc_images(path: Path, *, index: WarcIndex, limits: WarcLimits
                     ) -> Iterator[WarcImage | SkippedRecord]:
    """Each image (in archive order) or the report of a record that was skipped."""
    problems: list[SkippedRecord] = []
    taken = 0
    with path.open("rb") as handle, path.open("rb") as originals:
        for entry in _records(handle, problems):
            yield from problems
            problems.clear()
            outcome = _image_of(entry, index, limits, originals)
            if outcome is None:
                continue
            if isinstance(outcome, WarcImage):
                if taken >= limits.max_images:
                    outcome = SkippedRecord(entry.offset, entry.uri, SkipReason.TOO_MANY_IMAGES,
                                            f"An archive gives at most {limits.max_images} "
                                            "images.")
                else:
                    taken += 1
            yield outcome
        yield from problems


def _image_of(entry: _Record, index: WarcIndex, limits: WarcLimits, originals: IO[bytes]
              ) -> WarcImage | SkippedRecord | None:
    kind = entry.record.rec_type
    if kind == "revisit" and _is_image_revisit(entry):
        return _revisit(entry, index, limits, originals)
    if kind != "response" or not entry.content_type.startswith("image/"):
        return None
    status = entry.status
    if status is not None and not 200 <= status < 300:
        return None
    try:
        data = _read_payload(entry.record, limits.max_record_bytes)
    except _TooLargeError:
        return _skip(entry, SkipReason.TOO_LARGE, f"The image is over {limits.max_record_bytes:,}"
                     " bytes.")
    except (_TruncatedError, zlib.error, EOFError) as exc:
        return _skip(entry, SkipReason.TRUNCATED, "The archive ends inside this record"
                     f"{'' if isinstance(exc, _TruncatedError) else f' ({type(exc).__name__})'}.")
    return _image(entry, data, index)


def _image(entry: _Record, data: bytes, index: WarcIndex, revisit_of: int | None = None
           ) -> WarcImage | SkippedRecord:
    if media_type(sniff_format(data)) is None:
        return _skip(entry, SkipReason.UNSUPPORTED_IMAGE,
                     f"Served as {entry.content_type or 'untyped'} but not in a supported image "
                     "format.")
    uri = entry.uri or ""
    return WarcImage(uri=uri, observed_at=_warc_date(entry), page_url=_page_of(entry, index),
                     data=data, offset=entry.offset, revisit_of=revisit_of)


def _revisit(entry: _Record, index: WarcIndex, limits: WarcLimits, originals: IO[bytes]
             ) -> WarcImage | SkippedRecord:
    digest = entry.header("WARC-Payload-Digest")
    refers_to = entry.header("WARC-Refers-To-Target-URI") or entry.uri
    offset = index.by_digest.get(digest or "")
    if offset is None and refers_to:
        offset = index.by_uri.get(refers_to)
    if offset is None:
        return _skip(entry, SkipReason.REVISIT_UNRESOLVED, "The revisited response is not in "
                     "this archive.")
    originals.seek(offset)
    try:
        original = next(iter(ArchiveIterator(originals)))
        data = _read_payload(original, limits.max_record_bytes)
    except (_TooLargeError, _TruncatedError, ArchiveLoadFailed, StopIteration, zlib.error, EOFError,
            ValueError):
        return _skip(entry, SkipReason.REVISIT_UNRESOLVED, "The revisited response could not "
                     "be read.")
    return _image(entry, data, index, revisit_of=offset)


def _skip(entry: _Record, reason: SkipReason, message: str) -> SkippedRecord:
    return SkippedRecord(entry.offset, entry.uri, reason, message)


def _warc_date(entry: _Record) -> datetime | None:
    raw = entry.header("WARC-Date")
    try:
        return start_of(raw) if raw else None
    except (ValueError, InvalidDateError):
        return None


def _page_of(entry: _Record, index: WarcIndex) -> str | None:
    """The image's page: the request's Referer, else an archived page that shows it."""
    for key in (entry.header("WARC-Record-ID"), entry.header("WARC-Concurrent-To"), entry.uri):
        if key and key in index.referers:
            return _checked_page(index.referers[key])
    uri = entry.header("WARC-Refers-To-Target-URI") or entry.uri
    return _checked_page(index.linked.get(uri or ""))


def _checked_page(url: str | None) -> str | None:
    if url is None:
        return None
    try:
        return url if parse_location(url) is not None and len(url) <= 2048 else None
    except UrlInvalidError:
        return None
