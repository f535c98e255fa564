"""One watch run's crawl: documents fetched politely and conditionally, images fetched and
compared with what the watch remembers, new or changed ones staged for a scan.

The crawl writes nothing to the database; :func:`service.crawl.watches.record_crawl` commits
its outcome (the remembered validators, the batch job of new images, the run's report) in
one transaction, so a run killed mid-crawl is crawled again whole by the next worker and a
run killed after it has its images scanned exactly once by the job items.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from indexer.blobs import BlobStore
from indexer.formats import looks_like_video
from indexer.imaging import sniff_format
from service.core.fetching import HTML_MEDIA_TYPES, FetchedDocument, Validators
from service.crawl.crawler import CrawlRefusedError, PoliteFetcher
from service.crawl.discovery import (
    FEED_MEDIA_TYPES,
    SITEMAP_MEDIA_TYPES,
    DiscoveryError,
    page_links,
    read_feed,
    read_sitemap,
    registrable,
)
from service.crawl.errors import PageUnreadableError
from service.crawl.html import page_images
from service.crawl.rules import PROBLEMS_KEPT, Problem, WatchKind
from service.jobs.items import ItemContext
from service.jobs.queue import BatchItem

log = logging.getLogger(__name__)
LINKS_PER_PAGE = 500
SITEMAPS_PER_RUN = 50
SITEMAP_NESTING = 3


def url_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


@dataclass(frozen=True)
class Caps:
    pages: int
    images: int
    bytes: int
    depth: int
    list_urls: int
    html_bytes: int
    image_bytes: int


@dataclass(frozen=True)
class Remembered:
    """What the watch knows of a document or image from earlier runs."""

    validators: Validators
    links: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    content_sha256: str | None = None
    current: bool = False  # an image scanned (or queued) against this pack and gallery


@dataclass(frozen=True)
class RunPlan:
    run_id: int
    watch_id: int
    url: str
    kind: WatchKind
    caps: Caps
    documents: dict[str, Remembered]
    images: dict[str, Remembered]


@dataclass
class DocumentSeen:
    url: str
    validators: Validators
    links: list[str]
    images: list[str]


@dataclass
class ImageSeen:
    url: str
    validators: Validators
    content_sha256: str
    position: int | None  # the batch item's index when it was staged for a scan


@dataclass
class CrawlOutcome:
    """What the crawl found (filled as it goes, so a time cap keeps what was done)."""

    folder: str  # the batch's blob prefix (``job-uploads/<batch>/``)
    blobs: BlobStore
    stats: dict[str, Any] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)
    documents: list[DocumentSeen] = field(default_factory=list)
    images: list[ImageSeen] = field(default_factory=list)
    items: list[BatchItem] = field(default_factory=list)

    def count(self, name: str, by: int = 1) -> None:
        self.stats[name] = self.stats.get(name, 0) + by

    def problem(self, reason: Problem, url: str | None, message: str) -> None:
        self.count(f"problem_{reason.value}")
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append(
                {"reason": reason.value, "url": (url or "")[:500], "message": message[:300]}
            )


class Crawl:
    """One run's crawl over a :class:`PoliteFetcher`."""

    def __init__(self, plan: RunPlan, fetcher: PoliteFetcher, outcome: CrawlOutcome) -> None:
        self.plan = plan
        self.fetcher = fetcher
        self.out = outcome
        self.caps = plan.caps
        self.seen_pages: set[str] = set()
        self.seen_images: set[str] = set()
        self.bytes_used = 0

    async def run(self) -> None:
        kind = self.plan.kind
        if kind is WatchKind.SITEMAP:
            pages = await self._sitemap_pages()
        elif kind is WatchKind.FEED:
            pages = await self._feed_pages()
        else:
            pages = [self.plan.url]
        await self._visit(pages, follow=kind is WatchKind.SITE)

    # --- documents ----------------------------------------------------------------------
    async def _document(
        self, url: str, media_types: frozenset[str], max_bytes: int
    ) -> tuple[FetchedDocument, Remembered | None] | None:
        known = self.plan.documents.get(url)
        try:
            fetched = await self.fetcher.fetch(
                url,
                max_bytes=max_bytes,
                media_types=media_types,
                validators=known.validators if known else None,
            )
        except CrawlRefusedError as exc:
            self.out.problem(exc.reason, url, exc.message)
            return None
        return fetched, known

    async def _sitemap_pages(self) -> list[str]:
        queue: deque[tuple[str, int]] = deque([(self.plan.url, 0)])
        pages: list[str] = []
        read = 0
        while queue and read < SITEMAPS_PER_RUN:
            url, nesting = queue.popleft()
            read += 1
            got = await self._document(url, SITEMAP_MEDIA_TYPES, self.caps.html_bytes)
            if got is None:
                continue
            links = self._sitemap_links(url, *got)
            if links is None:
                continue
            children, entries = links
            for child in children:
                if nesting + 1 <= SITEMAP_NESTING:
                    queue.append((child, nesting + 1))
            room = self.caps.list_urls - len(pages)
            pages += entries[: max(room, 0)]
            if len(entries) > room:
                self.out.problem(
                    Problem.LIST_CAP, url, f"{len(entries) - max(room, 0)} URL(s) not read"
                )
        return pages

    def _sitemap_links(
        self, url: str, fetched: FetchedDocument, known: Remembered | None
    ) -> tuple[list[str], list[str]] | None:
        """(child sitemaps, pages), remembered as (images, links) of the document."""
        if fetched.not_modified and known is not None:
            self.out.count("documents_unchanged")
            return known.images, known.links
        try:
            sitemap = read_sitemap(
                fetched.data,
                base=fetched.final_url,
                max_bytes=self.caps.html_bytes,
                limit=self.caps.list_urls,
            )
        except DiscoveryError as exc:
            self.out.problem(Problem.UNREADABLE, url, str(exc))
            return None
        dropped = sitemap.pages.dropped + sitemap.children.dropped
        if dropped:
            self.out.problem(Problem.LIST_CAP, url, f"{dropped} URL(s) not read")
        children, pages = sitemap.children.urls, sitemap.pages.urls
        self.out.documents.append(DocumentSeen(url, fetched.validators, pages, children))
        self.out.count("documents_fetched")
        return children, pages

    async def _feed_pages(self) -> list[str]:
        url = self.plan.url
        got = await self._document(url, FEED_MEDIA_TYPES, self.caps.html_bytes)
        if got is None:
            return []
        fetched, known = got
        if fetched.not_modified and known is not None:
            self.out.count("documents_unchanged")
            return known.links
        try:
            found = read_feed(fetched.data, base=fetched.final_url, limit=self.caps.list_urls)
        except DiscoveryError as exc:
            self.out.problem(Problem.UNREADABLE, url, str(exc))
            return []
        if found.dropped:
            self.out.problem(Problem.LIST_CAP, url, f"{found.dropped} entry link(s) not read")
        self.out.documents.append(DocumentSeen(url, fetched.validators, found.urls, []))
        self.out.count("documents_fetched")
        return found.urls

    # --- pages --------------------------------------------------------------------------
    async def _visit(self, start: list[str], *, follow: bool) -> None:
        site = registrable(self.plan.url)
        queue: deque[tuple[str, int]] = deque((url, 0) for url in start)
        self.seen_pages.update(start)
        while queue:
            if self.out.stats.get("pages_visited", 0) >= self.caps.pages:
                self.out.problem(Problem.PAGE_CAP, None, f"{len(queue)} page(s) not visited")
                return
            url, depth = queue.popleft()
            links = await self._page(url)
            if not follow or links is None:
                continue
            for link in links:
                if link in self.seen_pages or registrable(link) != site:
                    continue
                if depth + 1 > self.caps.depth:
                    self.out.count("links_beyond_depth")
                    continue
                self.seen_pages.add(link)
                queue.append((link, depth + 1))
        if self.out.stats.get("links_beyond_depth"):
            self.out.problem(
                Problem.DEPTH_CAP,
                None,
                f"{self.out.stats['links_beyond_depth']} link(s) deeper than {self.caps.depth}",
            )

    async def _page(self, url: str) -> list[str] | None:
        self.out.count("pages_visited")  # asked for, whatever the answer: the cap counts it
        got = await self._document(url, HTML_MEDIA_TYPES, self.caps.html_bytes)
        if got is None:
            return None
        fetched, known = got
        if fetched.not_modified and known is not None:
            self.out.count("pages_unchanged")
            images, links = known.images, known.links
        else:
            read = self._read_page(url, fetched)
            if read is None:
                return None
            images, links = read
        for image in images:
            await self._image(image, page_url=url)
        return links

    def _read_page(self, url: str, fetched: FetchedDocument) -> tuple[list[str], list[str]] | None:
        try:
            found = page_images(fetched.data, page_url=fetched.final_url, limit=self.caps.images)
            canonical, links = page_links(
                fetched.data, page_url=fetched.final_url, limit=LINKS_PER_PAGE
            )
        except (PageUnreadableError, RecursionError) as exc:
            self.out.problem(Problem.UNREADABLE, url, str(exc))
            return None
        self.out.count("pages_fetched")
        if canonical and canonical != url and canonical in self.seen_pages:
            self.out.count("pages_duplicate")
            return [], []
        if canonical:
            self.seen_pages.add(canonical)
        images = [image.url for image in found]
        self.out.documents.append(DocumentSeen(url, fetched.validators, links, images))
        return images, links

    # --- images -------------------------------------------------------------------------
    async def _image(self, url: str, *, page_url: str) -> None:
        if url in self.seen_images:
            return
        if len(self.seen_images) >= self.caps.images:
            self.out.problem(Problem.IMAGE_CAP, url, f"over {self.caps.images} image(s)")
            return
        room = self.caps.bytes - self.bytes_used
        if room <= 0:
            self.out.problem(Problem.BYTES_CAP, url, f"over {self.caps.bytes:,} bytes")
            return
        self.seen_images.add(url)
        self.out.count("images_seen")
        known = self.plan.images.get(url)
        current = known is not None and known.current
        try:
            fetched = await self.fetcher.fetch(
                url,
                max_bytes=min(self.caps.image_bytes, room),
                media_types=None,
                validators=known.validators if known and current else None,
            )
        except CrawlRefusedError as exc:
            self.out.problem(exc.reason, url, exc.message)
            return
        await self._take_image(url, page_url, fetched, known if current else None)

    async def _take_image(
        self, url: str, page_url: str, fetched: FetchedDocument, known: Remembered | None
    ) -> None:
        if fetched.not_modified and known is not None:
            self.out.count("images_unchanged")
            return
        data = fetched.data
        self.bytes_used += len(data)
        self.out.count("bytes", len(data))
        if sniff_format(data) is None and not looks_like_video(data):
            self.out.problem(Problem.NOT_AN_IMAGE, url, "not an image or video twinwatch reads")
            return
        digest = hashlib.sha256(data).hexdigest()
        if known is not None and known.content_sha256 == digest:
            self.out.count("images_unchanged")
            self.out.images.append(ImageSeen(url, fetched.validators, digest, None))
            return
        position = len(self.out.items)
        key = f"{self.out.folder}{position}.img"
        await asyncio.to_thread(self.out.blobs.put, key, data)
        self.out.items.append(
            BatchItem(name=url, upload_path=key, url=url, context=ItemContext(page_url=page_url))
        )
        self.out.images.append(ImageSeen(url, fetched.validators, digest, position))
        self.out.count("images_queued")
