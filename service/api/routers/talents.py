from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from service.api.deps import Ctx, CurrentPrincipal, ObjectId, PageParams
from service.api.docs import IDEMPOTENT, IMAGE_INPUT, responses
from service.api.forms import photo_inputs
from service.api.idempotency import idempotent
from service.core.hashing import fingerprint
from service.core.schemas import Page
from service.talents import talents
from service.talents.schemas import (
    EnrolOut,
    EraseOut,
    TalentCreate,
    TalentInvitationIn,
    TalentInvitationOut,
    TalentOut,
)

router = APIRouter(prefix="/v1/talents", tags=["talents"])


@router.post(
    "",
    status_code=201,
    response_model=TalentOut,
    responses=IDEMPOTENT,
    summary="Register a talent (agency keys: in their own agency)",
)
async def create_talent(
    body: TalentCreate, request: Request, ctx: Ctx, principal: CurrentPrincipal
) -> JSONResponse:
    async def handler() -> tuple[int, TalentOut]:
        return 201, await run_in_threadpool(
            talents.create_talent, ctx=ctx, principal=principal, body=body
        )

    return await idempotent(
        request=request,
        ctx=ctx,
        principal=principal,
        request_hash=fingerprint(body.model_dump_json()),
        handler=handler,
    )


@router.get("", response_model=Page[TalentOut])
def list_talents(ctx: Ctx, principal: CurrentPrincipal, page: PageParams) -> Page[TalentOut]:
    return talents.list_talents(ctx=ctx, principal=principal, offset=page.offset, limit=page.limit)


@router.get("/{talent_id}", response_model=TalentOut)
def get_talent(talent_id: ObjectId, ctx: Ctx, principal: CurrentPrincipal) -> TalentOut:
    return talents.get_talent(ctx=ctx, principal=principal, talent_id=talent_id)


@router.post(
    "/{talent_id}/invitations",
    status_code=201,
    response_model=TalentInvitationOut,
    responses=responses(409, 503),
    summary="Invite the talent to her own account (the link is e-mailed to her address)",
)
def invite_talent(
    talent_id: ObjectId,
    body: TalentInvitationIn,
    ctx: Ctx,
    principal: CurrentPrincipal,
    response: Response,
) -> TalentInvitationOut:
    response.headers["Cache-Control"] = "no-store"  # an admin's answer holds a sign-in secret
    return talents.invite_talent(ctx=ctx, principal=principal, talent_id=talent_id, body=body)


@router.post(
    "/{talent_id}/photos",
    response_model=EnrolOut,
    responses=IMAGE_INPUT,
    summary="Upload reference photos; each is accepted or rejected with reasons",
)
async def upload_photos(
    talent_id: ObjectId,
    files: Annotated[list[UploadFile], File()],
    ctx: Ctx,
    principal: CurrentPrincipal,
) -> EnrolOut:
    photos = await photo_inputs(
        files,
        max_files=ctx.settings.max_batch_items,
        max_bytes=ctx.settings.max_upload_bytes,
        unnamed="photo",
    )
    return await talents.enrol_photos(
        ctx=ctx, principal=principal, talent_id=talent_id, photos=photos
    )


@router.delete("/{talent_id}/photos/{reference_id}", status_code=204, response_class=Response)
def remove_photo(
    talent_id: ObjectId, reference_id: ObjectId, ctx: Ctx, principal: CurrentPrincipal
) -> Response:
    talents.remove_reference(
        ctx=ctx, principal=principal, talent_id=talent_id, reference_id=reference_id
    )
    return Response(status_code=204)


@router.delete(
    "/{talent_id}",
    response_model=EraseOut,
    summary="Erase a talent: every row, vector, photo and evidence image",
)
def erase_talent(talent_id: ObjectId, ctx: Ctx, principal: CurrentPrincipal) -> EraseOut:
    return talents.erase_talent(ctx=ctx, principal=principal, talent_id=talent_id)
