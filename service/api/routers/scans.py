from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from service.access.keys import Principal, Role
from service.access.scoping import scan_in_scope, scoped_submissions
from service.api.deps import Ctx, CurrentPrincipal, ObjectId, PageParams
from service.api.docs import IMAGE_INPUT
from service.api.forms import ContextForm, ImageUrl, SightingContext, image_source
from service.api.idempotency import fingerprint, idempotent
from service.api.views import scan_out
from service.context import AppContext
from service.licensing.verdicts import Viewer
from service.models import Scan
from service.scanning.scan import run_scan
from service.scanning.types import ImageSource
from service.schemas import Page, ScanKind, ScanOut

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
    principal: CurrentPrincipal,
    form: SightingContext,
    file: Annotated[UploadFile | None, File()] = None,
    url: ImageUrl = None,
) -> JSONResponse:
    principal.require(Role.MONITOR)
    source = await image_source(file, url, max_bytes=ctx.settings.max_upload_bytes)
    return await submit_one(
        request=request, ctx=ctx, principal=principal, kind=ScanKind.SCAN, source=source, form=form
    )


async def submit_one(
    *,
    request: Request,
    ctx: AppContext,
    principal: Principal,
    kind: ScanKind,
    source: ImageSource,
    form: ContextForm,
) -> JSONResponse:
    """Scan one image now (honouring Idempotency-Key) and answer with the recorded scan."""

    async def handler() -> tuple[int, ScanOut]:
        scan_id = await run_scan(
            pipeline=ctx.pipeline(),
            principal=principal,
            kind=kind,
            source=source,
            context=form.context,
        )
        return 201, await run_in_threadpool(read_scan, ctx, principal, scan_id, kind)

    return await idempotent(
        request=request,
        ctx=ctx,
        principal=principal,
        handler=handler,
        request_hash=fingerprint(source.data, source.url, form.fingerprint),
    )


def read_scan(ctx: AppContext, principal: Principal, scan_id: int, kind: ScanKind) -> ScanOut:
    with ctx.db.session() as session:
        return scan_out(
            session,
            scan_in_scope(session, principal=principal, scan_id=scan_id, kind=kind),
            Viewer.of(principal),
        )


def list_scans(
    ctx: AppContext, principal: Principal, kind: ScanKind, offset: int, limit: int
) -> Page[ScanOut]:
    query = scoped_submissions(select(Scan).where(Scan.kind == kind), Scan, principal)
    with ctx.db.session() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(Scan.id.desc()).offset(offset).limit(limit))
        viewer = Viewer.of(principal)
        return Page[ScanOut](
            items=[scan_out(session, scan, viewer) for scan in rows],
            total=total,
            offset=offset,
            limit=limit,
        )


@router.get("", response_model=Page[ScanOut], summary="This key's tenant's scans, newest first")
def get_scans(ctx: Ctx, principal: CurrentPrincipal, page: PageParams) -> Page[ScanOut]:
    principal.require(Role.MONITOR)
    return list_scans(ctx, principal, ScanKind.SCAN, page.offset, page.limit)


@router.get("/{scan_id}", response_model=ScanOut)
def get_scan(scan_id: ObjectId, ctx: Ctx, principal: CurrentPrincipal) -> ScanOut:
    principal.require(Role.MONITOR)
    return read_scan(ctx, principal, scan_id, ScanKind.SCAN)
