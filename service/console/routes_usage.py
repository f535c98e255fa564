"""The agency's usage page: what is owed for its talents' licensed uses and flat fees, per
licence and per currency, and the monthly statements (CSV, PDF) of ``/v1/usage/statements``,
from the same service functions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from indexer.db import utcnow
from service.access.scoping import talent_in_scope
from service.api.deps import Ctx, IdFilter
from service.api.forms import DATE_MAX
from service.console.deps import ConsoleRoute, User, agency_of
from service.console.downloads import recent_months, statement_download
from service.console.links import PREFIX
from service.console.rendering import page
from service.context import AppContext
from service.core.principal import Principal
from service.licensing import statements
from service.licensing.statement_schemas import StatementOut
from service.licensing.statements import StatementFormat
from service.licensing.usage import usage_report
from service.talents import talents

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
ROSTER_SIZE = 200


@router.get("/usage")
def usage_page(ctx: Ctx, user: User, talent_id: IdFilter = None) -> HTMLResponse:
    principal = agency_of(user)
    roster = talents.list_talents(ctx=ctx, principal=principal, offset=0, limit=ROSTER_SIZE)
    with ctx.db.session() as session:
        if talent_id is not None:
            talent_in_scope(session, principal=principal, talent_id=talent_id)
        report = usage_report(
            session,
            principal=principal,
            talent_id=talent_id,
            licence_id=None,
            period_from=None,
            period_to=None,
        )
    return page(
        "usage.html",
        user=user,
        report=report,
        roster=roster.items,
        talent_id=talent_id,
        months=recent_months(utcnow()),
    )


@router.get("/usage/statements")
async def statement_file(
    ctx: Ctx,
    user: User,
    month: Annotated[str, Query(max_length=DATE_MAX)] = "",
    talent_id: IdFilter = None,
    format: StatementFormat = StatementFormat.PDF,
) -> Response:
    principal = agency_of(user)
    statement = await run_in_threadpool(_statement, ctx, principal, month, talent_id)
    return await statement_download(statement, form=format, talent_id=talent_id)


def _statement(
    ctx: AppContext, principal: Principal, month: str, talent_id: int | None
) -> StatementOut:
    with ctx.db.session() as session:
        return statements.agency_statement(
            session, principal=principal, month=month, talent_id=talent_id
        )
