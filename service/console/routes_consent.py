"""The agency's consent pages: licences awaiting the talent's signature, a licence's
consent (terms, records, uploading an offline signed document, an admin's verification of
one) and the consent certificate. The offline documents and certificates are served to the
agency and to the talent. Each action calls the same service function as the API route it
mirrors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from service.access.sessions import SignedIn
from service.api.deps import Ctx, ObjectId
from service.console.deps import ConsoleRoute, FormUser, User, agency_of
from service.console.links import PREFIX
from service.console.once import OnceToken, once
from service.console.rendering import page
from service.context import AppContext
from service.core.pdf import render_pdf
from service.core.schemas import NAME_MAX, SHA256_HEX, UPLOAD_NAME_MAX
from service.licensing import consent, consent_certificate, talent_view
from service.licensing.licences import licence_out
from service.scanning.uploads import read_upload

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


@router.get("/consent")
def awaiting(ctx: Ctx, user: User) -> HTMLResponse:
    with ctx.db.session() as session:
        rows = [
            (licence_out(licence), name)
            for licence, name in consent.awaiting_signature(session, principal=agency_of(user))
        ]
        withdrawals = [
            (event.at, licence.id, licence.licensee, name)
            for event, licence, name in consent.recent_withdrawals(
                session, principal=agency_of(user)
            )
        ]
    return page("consent_awaiting.html", user=user, rows=rows, withdrawals=withdrawals)


NOTICES = {
    "verified": "You verified the document: the licence is in force from now, for these terms.",
}


@router.get("/licences/{licence_id}/consent")
def licence_consent(
    licence_id: ObjectId, ctx: Ctx, user: User, notice: str | None = None
) -> HTMLResponse:
    return _licence_page(ctx, user, licence_id, notice=NOTICES.get(notice or ""))


def _licence_page(
    ctx: AppContext, user: SignedIn, licence_id: int, *, notice: str | None = None
) -> HTMLResponse:
    principal = agency_of(user)
    with ctx.db.session() as session:
        licence = consent.licence_for_consent(session, principal=principal, licence_id=licence_id)
        detail = talent_view.consent_detail(licence)
        terms = licence_out(licence)
        talent = consent.registered_name(session, licence)
    return page(
        "consent_licence.html",
        user=user,
        licence=terms,
        consent=detail,
        notice=notice,
        talent_name=talent,
        max_mib=consent.MAX_DOCUMENT_BYTES // (1024 * 1024),
    )


@router.post("/licences/{licence_id}/consent/records/{record_id}/verify")
def verify_document(
    licence_id: ObjectId,
    record_id: ObjectId,
    ctx: Ctx,
    user: FormUser,
    terms_sha256: Annotated[str, Form(pattern=SHA256_HEX)] = "0" * 64,
    document_sha256: Annotated[str, Form(pattern=SHA256_HEX)] = "0" * 64,
) -> RedirectResponse:
    """An admin verifies an uploaded document against the original (the API's rule)."""
    with ctx.db.session() as session:
        consent.verify_document(
            session,
            principal=user.principal,
            licence_id=licence_id,
            record_id=record_id,
            presented_terms_sha256=terms_sha256,
            presented_document_sha256=document_sha256,
        )
    return RedirectResponse(
        f"{PREFIX}/licences/{licence_id}/consent?notice=verified", status_code=303
    )


def _certificate(ctx: AppContext, user: SignedIn, licence_id: int) -> tuple[str, str]:
    with ctx.db.session() as session:
        cert = consent_certificate.certificate(
            session, principal=user.principal, licence_id=licence_id
        )
    return consent_certificate.render_html(cert), cert.file_name


@router.get("/licences/{licence_id}/consent/certificate.html")
def certificate_html(licence_id: ObjectId, ctx: Ctx, user: User) -> Response:
    """The consent certificate, for the agency, the talent it names and admins."""
    html, name = _certificate(ctx, user, licence_id)
    return HTMLResponse(
        html,
        headers={
            "Content-Disposition": f'attachment; filename="{name}.html"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/licences/{licence_id}/consent/certificate.pdf")
async def certificate_pdf(licence_id: ObjectId, ctx: Ctx, user: User) -> Response:
    html, name = await run_in_threadpool(_certificate, ctx, user, licence_id)
    pdf = await run_in_threadpool(render_pdf, html)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@router.post("/licences/{licence_id}/consent/documents")
async def upload_document(
    licence_id: ObjectId,
    ctx: Ctx,
    user: FormUser,
    file: Annotated[UploadFile, File()],
    signer_name: Annotated[str, Form(max_length=NAME_MAX)] = "",
    once_token: OnceToken = "",
) -> Response:
    """Keep the signed document (once per form; sent again, it leads to the consent page)."""

    async def handler() -> tuple[str | None, Response]:
        data = await read_upload(file, max_bytes=consent.MAX_DOCUMENT_BYTES)
        name = (file.filename or "")[:UPLOAD_NAME_MAX] or None

        def record() -> None:
            with ctx.db.session() as session:
                consent.record_document(
                    session,
                    principal=agency_of(user),
                    store=ctx.consent_documents(),
                    licence_id=licence_id,
                    signer_name=signer_name,
                    file_name=name,
                    data=data,
                )

        await run_in_threadpool(record)
        location = f"{PREFIX}/licences/{licence_id}/consent"
        return location, RedirectResponse(location, status_code=303)

    return await once(
        ctx=ctx,
        user=user,
        token=once_token,
        path=f"/licences/{licence_id}/consent/documents",
        handler=handler,
    )


@router.get("/licences/{licence_id}/consent/records/{record_id}/document")
def document(licence_id: ObjectId, record_id: ObjectId, ctx: Ctx, user: User) -> Response:
    """The kept document, for the agency and for the talent it names."""
    with ctx.db.session() as session:
        record = consent.consent_record(
            session, principal=user.principal, licence_id=licence_id, record_id=record_id
        )
        data, media_type = ctx.consent_documents().read_document(record)
    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": "attachment", "Cache-Control": "private, no-store"},
    )
