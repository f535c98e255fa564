from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from service.api.deps import Ctx, CurrentPrincipal, IdFilter
from service.licensing.usage import usage_csv, usage_report
from service.schemas import UsageOut, UtcTimestamp

router = APIRouter(prefix="/v1/usage", tags=["usage"])


@router.get("", response_model=UsageOut,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "JSON, or CSV with `format=csv`."}},
            summary="Licensed uses per talent, licence and period, with the amount owed")
def get_usage(ctx: Ctx, principal: CurrentPrincipal, talent_id: IdFilter = None,
              licence_id: IdFilter = None,
              period_from: Annotated[UtcTimestamp | None, Query(alias="from")] = None,
              period_to: Annotated[UtcTimestamp | None, Query(alias="to")] = None,
              format: Literal["json", "csv"] = "json") -> Response:
    with ctx.db.session() as session:
        report = usage_report(session, principal=principal, talent_id=talent_id,
                              licence_id=licence_id, period_from=period_from,
                              period_to=period_to)
    if format == "csv":
        return Response(usage_csv(report), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="usage.csv"'})
    return JSONResponse(report.model_dump(mode="json"))
