"""Crawl input for monitors: a WARC archive or a page URL becomes a batch job."""

from __future__ import annotations

import shutil
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from service.access.keys import Role
from service.api.deps import Ctx, CurrentPrincipal
from service.api.docs import IMAGE_INPUT
from service.api.forms import Callback, ContextForm, SightingContext
from service.api.idempotency import fingerprint
from service.api.routers.jobs import job_callback, submit_batch
from service.crawl.jobs import page_batch, warc_batch, warc_limits
from service.errors import InvalidRequestError
from service.jobs.queue import staging_folder
from service.scanning.uploads import stage_uploads
from service.schemas import JobOut, ScanKind

router = APIRouter(tags=["jobs"])
WarcFile = Annotated[
    UploadFile, File(description="A WARC archive (.warc or .warc.gz, gzip per record).")
]


@router.post(
    "/v1/warc-jobs",
    status_code=202,
    response_model=JobOut,
    responses=IMAGE_INPUT,
    summary="Queue every image response of a WARC archive, each with its own URL, "
    "page, publisher and date",
)
async def create_warc_job(
    request: Request,
    ctx: Ctx,
    principal: CurrentPrincipal,
    form: SightingContext,
    callback: Callback,
    file: WarcFile,
) -> JSONResponse:
    principal.require(Role.MONITOR)
    settings = ctx.settings
    vetted = await job_callback(ctx, callback)
    folder = staging_folder(settings.job_uploads_dir())
    try:
        staged = await stage_uploads([file], folder=folder, max_bytes=settings.max_warc_bytes)
        batch = await run_in_threadpool(
            warc_batch, staged.files[0][1], folder=folder, limits=warc_limits(settings)
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return await submit_batch(
        request,
        ctx,
        principal,
        ScanKind.SCAN,
        batch,
        form,
        vetted,
        fingerprint("warc", staged.digest),
        max_items=settings.max_warc_items,
    )


@router.post(
    "/v1/page-jobs",
    status_code=202,
    response_model=JobOut,
    responses=IMAGE_INPUT,
    summary="Fetch a page and queue the images a person would see on it, with the "
    "page as their context",
)
async def create_page_job(
    request: Request,
    ctx: Ctx,
    principal: CurrentPrincipal,
    form: SightingContext,
    callback: Callback,
) -> JSONResponse:
    principal.require(Role.MONITOR)
    page_url = form.context.page_url
    if page_url is None:
        raise InvalidRequestError(
            "page_url is required: the page whose images to scan.", field="page_url"
        )
    vetted = await job_callback(ctx, callback)
    folder = staging_folder(ctx.settings.job_uploads_dir())
    try:
        batch = await page_batch(page_url, folder=folder, settings=ctx.settings)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    context = ContextForm(replace(form.context, page_url=page_url), form.fingerprint)
    return await submit_batch(
        request,
        ctx,
        principal,
        ScanKind.SCAN,
        batch,
        context,
        vetted,
        fingerprint("page", page_url, *(item.name for item in batch.items)),
        max_items=ctx.settings.page_max_images,
    )
