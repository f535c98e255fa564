"""Batch jobs as use cases: stage a batch (uploads, URLs, manifest, callback), create the job
from it, read a job and its results.

The API's routers (batch, WARC and page jobs) and the console's batch pages call these.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import UploadFile
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from indexer.db import Database
from service.access.scoping import job_in_scope
from service.context import AppContext
from service.core.errors import InvalidRequestError
from service.core.fetching import check_url
from service.core.hashing import fingerprint
from service.core.principal import Principal
from service.core.schemas import Page
from service.core.tables.scanning import Scan
from service.jobs.items import MANIFEST_MAX_BYTES, parse_manifest
from service.jobs.queue import (
    BatchInput,
    ItemStatus,
    JobCallbackSpec,
    create_job,
    job_items_page,
    job_out,
    staging_folder,
)
from service.jobs.schemas import JobItemOut, JobOut
from service.rules.vocabulary import ScanKind
from service.scanning.schemas import ScanOut
from service.scanning.submissions import scans_page
from service.scanning.types import UseContext
from service.scanning.uploads import UploadBounds, read_upload, stage_uploads


@dataclass(frozen=True)
class StagedBatch:
    """A batch ready to become a job: its items (files staged on disk), the vetted callback,
    and a fingerprint of what was submitted (for Idempotency-Key)."""

    batch: BatchInput
    callback: JobCallbackSpec | None
    request_hash: str


async def job_callback(
    ctx: AppContext, url: str | None, secret: str | None
) -> JobCallbackSpec | None:
    """The callback, its URL vetted now like any fetch (and again at each delivery)."""
    if url is None:
        return None
    await check_url(url, allow_private_networks=ctx.settings.fetch_allow_private_networks)
    return JobCallbackSpec(url, secret or secrets.token_urlsafe(32))


async def stage_upload_batch(
    ctx: AppContext,
    *,
    kind: ScanKind,
    files: list[UploadFile],
    urls: Sequence[str],
    manifest: UploadFile | str | None,
    callback: JobCallbackSpec | None,
) -> StagedBatch:
    """Uploads and image URLs (each optionally with its own context from a manifest), staged."""
    limit = ctx.settings.max_batch_items
    if len(files) + len(urls) > limit:
        raise InvalidRequestError(
            f"A batch holds at most {limit} items; got {len(files) + len(urls)}.", max_items=limit
        )
    manifest_bytes = await _manifest_bytes(manifest)
    names = [f.filename or f"upload-{n}" for n, f in enumerate(files)] + list(urls)
    contexts = (
        parse_manifest(manifest_bytes, names=names, max_entries=limit)
        if manifest is not None
        else {}
    )
    folder = staging_folder()
    staged = await stage_uploads(
        files, blobs=ctx.blobs, folder=folder, max_bytes=UploadBounds.of(ctx.settings)
    )
    batch = BatchInput(staged.files, list(urls), folder, contexts=contexts)
    return StagedBatch(batch, callback, fingerprint(kind, staged.digest, *urls, manifest_bytes))


async def _manifest_bytes(manifest: UploadFile | str | None) -> bytes:
    if manifest is None:
        return b""
    if isinstance(manifest, str):
        return manifest.encode()
    return await read_upload(manifest, max_bytes=MANIFEST_MAX_BYTES)


async def create_batch_job(
    ctx: AppContext,
    principal: Principal,
    kind: ScanKind,
    staged: StagedBatch,
    context: UseContext,
    *,
    max_items: int,
    created: list[int],
) -> JobOut:
    """Create the job (its items queued for the workers); ``created`` receives its id."""

    def create() -> JobOut:
        created.append(
            create_job(
                db=ctx.db,
                principal=principal,
                kind=kind,
                batch=staged.batch,
                context=context,
                max_items=max_items,
                blobs=ctx.blobs,
                callback=staged.callback,
            )
        )
        job = read_job(ctx.db, principal, created[0])
        job.callback_secret = staged.callback.secret if staged.callback else None
        return job

    return await run_in_threadpool(create)


async def discard_unowned(ctx: AppContext, staged: StagedBatch, created: list[int]) -> None:
    """Remove the staged blobs unless a job now owns them."""
    if not created and staged.batch.folder is not None:  # nothing will read these blobs
        await run_in_threadpool(ctx.blobs.delete_prefix, staged.batch.folder)


def read_job(db: Database, principal: Principal, job_id: int) -> JobOut:
    with db.session() as session:
        return job_out(session, job_in_scope(session, principal=principal, job_id=job_id))


def job_items(
    db: Database,
    principal: Principal,
    job_id: int,
    offset: int,
    limit: int,
    status: ItemStatus | None,
) -> Page[JobItemOut]:
    """A job's items by position, a page at a time (optionally one status)."""
    with db.session() as session:
        job = job_in_scope(session, principal=principal, job_id=job_id)
        return job_items_page(session, job, offset=offset, limit=limit, status=status)


def job_results(
    db: Database, principal: Principal, job_id: int, offset: int, limit: int
) -> Page[ScanOut]:
    """A job's scans by position, a page at a time."""
    with db.session() as session:
        job_in_scope(session, principal=principal, job_id=job_id)
        query = select(Scan).where(Scan.job_id == job_id)
        return scans_page(session, query, Scan.id, principal, offset, limit)
