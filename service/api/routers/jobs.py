from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse

from service.api.deps import (
    BrandPrincipal,
    Ctx,
    MonitorPrincipal,
    ObjectId,
    PageParams,
    SubmitterPrincipal,
)
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
from service.api.submissions import submit_batch
from service.context import AppContext
from service.core.principal import Principal, Role
from service.core.schemas import Page
from service.jobs.queue import (
    ItemStatus,
)
from service.jobs.schemas import JobItemOut, JobOut
from service.jobs.submissions import (
    job_callback,
    job_items,
    job_results,
    read_job,
    stage_upload_batch,
)
from service.rules.vocabulary import ScanKind
from service.scanning.schemas import ScanOut

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
    """Parse the batch's fields, stage it, and submit it (uploads, URLs, manifest)."""
    check_upload_names(files)
    callback = await job_callback(ctx, callback_form.url, callback_form.secret)
    staged = await stage_upload_batch(
        ctx, kind=kind, files=files, urls=checked_urls(urls), manifest=manifest, callback=callback
    )
    return await submit_batch(
        request=request,
        ctx=ctx,
        principal=principal,
        kind=kind,
        staged=staged,
        form=form,
        max_items=ctx.settings.max_batch_items,
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
    principal: MonitorPrincipal,
    form: SightingContext,
    callback: Callback,
    files: Files = [],  # noqa: B006
    urls: Urls = [],  # noqa: B006
    manifest: Manifest = None,
) -> JSONResponse:
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
    principal: BrandPrincipal,
    use: IntendedUse,
    callback: Callback,
    files: Files = [],  # noqa: B006
    urls: Urls = [],  # noqa: B006
) -> JSONResponse:
    return await _submit(
        request, ctx, principal, ScanKind.PRECHECK, files, urls, use, None, callback
    )


@router.get("/v1/jobs/{job_id}", response_model=JobOut, summary="Progress of a batch job")
def get_job(job_id: ObjectId, ctx: Ctx, principal: SubmitterPrincipal) -> JobOut:
    return read_job(ctx.db, principal, job_id)


@router.get(
    "/v1/jobs/{job_id}/items",
    response_model=Page[JobItemOut],
    summary="A job's items by position, a page at a time (optionally one status)",
)
def get_job_items(
    job_id: ObjectId,
    ctx: Ctx,
    principal: SubmitterPrincipal,
    page: PageParams,
    status: ItemStatus | None = None,
) -> Page[JobItemOut]:
    return job_items(ctx.db, principal, job_id, page.offset, page.limit, status)


@router.get("/v1/jobs/{job_id}/results", response_model=Page[ScanOut])
def get_job_results(
    job_id: ObjectId, ctx: Ctx, principal: SubmitterPrincipal, page: PageParams
) -> Page[ScanOut]:
    return job_results(ctx.db, principal, job_id, page.offset, page.limit)
