"""Crawl input for monitors: a WARC archive or a page URL becomes a batch job."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import JSONResponse

from service.api.deps import Ctx, MonitorPrincipal
from service.api.docs import IMAGE_INPUT
from service.api.forms import Callback, ContextForm, SightingContext
from service.api.submissions import submit_batch
from service.crawl.submissions import required_page_url, stage_page_batch, stage_warc_batch
from service.jobs.schemas import JobOut
from service.jobs.submissions import job_callback
from service.rules.vocabulary import ScanKind

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
    principal: MonitorPrincipal,
    form: SightingContext,
    callback: Callback,
    file: WarcFile,
) -> JSONResponse:
    vetted = await job_callback(ctx, callback.url, callback.secret)
    staged = await stage_warc_batch(ctx, file, vetted)
    return await submit_batch(
        request=request,
        ctx=ctx,
        principal=principal,
        kind=ScanKind.SCAN,
        staged=staged,
        form=form,
        max_items=ctx.settings.max_warc_items,
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
    principal: MonitorPrincipal,
    form: SightingContext,
    callback: Callback,
) -> JSONResponse:
    page_url = required_page_url(form.context.page_url)
    vetted = await job_callback(ctx, callback.url, callback.secret)
    staged = await stage_page_batch(ctx, page_url, vetted)
    context = ContextForm(replace(form.context, page_url=page_url), form.fingerprint)
    return await submit_batch(
        request=request,
        ctx=ctx,
        principal=principal,
        kind=ScanKind.SCAN,
        staged=staged,
        form=context,
        max_items=ctx.settings.page_max_images,
    )
