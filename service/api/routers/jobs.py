from __future__ import annotations

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
from service.jobs.queue import BatchInput, create_job, job_out, staging_folder
from service.licensing.verdicts import Viewer
from service.models import Scan
from service.scanning.uploads import stage_uploads
from service.schemas import JobOut, Page, ScanKind, ScanOut

router = APIRouter(tags=["jobs"])
SUBMITTERS = (Role.MONITOR, Role.BRAND)  # jobs are read by who may submit them
Files = Annotated[list[UploadFile], File(description="Images to scan.")]
Urls = Annotated[list[str], Form(description="Image URLs to fetch (repeat the field).")]


async def _submit(request: Request, ctx: AppContext, principal: Principal, kind: ScanKind,
                  files: list[UploadFile], urls: list[str], form: ContextForm
                  ) -> JSONResponse:
    limit = ctx.settings.max_batch_items
    check_upload_names(files)
    if len(files) + len(urls) > limit:
        raise InvalidRequestError(f"A batch holds at most {limit} items; got "
                                  f"{len(files) + len(urls)}.", max_items=limit)
    folder = staging_folder(ctx.settings.job_uploads_dir())
    staged = await stage_uploads(files, folder=folder, max_bytes=ctx.settings.max_upload_bytes)
    urls = checked_urls(urls)
    batch = BatchInput(staged.files, urls, folder if staged.files else None)

    created: list[int] = []

    def create() -> JobOut:
        created.append(create_job(db=ctx.db, principal=principal, kind=kind, batch=batch,
                                  context=form.context, max_items=limit))
        return read_job(ctx, principal, created[0])

    async def handler() -> tuple[int, JobOut]:
        return 202, await run_in_threadpool(create)
    try:
        return await idempotent(request=request, ctx=ctx, principal=principal,
                                handler=handler, request_hash=fingerprint(
                                    kind, staged.digest, *urls, form.fingerprint))
    finally:
        if not created:  # replayed, refused or failed: nothing will read these uploads
            shutil.rmtree(folder, ignore_errors=True)


@router.post("/v1/scan-jobs", status_code=202, response_model=JobOut, responses=IMAGE_INPUT,
             summary="Queue many images (uploads and/or URLs) seen in one context")
async def create_scan_job(request: Request, ctx: Ctx, principal: CurrentPrincipal,
                          form: SightingContext, files: Files = [],  # noqa: B006
                          urls: Urls = []) -> JSONResponse:  # noqa: B006
    principal.require(Role.MONITOR)
    return await _submit(request, ctx, principal, ScanKind.SCAN, files, urls, form)


@router.post("/v1/precheck-jobs", status_code=202, response_model=JobOut,
             responses=IMAGE_INPUT,
             summary="Queue many assets for a brand pre-check")
async def create_precheck_job(request: Request, ctx: Ctx, principal: CurrentPrincipal,
                              use: IntendedUse, files: Files = [],  # noqa: B006
                              urls: Urls = []) -> JSONResponse:  # noqa: B006
    principal.require(Role.BRAND)
    return await _submit(request, ctx, principal, ScanKind.PRECHECK, files, urls, use)


def read_job(ctx: AppContext, principal: Principal, job_id: int) -> JobOut:
    with ctx.db.session() as session:
        return job_out(session, job_in_scope(session, principal=principal, job_id=job_id))


@router.get("/v1/jobs/{job_id}", response_model=JobOut, summary="Progress of a batch job")
def get_job(job_id: ObjectId, ctx: Ctx, principal: CurrentPrincipal) -> JobOut:
    principal.require(*SUBMITTERS)
    return read_job(ctx, principal, job_id)


@router.get("/v1/jobs/{job_id}/results", response_model=Page[ScanOut])
def get_job_results(job_id: ObjectId, ctx: Ctx, principal: CurrentPrincipal,
                    page: PageParams) -> Page[ScanOut]:
    principal.require(*SUBMITTERS)
    with ctx.db.session() as session:
        job_in_scope(session, principal=principal, job_id=job_id)
        query = select(Scan).where(Scan.job_id == job_id)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(Scan.id).offset(page.offset).limit(page.limit))
        viewer = Viewer.of(principal)
        return Page[ScanOut](items=[scan_out(session, s, viewer) for s in rows], total=total,
                             offset=page.offset, limit=page.limit)
