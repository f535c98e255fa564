from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from service.api.deps import AgencyPrincipal, Ctx, CurrentPrincipal, IdFilter
from service.api.docs import responses
from service.api.forms import DATE_MAX
from service.context import AppContext
from service.core.principal import Principal
from service.core.schemas import NO_NUL
from service.licensing import statements
from service.licensing.schemas import UsageOut
from service.licensing.statement_schemas import StatementOut
from service.licensing.statements import StatementFormat
from service.licensing.usage import usage_csv, usage_report
from service.rules.dates import end_or_error, start_or_error

router = APIRouter(tags=["usage"])

Month = Annotated[
    str | None,
    Query(
        max_length=DATE_MAX,
        pattern=NO_NUL,
        description=f"A calendar month (UTC), YYYY-MM, from {statements.FIRST_MONTH} to the "
        "current month (the default: what is owed so far).",
        examples=["2026-11"],
    ),
]
STATEMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        },
        "description": "JSON, or a CSV or PDF file with `format=csv|pdf`.",
    },
    **responses(503),
}


@router.get(
    "/v1/usage",
    response_model=UsageOut,
    summary="Licensed uses and flat fees per talent, licence and period, with the amount owed",
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "JSON, or CSV with `format=csv`.",
        }
    },
)
def get_usage(
    ctx: Ctx,
    principal: CurrentPrincipal,
    talent_id: IdFilter = None,
    licence_id: IdFilter = None,
    period_from: Annotated[
        str | None,
        Query(
            alias="from",
            max_length=DATE_MAX,
            pattern=NO_NUL,
            description="First day (a date: its start, UTC) or date-time, inclusive.",
        ),
    ] = None,
    period_to: Annotated[
        str | None,
        Query(
            alias="to",
            max_length=DATE_MAX,
            pattern=NO_NUL,
            description="Last day (a date: to its end, UTC) or date-time, exclusive.",
        ),
    ] = None,
    format: Literal["json", "csv"] = "json",
) -> Response:
    start = start_or_error(period_from, field="from")
    end = end_or_error(period_to, field="to", inclusive=False)
    with ctx.db.session() as session:
        report = usage_report(
            session,
            principal=principal,
            talent_id=talent_id,
            licence_id=licence_id,
            period_from=start,
            period_to=end,
        )
    if format == "csv":
        return Response(
            usage_csv(report),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="usage.csv"'},
        )
    return JSONResponse(report.model_dump(mode="json"))


@router.get(
    "/v1/usage/statements",
    response_model=StatementOut,
    responses=STATEMENT_RESPONSES,
    summary="The agency's monthly pay statement per licence and currency (JSON, CSV, PDF)",
)
async def agency_statement(
    ctx: Ctx,
    principal: AgencyPrincipal,
    month: Month = None,
    talent_id: IdFilter = None,
    format: StatementFormat = StatementFormat.JSON,
) -> Response:
    statement = await run_in_threadpool(_agency_statement, ctx, principal, month, talent_id)
    return await _document(statement, format, talent_id)


@router.get(
    "/v1/me/statements",
    response_model=StatementOut,
    responses=STATEMENT_RESPONSES,
    summary="The talent's own monthly pay statement per licence and currency (JSON, CSV, PDF)",
)
async def own_statement(
    ctx: Ctx,
    principal: CurrentPrincipal,
    month: Month = None,
    format: StatementFormat = StatementFormat.JSON,
) -> Response:
    statement = await run_in_threadpool(_own_statement, ctx, principal, month)
    return await _document(statement, format, None)


def _agency_statement(
    ctx: AppContext, principal: Principal, month: str | None, talent_id: int | None
) -> StatementOut:
    with ctx.db.session() as session:
        return statements.agency_statement(
            session, principal=principal, month=month, talent_id=talent_id
        )


def _own_statement(ctx: AppContext, principal: Principal, month: str | None) -> StatementOut:
    with ctx.db.session() as session:
        return statements.own_statement(session, principal=principal, month=month)


async def _document(
    statement: StatementOut, form: StatementFormat, talent_id: int | None
) -> Response:
    document = await run_in_threadpool(
        statements.statement_document, statement, form=form, talent_id=talent_id
    )
    headers = {}
    if form is not StatementFormat.JSON:
        headers["Content-Disposition"] = f'attachment; filename="{document.file_name}"'
    return Response(document.content, media_type=document.media_type, headers=headers)
