from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from service.auth import Role
from service.deps import Ctx, CurrentPrincipal, PageParams
from service.forms import IntendedUse, image_source
from service.idempotency import fingerprint, idempotent
from service.routers.scans import list_scans, read_scan
from service.scan_service import run_scan
from service.schemas import Page, ScanOut

router = APIRouter(prefix="/v1/prechecks", tags=["prechecks"])


@router.post("", status_code=201, response_model=ScanOut,
             summary="Brand pre-check: may this asset be used as intended? (cleared + why)")
async def create_precheck(request: Request, ctx: Ctx, principal: CurrentPrincipal,
                          use: IntendedUse, file: Annotated[UploadFile | None, File()] = None,
                          url: Annotated[str | None, Form()] = None) -> JSONResponse:
    principal.require(Role.BRAND)
    source = await image_source(file, url, max_bytes=ctx.settings.max_upload_bytes)

    async def handler() -> tuple[int, ScanOut]:
        scan_id = await run_scan(ctx=ctx, principal=principal, kind="precheck", source=source,
                                 context=use.context)
        return 201, await run_in_threadpool(read_scan, ctx, principal, scan_id, "precheck")
    return await idempotent(request=request, ctx=ctx, principal=principal, handler=handler,
                            request_hash=fingerprint(source.data, source.url, use.fingerprint))


@router.get("", response_model=Page[ScanOut])
def get_prechecks(ctx: Ctx, principal: CurrentPrincipal, page: PageParams) -> Page[ScanOut]:
    principal.require(Role.BRAND)
    return list_scans(ctx, principal, "precheck", page.offset, page.limit)


@router.get("/{precheck_id}", response_model=ScanOut)
def get_precheck(precheck_id: int, ctx: Ctx, principal: CurrentPrincipal) -> ScanOut:
    principal.require(Role.BRAND)
    return read_scan(ctx, principal, precheck_id, "precheck")
