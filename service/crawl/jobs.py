"""Batch jobs from crawl input: a WARC archive's image responses, a page's images.

Both stage every image in the blob store under the job's upload folder, one at a time
(never all in memory), and give
each item its name (the image URL) and its own context; the job is then created and run like
any batch (:mod:`service.jobs.queue`), exactly once per item.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from indexer.blobs import BlobStore
from indexer.errors import TwinwatchError
from service.core.errors import InvalidRequestError
from service.core.fetching import FetchLimits, fetch_image, fetch_page
from service.core.settings import ServiceSettings
from service.crawl.errors import PageHasNoImagesError
from service.crawl.html import page_images
from service.crawl.warc import (
    SkippedRecord,
    WarcLimits,
    iter_warc_images,
)
from service.jobs.queue import BatchInput, BatchItem

log = logging.getLogger(__name__)
SKIPPED_KEPT = 1000  # skipped records listed on a job (the rest are counted in the log)
PAGE_FETCHES_AT_ONCE = 4


def warc_limits(settings: ServiceSettings) -> WarcLimits:
    """The bounds on reading an archive: each image as an upload, the images per archive."""
    return WarcLimits(
        max_record_bytes=settings.max_upload_bytes,
        max_images=settings.max_warc_items,
        max_html_bytes=settings.page_max_html_bytes,
    )


def _keep(skipped: list[dict[str, object]], entry: SkippedRecord) -> None:
    if len(skipped) < SKIPPED_KEPT:
        skipped.append(entry.to_json())


def warc_batch(archive: Path, *, blobs: BlobStore, folder: str, limits: WarcLimits) -> BatchInput:
    """Every image of the archive (a local spool file, the caller's to delete) staged under
    ``folder`` in the blob store (blocking: run in a thread)."""
    items: list[BatchItem] = []
    skipped: list[dict[str, object]] = []
    for number, entry in enumerate(iter_warc_images(archive, limits=limits)):
        if isinstance(entry, SkippedRecord):
            _keep(skipped, entry)
            continue
        key = f"{folder}{number}.img"
        blobs.put(key, entry.data)
        items.append(
            BatchItem(name=entry.uri, upload_path=key, url=entry.uri, context=entry.context())
        )
    if not items:
        raise InvalidRequestError(
            "The archive holds no image response to scan.", skipped=skipped[:20]
        )
    return BatchInput([], [], folder, items=items, skipped=skipped)


async def page_batch(
    page_url: str, *, blobs: BlobStore, folder: str, settings: ServiceSettings
) -> BatchInput:
    """The images a person sees on the page, fetched (SSRF-safe, at most
    ``page_max_images`` and ``page_max_total_bytes`` together) and staged in ``folder``;
    their context is the job's, whose page is this page. An image that cannot be fetched is
    listed as skipped; the rest go on."""
    page = await fetch_page(
        page_url,
        limits=FetchLimits(
            max_bytes=settings.page_max_html_bytes,
            timeout_s=settings.fetch_timeout_s,
            max_redirects=settings.fetch_max_redirects,
        ),
        allow_private_networks=settings.fetch_allow_private_networks,
    )
    found = page_images(page.html, page_url=page.final_url, limit=settings.page_max_images)
    if not found:
        raise PageHasNoImagesError(f"No image was found on {page_url[:200]}.", url=page_url)
    budget = settings.page_max_total_bytes
    gate = asyncio.Semaphore(PAGE_FETCHES_AT_ONCE)

    async def fetch(url: str) -> bytes | TwinwatchError:
        async with gate:
            try:
                image = await fetch_image(
                    url,
                    limits=FetchLimits(
                        max_bytes=min(settings.max_upload_bytes, budget),
                        timeout_s=settings.fetch_timeout_s,
                        max_redirects=settings.fetch_max_redirects,
                    ),
                    allow_private_networks=settings.fetch_allow_private_networks,
                )
            except TwinwatchError as exc:
                return exc
            return image.data

    fetched = await asyncio.gather(*(fetch(image.url) for image in found))
    items: list[BatchItem] = []
    skipped: list[dict[str, object]] = []
    used = 0
    for number, (image, outcome) in enumerate(zip(found, fetched, strict=True)):
        if isinstance(outcome, TwinwatchError):
            skipped.append(
                {
                    "offset": None,
                    "uri": image.url,
                    "reason": outcome.code,
                    "message": outcome.message[:300],
                }
            )
            continue
        if used + len(outcome) > budget:
            skipped.append(
                {
                    "offset": None,
                    "uri": image.url,
                    "reason": "page_bytes_exceeded",
                    "message": f"The page's images together are over {budget:,} bytes.",
                }
            )
            continue
        used += len(outcome)
        key = f"{folder}{number}.img"
        await asyncio.to_thread(blobs.put, key, outcome)
        items.append(BatchItem(name=image.url, upload_path=key, url=image.url))
    if not items:
        raise PageHasNoImagesError(
            f"None of the {len(found)} image(s) on {page_url[:200]} could be fetched.",
            url=page_url,
            skipped=skipped[:20],
        )
    return BatchInput([], [], folder, items=items, skipped=skipped)
