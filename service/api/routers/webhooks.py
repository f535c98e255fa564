from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from service.alerts import webhooks
from service.alerts.schemas import DeliveryOut, WebhookCreate, WebhookOut
from service.api.deps import Ctx, CurrentPrincipal, ObjectId, PageParams
from service.api.docs import responses
from service.api.idempotency import idempotent
from service.core.hashing import fingerprint

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post(
    "",
    status_code=201,
    response_model=WebhookOut,
    responses=responses(409, 502),
    summary="Register a URL for signed alert deliveries (secret shown once)",
)
async def create_webhook(
    body: WebhookCreate, request: Request, ctx: Ctx, principal: CurrentPrincipal
) -> JSONResponse:
    async def handler() -> tuple[int, WebhookOut]:
        return 201, await webhooks.create_webhook(
            db=ctx.db, principal=principal, body=body, settings=ctx.settings
        )

    return await idempotent(
        request=request,
        ctx=ctx,
        principal=principal,
        handler=handler,
        request_hash=fingerprint(body.model_dump_json()),
    )


@router.get("", response_model=list[WebhookOut])
def list_webhooks(ctx: Ctx, principal: CurrentPrincipal) -> list[WebhookOut]:
    with ctx.db.session() as session:
        return webhooks.list_webhooks(session, principal=principal)


@router.delete("/{webhook_id}", status_code=204, response_class=Response)
def delete_webhook(webhook_id: ObjectId, ctx: Ctx, principal: CurrentPrincipal) -> Response:
    with ctx.db.session() as session:
        webhooks.deactivate_webhook(session, principal=principal, webhook_id=webhook_id)
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=list[DeliveryOut],
    summary="Deliveries and every attempt (status code, error, duration)",
)
def list_deliveries(
    webhook_id: ObjectId, ctx: Ctx, principal: CurrentPrincipal, page: PageParams
) -> list[DeliveryOut]:
    with ctx.db.session() as session:
        return webhooks.list_deliveries(
            session,
            principal=principal,
            webhook_id=webhook_id,
            offset=page.offset,
            limit=page.limit,
        )
