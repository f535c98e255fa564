from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, File, Request, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from service.access.scoping import licence_in_scope
from service.api.deps import AgencyPrincipal, BrandPrincipal, Ctx, ObjectId, PageParams
from service.api.docs import IDEMPOTENT, IMAGE_INPUT, responses
from service.api.idempotency import idempotent
from service.context import AppContext
from service.core.hashing import fingerprint
from service.core.principal import Principal
from service.core.schemas import Page
from service.licensing import licences
from service.licensing.schemas import (
    AssetScopeIn,
    BrandLicenceOut,
    LicenceCreate,
    LicenceOut,
    LicenceRevoke,
    LicenceTermsIn,
)
from service.scanning.uploads import read_upload

router = APIRouter(tags=["licences"])

NewLicence = Annotated[
    LicenceCreate,
    Body(
        openapi_examples={
            "campaign": {
                "summary": "One brand's summer campaign, online in France and Belgium",
                "value": {
                    "licensee": "H&M",
                    "publishers": ["hm.com", "instagram.com/hm"],
                    "channels": ["social", "ecommerce"],
                    "territories": ["FR", "BE"],
                    "media": ["photo"],
                    "ai_label_required": True,
                    "valid_from": "2026-05-01T00:00:00Z",
                    "valid_until": "2026-09-30T23:59:59Z",
                    "compensation": {"flat_fee": "15000.00", "per_use": "2.50", "currency": "EUR"},
                },
            }
        }
    ),
]
Revocation = Annotated[
    LicenceRevoke,
    Body(
        openapi_examples={
            "breach": {
                "summary": "Revoked after a breach of the licence",
                "value": {"reason": "Images used in an AI-generated ad without the label."},
            }
        }
    ),
]


def _create(
    ctx: AppContext, principal: Principal, talent_id: int, body: LicenceCreate
) -> LicenceOut:
    with ctx.db.session() as session:
        licence = licences.create_licence(
            session, principal=principal, talent_id=talent_id, body=body
        )
        return licences.licence_out(licence)


@router.post(
    "/v1/talents/{talent_id}/licences",
    status_code=201,
    response_model=LicenceOut,
    responses=IDEMPOTENT,
    summary="Record a talent's consent for one licensee",
)
async def create_licence(
    talent_id: ObjectId, body: NewLicence, request: Request, ctx: Ctx, principal: AgencyPrincipal
) -> JSONResponse:
    async def handler() -> tuple[int, LicenceOut]:
        return 201, await run_in_threadpool(_create, ctx, principal, talent_id, body)

    return await idempotent(
        request=request,
        ctx=ctx,
        principal=principal,
        request_hash=fingerprint(str(talent_id), body.model_dump_json()),
        handler=handler,
    )


@router.get("/v1/talents/{talent_id}/licences", response_model=list[LicenceOut])
def list_licences(talent_id: ObjectId, ctx: Ctx, principal: AgencyPrincipal) -> list[LicenceOut]:
    with ctx.db.session() as session:
        return [
            licences.licence_out(item)
            for item in licences.list_licences(session, principal=principal, talent_id=talent_id)
        ]


@router.get(
    "/v1/licences/unlinked",
    response_model=Page[LicenceOut],
    summary="This agency's licences to no brand on twinwatch (no pre-check sees them)",
)
def list_unlinked(ctx: Ctx, principal: AgencyPrincipal, page: PageParams) -> Page[LicenceOut]:
    with ctx.db.session() as session:
        return licences.unlinked_page(
            session, principal=principal, offset=page.offset, limit=page.limit
        )


@router.get(
    "/v1/brand/licences",
    response_model=Page[BrandLicenceOut],
    summary="The licences to this brand (its own only), newest first",
)
def list_brand_licences(
    ctx: Ctx, principal: BrandPrincipal, page: PageParams
) -> Page[BrandLicenceOut]:
    with ctx.db.session() as session:
        return licences.brand_licences_page(
            session, principal=principal, offset=page.offset, limit=page.limit
        )


@router.get("/v1/licences/{licence_id}", response_model=LicenceOut)
def get_licence(licence_id: ObjectId, ctx: Ctx, principal: AgencyPrincipal) -> LicenceOut:
    with ctx.db.session() as session:
        return licences.licence_out(
            licence_in_scope(session, principal=principal, licence_id=licence_id)
        )


@router.put(
    "/v1/licences/{licence_id}",
    response_model=LicenceOut,
    responses=responses(409),
    summary="Replace a licence's terms (approved assets stay; 409 licence_revoked once revoked)",
)
def update_licence(
    licence_id: ObjectId, body: LicenceTermsIn, ctx: Ctx, principal: AgencyPrincipal
) -> LicenceOut:
    with ctx.db.session() as session:
        return licences.licence_out(
            licences.update_licence(session, principal=principal, licence_id=licence_id, body=body)
        )


@router.post(
    "/v1/licences/{licence_id}/revoke",
    response_model=LicenceOut,
    summary="Revoke a licence (licences are never deleted)",
)
def revoke_licence(
    licence_id: ObjectId, body: Revocation, ctx: Ctx, principal: AgencyPrincipal
) -> LicenceOut:
    with ctx.db.session() as session:
        return licences.licence_out(
            licences.revoke_licence(
                session,
                principal=principal,
                licence_id=licence_id,
                reason=body.reason,
                revoked_at=body.revoked_at,
            )
        )


@router.post(
    "/v1/licences/{licence_id}/assets",
    response_model=LicenceOut,
    responses=IMAGE_INPUT,
    summary="Approve a specific image under this licence (its fingerprints are kept)",
)
async def add_asset(
    licence_id: ObjectId, file: Annotated[UploadFile, File()], ctx: Ctx, principal: AgencyPrincipal
) -> LicenceOut:
    data = await read_upload(file, max_bytes=ctx.settings.max_upload_bytes)

    def add() -> LicenceOut:
        with ctx.db.session() as session:
            return licences.licence_out(
                licences.add_approved_asset(
                    session,
                    principal=principal,
                    licence_id=licence_id,
                    data=data,
                    max_pixels=ctx.settings.max_image_pixels,
                )
            )

    with ctx.gate.admitted(principal.key_id):
        return await ctx.gate.run(add)


@router.delete(
    "/v1/licences/{licence_id}/assets/{asset_id}",
    response_model=LicenceOut,
    summary="Remove an approved asset (its fingerprints are forgotten)",
)
def remove_asset(
    licence_id: ObjectId, asset_id: ObjectId, ctx: Ctx, principal: AgencyPrincipal
) -> LicenceOut:
    with ctx.db.session() as session:
        return licences.licence_out(
            licences.remove_approved_asset(
                session, principal=principal, licence_id=licence_id, asset_id=asset_id
            )
        )


@router.put(
    "/v1/licences/{licence_id}/asset-scope",
    response_model=LicenceOut,
    summary="Cover any image of the talent, or the approved assets only",
)
def set_asset_scope(
    licence_id: ObjectId, body: AssetScopeIn, ctx: Ctx, principal: AgencyPrincipal
) -> LicenceOut:
    with ctx.db.session() as session:
        return licences.licence_out(
            licences.set_asset_scope(
                session, principal=principal, licence_id=licence_id, scope=body.asset_scope
            )
        )
