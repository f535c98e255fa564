"""A talent's portfolio: shoot and campaign images for copy detection (issue 22)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from service.api.deps import AgencyPrincipal, Ctx, CurrentPrincipal, ObjectId, PageParams
from service.api.docs import IMAGE_INPUT
from service.api.forms import photo_inputs
from service.core.schemas import Page
from service.talents import portfolio_access
from service.talents.schemas import PortfolioAddOut, PortfolioImageOut

router = APIRouter(tags=["portfolio"])


@router.post(
    "/v1/talents/{talent_id}/portfolio",
    response_model=PortfolioAddOut,
    responses=IMAGE_INPUT,
    summary="Register portfolio images (found when copied; never used for face matching)",
)
async def add_portfolio_images(
    talent_id: ObjectId,
    files: Annotated[list[UploadFile], File()],
    ctx: Ctx,
    principal: AgencyPrincipal,
) -> PortfolioAddOut:
    images = await photo_inputs(
        files,
        max_files=ctx.settings.max_batch_items,
        max_bytes=ctx.settings.max_upload_bytes,
        unnamed="image",
    )
    return await portfolio_access.add_images(
        ctx=ctx, principal=principal, talent_id=talent_id, files=images
    )


@router.get("/v1/talents/{talent_id}/portfolio", response_model=Page[PortfolioImageOut])
def list_portfolio(
    talent_id: ObjectId, ctx: Ctx, principal: AgencyPrincipal, page: PageParams
) -> Page[PortfolioImageOut]:
    return portfolio_access.list_images(
        ctx=ctx, principal=principal, talent_id=talent_id, offset=page.offset, limit=page.limit
    )


@router.delete(
    "/v1/talents/{talent_id}/portfolio/{image_id}", status_code=204, response_class=Response
)
async def remove_portfolio_image(
    talent_id: ObjectId, image_id: ObjectId, ctx: Ctx, principal: AgencyPrincipal
) -> Response:
    await run_in_threadpool(
        portfolio_access.remove_image,
        ctx=ctx,
        principal=principal,
        talent_id=talent_id,
        image_id=image_id,
    )
    return Response(status_code=204)


@router.get(
    "/v1/me/portfolio",
    response_model=Page[PortfolioImageOut],
    summary="The talent's own portfolio images, as her agency registered them",
)
def my_portfolio(
    ctx: Ctx, principal: CurrentPrincipal, page: PageParams
) -> Page[PortfolioImageOut]:
    return portfolio_access.list_own_images(
        ctx=ctx, principal=principal, offset=page.offset, limit=page.limit
    )
