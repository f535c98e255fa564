from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import JSONResponse

from service.api.deps import Ctx, MonitorPrincipal, ObjectId, PageParams
from service.api.docs import IMAGE_INPUT
from service.api.forms import ImageUrl, SightingContext, image_source
from service.api.submissions import submit_one
from service.core.schemas import Page
from service.rules.vocabulary import ScanKind
from service.scanning.schemas import ScanOut
from service.scanning.submissions import list_scans, read_scan
from service.scanning.uploads import UploadBounds

router = APIRouter(prefix="/v1/scans", tags=["scans"])


@router.post(
    "",
    status_code=201,
    response_model=ScanOut,
    responses=IMAGE_INPUT,
    summary="Scan one image (upload or URL) seen somewhere; synchronous",
)
async def create_scan(
    request: Request,
    ctx: Ctx,
    principal: MonitorPrincipal,
    form: SightingContext,
    file: Annotated[UploadFile | None, File()] = None,
    url: ImageUrl = None,
) -> JSONResponse:
    source = await image_source(file, url, bounds=UploadBounds.of(ctx.settings))
    return await submit_one(
        request=request, ctx=ctx, principal=principal, kind=ScanKind.SCAN, source=source, form=form
    )


@router.get("", response_model=Page[ScanOut], summary="This key's tenant's scans, newest first")
def get_scans(ctx: Ctx, principal: MonitorPrincipal, page: PageParams) -> Page[ScanOut]:
    return list_scans(ctx.db, principal, ScanKind.SCAN, page.offset, page.limit)


@router.get("/{scan_id}", response_model=ScanOut)
def get_scan(scan_id: ObjectId, ctx: Ctx, principal: MonitorPrincipal) -> ScanOut:
    return read_scan(ctx.db, principal, scan_id, ScanKind.SCAN)
