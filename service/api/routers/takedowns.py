"""Takedown notices (draft, edit, confirm, HTML/PDF, sent, re-check), the agency's profile
and its e-mail preferences."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from service.alerts import emails
from service.alerts.schemas import EmailMessageOut, EmailPreferencesIn, EmailPreferencesOut
from service.api.deps import AgencyPrincipal, Ctx, CurrentPrincipal, ObjectId, PageParams
from service.api.docs import IDEMPOTENT, responses
from service.api.idempotency import idempotent
from service.context import AppContext
from service.core.hashing import fingerprint
from service.core.pdf import render_pdf
from service.core.principal import Principal
from service.core.schemas import Page
from service.takedowns import notices, profiles, tracking
from service.takedowns.schemas import (
    AgencyProfileIn,
    AgencyProfileOut,
    NoticeCreate,
    NoticeFieldsEdit,
    NoticeOut,
    NoticeSend,
)
from service.takedowns.states import NoticeStatus

router = APIRouter(tags=["takedowns"])
PREFIX = "/v1/takedowns"


@router.put(
    "/v1/takedown-profile",
    response_model=AgencyProfileOut,
    summary="Set who this agency's notices come from (rights holder or agent, contact, signature)",
)
def set_profile(body: AgencyProfileIn, ctx: Ctx, principal: CurrentPrincipal) -> AgencyProfileOut:
    with ctx.db.session() as session:
        return notices.save_profile(session, principal=principal, body=body)


@router.get("/v1/takedown-profile", response_model=AgencyProfileOut)
def get_profile(ctx: Ctx, principal: CurrentPrincipal) -> AgencyProfileOut:
    with ctx.db.session() as session:
        return profiles.get_profile(session, principal=principal)


def _draft(ctx: AppContext, principal: Principal, body: NoticeCreate) -> NoticeOut:
    with ctx.db.session() as session:
        return notices.draft_notice(session, principal=principal, body=body)


@router.post(
    PREFIX,
    response_model=NoticeOut,
    status_code=201,
    responses=IDEMPOTENT,
    summary="Draft a notice (dmca or dsa) from one alert or a group of one talent's "
    "alerts on one publisher",
)
async def draft(
    body: NoticeCreate, request: Request, ctx: Ctx, principal: CurrentPrincipal
) -> JSONResponse:
    async def handler() -> tuple[int, NoticeOut]:
        return 201, await run_in_threadpool(_draft, ctx, principal, body)

    return await idempotent(
        request=request,
        ctx=ctx,
        principal=principal,
        request_hash=fingerprint(body.model_dump_json()),
        handler=handler,
    )


@router.get(
    PREFIX,
    response_model=Page[NoticeOut],
    summary="This agency's notices, newest first; overdue = sent, not removed after "
    "takedown_response_days",
)
def list_notices(
    ctx: Ctx,
    principal: CurrentPrincipal,
    page: PageParams,
    status: NoticeStatus | None = None,
    overdue: bool | None = None,
) -> Page[NoticeOut]:
    with ctx.db.session() as session:
        return notices.list_notices(
            session,
            principal=principal,
            status=status,
            overdue=overdue,
            offset=page.offset,
            limit=page.limit,
            response_days=ctx.settings.takedown_response_days,
        )


@router.get(PREFIX + "/{notice_id}", response_model=NoticeOut)
def get_notice(notice_id: ObjectId, ctx: Ctx, principal: CurrentPrincipal) -> NoticeOut:
    with ctx.db.session() as session:
        return notices.get_notice(
            session,
            principal=principal,
            notice_id=notice_id,
            response_days=ctx.settings.takedown_response_days,
        )


@router.patch(
    PREFIX + "/{notice_id}",
    response_model=NoticeOut,
    responses=responses(409),
    summary="Edit a draft's texts (409 takedown_not_allowed once final)",
)
def edit(
    notice_id: ObjectId, body: NoticeFieldsEdit, ctx: Ctx, principal: CurrentPrincipal
) -> NoticeOut:
    with ctx.db.session() as session:
        return notices.edit_notice(session, principal=principal, notice_id=notice_id, body=body)


@router.post(
    PREFIX + "/{notice_id}/confirm",
    response_model=NoticeOut,
    responses=responses(409),
    summary="Make the draft final and immutable (422 takedown_incomplete lists what is missing)",
)
def confirm(notice_id: ObjectId, ctx: Ctx, principal: CurrentPrincipal) -> NoticeOut:
    with ctx.db.session() as session:
        return notices.confirm_notice(
            session,
            principal=principal,
            notice_id=notice_id,
            store=ctx.evidence,
            max_pixels=ctx.settings.max_image_pixels,
        )


def notice_html(ctx: AppContext, principal: Principal, notice_id: int) -> tuple[str, str]:
    return notices.notice_document(
        ctx.db,
        principal=principal,
        notice_id=notice_id,
        store=ctx.evidence,
        max_pixels=ctx.settings.max_image_pixels,
    )


@router.get(
    PREFIX + "/{notice_id}/notice.html",
    response_class=HTMLResponse,
    summary="The notice with its third-party evidence (a draft says DRAFT)",
)
def get_html(notice_id: ObjectId, ctx: Ctx, principal: CurrentPrincipal) -> HTMLResponse:
    html, _ = notice_html(ctx, principal, notice_id)
    return HTMLResponse(html)


@router.get(
    PREFIX + "/{notice_id}/notice.pdf",
    response_class=Response,
    responses=responses(503),
    summary="The notice as PDF (WeasyPrint)",
)
async def get_pdf(notice_id: ObjectId, ctx: Ctx, principal: CurrentPrincipal) -> Response:
    html, name = await run_in_threadpool(notice_html, ctx, principal, notice_id)
    pdf = await run_in_threadpool(render_pdf, html)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
    )


@router.post(
    PREFIX + "/{notice_id}/sent",
    response_model=NoticeOut,
    responses=responses(409),
    summary="Record that the final notice was sent: when, to whom",
)
def mark_sent(
    notice_id: ObjectId, body: NoticeSend, ctx: Ctx, principal: CurrentPrincipal
) -> NoticeOut:
    with ctx.db.session() as session:
        return tracking.mark_sent(
            session,
            principal=principal,
            notice_id=notice_id,
            body=body,
            response_days=ctx.settings.takedown_response_days,
        )


@router.post(
    PREFIX + "/{notice_id}/recheck",
    response_model=NoticeOut,
    responses=responses(409, 429, 503),
    summary="Fetch and scan every URL again: removed, still up, or reappeared",
)
async def recheck(notice_id: ObjectId, ctx: Ctx, principal: AgencyPrincipal) -> NoticeOut:
    return await tracking.recheck(pipeline=ctx.pipeline(), principal=principal, notice_id=notice_id)


@router.get("/v1/email-preferences", response_model=EmailPreferencesOut, tags=["e-mail"])
def get_email_preferences(ctx: Ctx, principal: CurrentPrincipal) -> EmailPreferencesOut:
    with ctx.db.session() as session:
        return emails.get_preferences(session, principal=principal)


@router.put(
    "/v1/email-preferences",
    response_model=EmailPreferencesOut,
    tags=["e-mail"],
    summary="Who gets which e-mails: new unlicensed matches, the daily digest of "
    "possible ones, removal confirmed / reappeared",
)
def set_email_preferences(
    body: EmailPreferencesIn, ctx: Ctx, principal: CurrentPrincipal
) -> EmailPreferencesOut:
    with ctx.db.session() as session:
        return emails.set_preferences(session, principal=principal, body=body)


@router.get(
    "/v1/emails",
    response_model=list[EmailMessageOut],
    tags=["e-mail"],
    summary="This agency's e-mail outbox, newest first, with every attempt",
)
def list_emails(ctx: Ctx, principal: CurrentPrincipal, page: PageParams) -> list[EmailMessageOut]:
    with ctx.db.session() as session:
        return emails.list_messages(
            session, principal=principal, offset=page.offset, limit=page.limit
        )
