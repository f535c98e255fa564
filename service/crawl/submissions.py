"""Crawl input as use cases: a WARC archive or a page URL, staged as a batch ready to become a
job (the router submits it like any batch)."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from service.context import AppContext
from service.core.errors import InvalidRequestError
from service.core.hashing import fingerprint
from service.crawl.jobs import page_batch, warc_batch, warc_limits
from service.jobs.queue import JobCallbackSpec, staging_folder
from service.jobs.submissions import StagedBatch
from service.scanning.uploads import spool_upload


async def stage_warc_batch(
    ctx: AppContext, file: UploadFile, callback: JobCallbackSpec | None
) -> StagedBatch:
    """Every image response of a WARC archive, each with its own URL, page and date: the
    archive is spooled to a process-local temp file (read once, then deleted), its images
    staged in the blob store."""
    settings = ctx.settings
    folder = staging_folder()
    digest = hashlib.sha256()
    try:
        with tempfile.TemporaryDirectory(prefix="twinwatch-warc-") as scratch:
            archive = Path(scratch) / "archive.warc"
            await spool_upload(file, archive, max_bytes=settings.max_warc_bytes, digest=digest)
            batch = await run_in_threadpool(
                warc_batch, archive, blobs=ctx.blobs, folder=folder, limits=warc_limits(settings)
            )
    except BaseException:
        await run_in_threadpool(ctx.blobs.delete_prefix, folder)
        raise
    return StagedBatch(batch, callback, fingerprint("warc", digest.hexdigest()))


def required_page_url(page_url: str | None) -> str:
    """A page job needs the page whose images to scan."""
    if page_url is None:
        raise InvalidRequestError(
            "page_url is required: the page whose images to scan.", field="page_url"
        )
    return page_url


async def stage_page_batch(
    ctx: AppContext, page_url: str, callback: JobCallbackSpec | None
) -> StagedBatch:
    """The images a person would see on a page, with the page as their context."""
    folder = staging_folder()
    try:
        batch = await page_batch(page_url, blobs=ctx.blobs, folder=folder, settings=ctx.settings)
    except BaseException:
        await run_in_threadpool(ctx.blobs.delete_prefix, folder)
        raise
    names = (item.name for item in batch.items)
    return StagedBatch(batch, callback, fingerprint("page", page_url, *names))
