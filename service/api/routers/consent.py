"""The talent's own view (``/v1/me``) and consent: signing, withdrawing, the agency's
offline signed documents, licences awaiting a signature. Talents are invited to their
account by their agency in the console, or with `twinwatch users create --role talent`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from service.alerts import sightings as own_sightings
from service.alerts.schemas import OwnSightingOut
from service.api.deps import Ctx, CurrentPrincipal, ObjectId, PageParams, RequireRole
from service.api.docs import responses
from service.context import AppContext
from service.core.pdf import render_pdf
from service.core.principal import Principal, Role
from service.core.schemas import NAME_MAX, NO_NUL, UPLOAD_NAME_MAX, Page
from service.licensing import consent, consent_certificate, talent_view
from service.licensing.consent_schemas import (
    AwaitingConsentOut,
    ConsentConfirmIn,
    ConsentEventOut,
    ConsentRecordOut,
    ConsentSignIn,
    LicenceConsentDetailOut,
    RequiresConsentIn,
    TalentSelfOut,
)
from service.licensing.licences import licence_out
from service.licensing.schemas import LicenceOut
from service.scanning.uploads import read_upload

router = APIRouter(tags=["talent and consent"])
TalentPrincipal = Annotated[Principal, RequireRole(Role.TALENT)]
AdminPrincipal = Annotated[Principal, RequireRole(Role.ADMIN)]
#: The talent a licence names, the agency that represents her, admins.
ConsentReader = Annotated[Principal, RequireRole(Role.AGENCY, Role.TALENT)]


@router.get("/v1/me", response_model=TalentSelfOut, summary="The talent a talent key acts for")
def whoami(ctx: Ctx, principal: CurrentPrincipal) -> TalentSelfOut:
    with ctx.db.session() as session:
        return talent_view.me(session, principal=principal)


@router.get(
    "/v1/me/sightings",
    response_model=Page[OwnSightingOut],
    summary="Every sighting of the talent's likeness, licensed and not, with its status",
)
def my_sightings(ctx: Ctx, principal: CurrentPrincipal, page: PageParams) -> Page[OwnSightingOut]:
    with ctx.db.session() as session:
        found = talent_view.sightings(
            session, principal=principal, offset=page.offset, limit=page.limit
        )
        return own_sightings.with_states(session, principal=principal, found=found)


@router.get(
    "/v1/me/licences",
    response_model=list[LicenceOut],
    summary="Every licence that names the talent, with full terms and consent",
)
def my_licences(ctx: Ctx, principal: CurrentPrincipal) -> list[LicenceOut]:
    with ctx.db.session() as session:
        return talent_view.licences(session, principal=principal)


@router.get(
    "/v1/licences/{licence_id}/consent",
    response_model=LicenceConsentDetailOut,
    summary="The canonical terms to sign, their sha256, and every consent record",
)
def get_consent(
    licence_id: ObjectId, ctx: Ctx, principal: CurrentPrincipal
) -> LicenceConsentDetailOut:
    with ctx.db.session() as session:
        return talent_view.licence_consent(session, principal=principal, licence_id=licence_id)


@router.post(
    "/v1/licences/{licence_id}/consent",
    status_code=201,
    response_model=ConsentRecordOut,
    responses=responses(409),
    summary="The talent signs the terms they read (name typed as signature)",
)
def sign_consent(
    licence_id: ObjectId, body: ConsentSignIn, ctx: Ctx, principal: CurrentPrincipal
) -> ConsentRecordOut:
    with ctx.db.session() as session:
        record = consent.sign(
            session,
            principal=principal,
            licence_id=licence_id,
            signature_name=body.signature_name,
            presented_sha256=body.terms_sha256,
        )
        return talent_view.record_out(record, record.terms_sha256)


@router.post(
    "/v1/licences/{licence_id}/consent/withdraw",
    response_model=LicenceConsentDetailOut,
    responses=responses(409),
    summary="The talent withdraws consent for future uses",
)
def withdraw_consent(
    licence_id: ObjectId, ctx: Ctx, principal: CurrentPrincipal
) -> LicenceConsentDetailOut:
    with ctx.db.session() as session:
        consent.withdraw(session, principal=principal, licence_id=licence_id)
        return talent_view.licence_consent(session, principal=principal, licence_id=licence_id)


@router.post(
    "/v1/licences/{licence_id}/consent/documents",
    status_code=201,
    response_model=ConsentRecordOut,
    responses=responses(409, 415),
    summary="Record consent from an offline signed document (PDF, PNG or JPEG)",
)
async def upload_consent_document(
    licence_id: ObjectId,
    ctx: Ctx,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File()],
    signer_name: Annotated[str, Form(min_length=1, max_length=NAME_MAX, pattern=NO_NUL)],
) -> ConsentRecordOut:
    data = await read_upload(file, max_bytes=consent.MAX_DOCUMENT_BYTES)
    name = (file.filename or "")[:UPLOAD_NAME_MAX] or None
    with ctx.db.session() as session:
        record = consent.record_document(
            session,
            principal=principal,
            store=ctx.consent_documents(),
            licence_id=licence_id,
            signer_name=signer_name,
            file_name=name,
            data=data,
        )
        return talent_view.record_out(record, record.terms_sha256)


@router.get(
    "/v1/licences/{licence_id}/consent/records/{record_id}/document",
    response_class=Response,
    summary="The offline signed document, as uploaded",
)
def consent_document(
    licence_id: ObjectId, record_id: ObjectId, ctx: Ctx, principal: CurrentPrincipal
) -> Response:
    with ctx.db.session() as session:
        record = consent.consent_record(
            session, principal=principal, licence_id=licence_id, record_id=record_id
        )
        data, media_type = ctx.consent_documents().read_document(record)
    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": "attachment", "X-Content-Type-Options": "nosniff"},
    )


@router.get(
    "/v1/consent/awaiting",
    response_model=list[AwaitingConsentOut],
    summary="The agency's licences waiting for the talent's signature",
)
def awaiting(ctx: Ctx, principal: CurrentPrincipal) -> list[AwaitingConsentOut]:
    with ctx.db.session() as session:
        return [
            AwaitingConsentOut(
                talent_id=licence.talent_id, talent=name, licence=licence_out(licence)
            )
            for licence, name in consent.awaiting_signature(session, principal=principal)
        ]


@router.put(
    "/v1/licences/{licence_id}/talent-consent",
    response_model=LicenceOut,
    summary="Whether this licence needs the talent's own consent (AI replicas always)",
)
def set_requires_consent(
    licence_id: ObjectId, body: RequiresConsentIn, ctx: Ctx, principal: CurrentPrincipal
) -> LicenceOut:
    with ctx.db.session() as session:
        return licence_out(
            consent.set_required(
                session,
                principal=principal,
                licence_id=licence_id,
                required=body.requires_talent_consent,
            )
        )


@router.post(
    "/v1/licences/{licence_id}/consent/records/{record_id}/confirm",
    response_model=ConsentRecordOut,
    responses=responses(409),
    summary="The talent confirms a document the agency uploaded in her name (then it counts)",
)
def confirm_document(
    licence_id: ObjectId,
    record_id: ObjectId,
    body: ConsentConfirmIn,
    ctx: Ctx,
    principal: TalentPrincipal,
) -> ConsentRecordOut:
    with ctx.db.session() as session:
        record = consent.confirm_document(
            session,
            principal=principal,
            licence_id=licence_id,
            record_id=record_id,
            presented_terms_sha256=body.terms_sha256,
            presented_document_sha256=body.document_sha256,
        )
        return talent_view.record_out(record, record.terms_sha256)


@router.post(
    "/v1/licences/{licence_id}/consent/records/{record_id}/verify",
    response_model=ConsentRecordOut,
    responses=responses(409),
    summary="An admin verifies an uploaded document (not after the talent withdrew)",
)
def verify_document(
    licence_id: ObjectId,
    record_id: ObjectId,
    body: ConsentConfirmIn,
    ctx: Ctx,
    principal: AdminPrincipal,
) -> ConsentRecordOut:
    with ctx.db.session() as session:
        record = consent.verify_document(
            session,
            principal=principal,
            licence_id=licence_id,
            record_id=record_id,
            presented_terms_sha256=body.terms_sha256,
            presented_document_sha256=body.document_sha256,
        )
        return talent_view.record_out(record, record.terms_sha256)


@router.get(
    "/v1/licences/{licence_id}/consent/events",
    response_model=list[ConsentEventOut],
    summary="The consent ledger's events of a licence, oldest first",
)
def licence_events(
    licence_id: ObjectId, ctx: Ctx, principal: ConsentReader
) -> list[ConsentEventOut]:
    with ctx.db.session() as session:
        return talent_view.licence_events(session, principal=principal, licence_id=licence_id)


@router.get(
    "/v1/me/consent-events",
    response_model=Page[ConsentEventOut],
    summary="Every consent event of the talent (her ledger chain), newest first",
)
def my_consent_events(
    ctx: Ctx, principal: TalentPrincipal, page: PageParams
) -> Page[ConsentEventOut]:
    with ctx.db.session() as session:
        return talent_view.my_events(
            session, principal=principal, offset=page.offset, limit=page.limit
        )


def certificate_html(ctx: AppContext, principal: Principal, licence_id: int) -> tuple[str, str]:
    with ctx.db.session() as session:
        cert = consent_certificate.certificate(session, principal=principal, licence_id=licence_id)
    return consent_certificate.render_html(cert), cert.file_name


@router.get(
    "/v1/licences/{licence_id}/consent/certificate.html",
    response_class=HTMLResponse,
    summary="The licence's consent certificate (terms, records, ledger, chain head)",
)
def get_certificate_html(licence_id: ObjectId, ctx: Ctx, principal: ConsentReader) -> Response:
    html, name = certificate_html(ctx, principal, licence_id)
    return HTMLResponse(html, headers={"Content-Disposition": f'inline; filename="{name}.html"'})


@router.get(
    "/v1/licences/{licence_id}/consent/certificate.pdf",
    response_class=Response,
    responses=responses(503),
    summary="The licence's consent certificate as PDF (WeasyPrint)",
)
async def get_certificate_pdf(licence_id: ObjectId, ctx: Ctx, principal: ConsentReader) -> Response:
    html, name = await run_in_threadpool(certificate_html, ctx, principal, licence_id)
    pdf = await run_in_threadpool(render_pdf, html)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
    )
