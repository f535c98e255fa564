from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import JSONResponse

from service.api.deps import BrandPrincipal, Ctx, ObjectId, PageParams
from service.api.docs import IMAGE_INPUT
from service.api.forms import ImageUrl, IntendedUse, image_source
from service.api.submissions import submit_one
from service.core.schemas import Page
from service.rules.vocabulary import ScanKind
from service.scanning.schemas import ScanOut
from service.scanning.submissions import list_scans, read_scan
from service.scanning.uploads import UploadBounds

router = APIRouter(prefix="/v1/prechecks", tags=["prechecks"])


@router.post(
    "",
    status_code=201,
    response_model=ScanOut,
    responses=IMAGE_INPUT,
    summary="Brand pre-check: may this asset be used as intended? (cleared + why)",
)
async def create_precheck(
    request: Request,
    ctx: Ctx,
    principal: BrandPrincipal,
    use: IntendedUse,
    file: Annotated[UploadFile | None, File()] = None,
    url: ImageUrl = None,
) -> JSONResponse:
    source = await image_source(file, url, bounds=UploadBounds.of(ctx.settings))
    return await submit_one(
        request=request,
        ctx=ctx,
        principal=principal,
        kind=ScanKind.PRECHECK,
        source=source,
        form=use,
    )


@router.get("", response_model=Page[ScanOut])
def get_prechecks(ctx: Ctx, principal: BrandPrincipal, page: PageParams) -> Page[ScanOut]:
    return list_scans(ctx.db, principal, ScanKind.PRECHECK, page.offset, page.limit)


@router.get("/{precheck_id}", response_model=ScanOut)
def get_precheck(precheck_id: ObjectId, ctx: Ctx, principal: BrandPrincipal) -> ScanOut:
    return read_scan(ctx.db, principal, precheck_id, ScanKind.PRECHECK)
