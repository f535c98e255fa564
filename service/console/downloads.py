"""Files the console hands out for download that the API also serves: pay statements, and
the months offered for them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from service.licensing.statement_schemas import StatementOut
from service.licensing.statements import StatementFormat, statement_document


def recent_months(now: datetime, count: int = 3) -> list[str]:
    """This month and the ones before it, newest first (YYYY-MM), for statement links."""
    months, day = [], now.astimezone(UTC).replace(day=1)
    for _ in range(count):
        months.append(day.strftime("%Y-%m"))
        day = (day - timedelta(days=1)).replace(day=1)
    return months


async def statement_download(
    statement: StatementOut, *, form: StatementFormat, talent_id: int | None
) -> Response:
    """The statement as an attachment (the PDF is drawn in a thread; 503 without Pango)."""
    document = await run_in_threadpool(
        statement_document, statement, form=form, talent_id=talent_id
    )
    return Response(
        document.content,
        media_type=document.media_type,
        headers={"Content-Disposition": f'attachment; filename="{document.file_name}"'},
    )
