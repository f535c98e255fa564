from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from service.api.deps import Ctx, CurrentPrincipal, IdFilter
from service.api.forms import DATE_MAX
from service.core.schemas import NO_NUL
from service.licensing.schemas import UsageOut
from service.licensing.usage import usage_csv, usage_report
from service.rules.dates import end_or_error, start_or_error

router = APIRouter(prefix="/v1/usage", tags=["usage"])


@router.get(
    "",
    response_model=UsageOut,
    summary="Licensed uses per talent, licence and period, with the amount owed",
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
