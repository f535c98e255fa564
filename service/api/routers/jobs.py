from __future__ import annotations

import secrets
import shutil
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from service.access.keys import Principal, Role
from service.access.scoping import job_in_scope
from service.api.deps import Ctx, CurrentPrincipal, ObjectId, PageParams
from service.api.docs import IMAGE_INPUT
from service.api.forms import (
    Callback,
    CallbackForm,
    ContextForm,
    IntendedUse,
    SightingContext,
    check_upload_names,
    checked_urls,
)
from service.api.idempotency import fingerprint, idempotent
from service.api.views import scan_out
from service.context import AppContext
from service.errors import InvalidRequestError
from service.fetching import check_url
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
from service.licensing.verdicts import Viewer
from service.models import Scan
from service.scanning.uploads import read_upload, stage_uploads
from service.schemas import JobItemOut, JobOut, Page, ScanKind, ScanOut

router = APIRouter(tags=["jobs"])
SUBMITTERS = (Role.MONITOR, Role.BRAND)  # jobs are read by who may submit them
Files = Annotated[list[UploadFile], File(description="Images to scan.")]
Urls = Annotated[list[str], Form(description="Image URLs to fetch (repeat the field).")]
Manifest = Annotated[
    UploadFile | str | None,
    File(
        description=(
            "Optional JSON object (a file part or a text field) mapping item names (upload file "
            "names or URLs) to their own `page_url`, `publisher`, `observed_at`, `channel`, "
            "`territory`; the batch's fields fill what an item leaves out."
        )
    ),
]


async def job_callback(ctx: AppContext, form: CallbackForm) -> JobCallbackSpec | None:
    """The callback, its URL vetted now like any fetch (and again at each delivery)."""
    if form.url is None:
        return None
    await check_url(form.url, allow_private_networks=ctx.settings.fetch_allow_private_networks)
    return JobCallbackSpec(form.url, form.secret or secrets.token_urlsafe(32))


async def submit_batch(
    request: Request,
    ctx: AppContext,
    principal: Principal,
    kind: ScanKind,
    batch: BatchInput,
    form: ContextForm,
    callback: JobCallbackSpec | None,
    request_hash: str,
    max_items: int,
) -> JSONResponse:
    """Create the job (once per Idempotency-Key) and answer 202 with it; staged files are
    removed unless a job now owns them."""
    created: list[int] = []

    def create() -> JobOut:
        created.append(
            create_job(
                db=ctx.db,
                principal=principal,
                kind=kind,
                batch=batch,
                context=form.context,
                max_items=max_items,
                callback=callback,
            )
        )
        job = read_job(ctx, principal, created[0])
        job.callback_secret = callback.secret if callback else None
        return job

    async def handler() -> tuple[int, JobOut]:
        return 202, await run_in_threadpool(create)

    try:
        return await idempotent(
            request=request,
            ctx=ctx,
            principal=principal,
            handler=handler,
            request_hash=fingerprint(
                request_hash,
                form.fingerprint,
                callback.url if callback else None,
                callback.secret if callback else None,
            ),
        )
    finally:
        if not created and batch.folder is not None:  # nothing will read these files
            shutil.rmtree(batch.folder, ignore_errors=True)


async def _submit(
    request: Request,
    ctx: AppContext,
    principal: Principal,
    kind: ScanKind,
    files: list[UploadFile],
    urls: list[str],
    form: ContextForm,
    manifest: UploadFile | str | None,
    callback_form: CallbackForm,
) -> JSONResponse:
    limit = ctx.settings.max_batch_items
    check_upload_names(files)
    if len(files) + len(urls) > limit:
        raise InvalidRequestError(
            f"A batch holds at most {limit} items; got {len(files) + len(urls)}.", max_items=limit
        )
    urls = checked_urls(urls)
    manifest_bytes = (
        manifest.encode()
        if isinstance(manifest, str)
        else await read_upload(manifest, max_bytes=MANIFEST_MAX_BYTES)
        if manifest is not None
        else b""
    )
    names = [f.filename or f"upload-{n}" for n, f in enumerate(files)] + urls
    contexts = (
        parse_manifest(manifest_bytes, names=names, max_entries=limit)
        if manifest is not None
        else {}
    )
    callback = await job_callback(ctx, callback_form)
    folder = staging_folder(ctx.settings.job_uploads_dir())
    staged = await stage_uploads(files, folder=folder, max_bytes=ctx.settings.max_upload_bytes)
    batch = BatchInput(staged.files, urls, folder, contexts=contexts)
    return await submit_batch(
        request,
        ctx,
        principal,
        kind,
        batch,
        form,
        callback,
        fingerprint(kind, staged.digest, *urls, manifest_bytes),
        limit,
    )


@router.post(
    "/v1/scan-jobs",
    status_code=202,
    response_model=JobOut,
    responses=IMAGE_INPUT,
    summary="Queue many images (uploads and/or URLs), each with its own context or the batch's",
)
async def create_scan_job(
    request: Request,
    ctx: Ctx,
    principal: CurrentPrincipal,
    form: SightingContext,
    callback: Callback,
    files: Files = [],  # noqa: B006
    urls: Urls = [],  # noqa: B006
    manifest: Manifest = None,
) -> JSONResponse:
    principal.require(Role.MONITOR)
    return await _submit(
        request, ctx, principal, ScanKind.SCAN, files, urls, form, manifest, callback
    )


@router.post(
    "/v1/precheck-jobs",
    status_code=202,
    response_model=JobOut,
    responses=IMAGE_INPUT,
    summary="Queue many assets for a brand pre-check",
)
async def create_precheck_job(
    request: Request,
    ctx: Ctx,
    principal: CurrentPrincipal,
    use: IntendedUse,
    callback: Callback,
    files: Files = [],  # noqa: B006
    urls: Urls = [],  # noqa: B006
) -> JSONResponse:
    principal.require(Role.BRAND)
    return await _submit(
        request, ctx, principal, ScanKind.PRECHECK, files, urls, use, None, callback
    )


def read_job(ctx: AppContext, principal: Principal, job_id: int) -> JobOut:
    with ctx.db.session() as session:
        return job_out(session, job_in_scope(session, principal=principal, job_id=job_id))


@router.get("/v1/jobs/{job_id}", response_model=JobOut, summary="Progress of a batch job")
def get_job(job_id: ObjectId, ctx: Ctx, principal: CurrentPrincipal) -> JobOut:
    principal.require(*SUBMITTERS)
    return read_job(ctx, principal, job_id)


@router.get(
    "/v1/jobs/{job_id}/items",
    response_model=Page[JobItemOut],
    summary="A job's items by position, a page at a time (optionally one status)",
)
def get_job_items(
    job_id: ObjectId,
    ctx: Ctx,
    principal: CurrentPrincipal,
    page: PageParams,
    status: ItemStatus | None = None,
) -> Page[JobItemOut]:
    principal.require(*SUBMITTERS)
    with ctx.db.session() as session:
        job = job_in_scope(session, principal=principal, job_id=job_id)
        return job_items_page(session, job, offset=page.offset, limit=page.limit, status=status)


@router.get("/v1/jobs/{job_id}/results", response_model=Page[ScanOut])
def get_job_results(
    job_id: ObjectId, ctx: Ctx, principal: CurrentPrincipal, page: PageParams
) -> Page[ScanOut]:
    principal.require(*SUBMITTERS)
    with ctx.db.session() as session:
        job_in_scope(session, principal=principal, job_id=job_id)
        query = select(Scan).where(Scan.job_id == job_id)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(Scan.id).offset(page.offset).limit(page.limit))
        viewer = Viewer.of(principal)
        return Page[ScanOut](
            items=[scan_out(session, s, viewer) for s in rows],
            total=total,
            offset=page.offset,
            limit=page.limit,
        )
