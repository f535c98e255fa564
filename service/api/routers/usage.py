from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from service.api.deps import Ctx, CurrentPrincipal
from service.licensing.usage import usage_csv, usage_report
from service.schemas import UsageOut

router = APIRouter(prefix="/v1/usage", tags=["usage"])


@router.get("", response_model=UsageOut,
            summary="Licensed uses per talent, licence and period, with the amount owed")
def get_usage(ctx: Ctx, principal: CurrentPrincipal, talent_id: int | None = None,
              licence_id: int | None = None,
              period_from: Annotated[datetime | None, Query(alias="from")] = None,
              period_to: Annotated[datetime | None, Query(alias="to")] = None,
              format: Literal["json", "csv"] = "json") -> Response:
    with ctx.db.session() as session:
        report = usage_report(session, principal=principal, talent_id=talent_id,
                              licence_id=licence_id, period_from=period_from,
                              period_to=period_to)
    if format == "csv":
        return Response(usage_csv(report), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="usage.csv"'})
    return JSONResponse(report.model_dump(mode="json"))
