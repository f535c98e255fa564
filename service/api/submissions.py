"""Submissions over HTTP: one scan or one batch job, each honouring ``Idempotency-Key``.

The use cases live with their capability (:mod:`service.scanning.submissions`,
:mod:`service.jobs.submissions`); this wraps them in the API's idempotency store, so the
routers that submit (scans, pre-checks, batch, WARC and page jobs) share one path.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from service.api.forms import ContextForm
from service.api.idempotency import idempotent
from service.context import AppContext
from service.core.hashing import fingerprint
from service.core.principal import Principal
from service.jobs.schemas import JobOut
from service.jobs.submissions import StagedBatch, create_batch_job, discard_unowned
from service.rules.vocabulary import ScanKind
from service.scanning.schemas import ScanOut
from service.scanning.submissions import scan_now
from service.scanning.types import ImageSource


async def submit_one(
    *,
    request: Request,
    ctx: AppContext,
    principal: Principal,
    kind: ScanKind,
    source: ImageSource,
    form: ContextForm,
) -> JSONResponse:
    """Scan one image now (once per Idempotency-Key) and answer with the recorded scan."""

    async def handler() -> tuple[int, ScanOut]:
        scan = await scan_now(
            pipeline=ctx.pipeline(),
            principal=principal,
            kind=kind,
            source=source,
            context=form.context,
        )
        return 201, scan

    return await idempotent(
        request=request,
        ctx=ctx,
        principal=principal,
        handler=handler,
        request_hash=fingerprint(source.data, source.url, form.fingerprint),
    )


async def submit_batch(
    *,
    request: Request,
    ctx: AppContext,
    principal: Principal,
    kind: ScanKind,
    staged: StagedBatch,
    form: ContextForm,
    max_items: int,
) -> JSONResponse:
    """Create the job (once per Idempotency-Key) and answer 202 with it; staged files are
    removed unless a job now owns them."""
    created: list[int] = []

    async def handler() -> tuple[int, JobOut]:
        job = await create_batch_job(
            ctx, principal, kind, staged, form.context, max_items=max_items, created=created
        )
        return 202, job

    callback = staged.callback
    try:
        return await idempotent(
            request=request,
            ctx=ctx,
            principal=principal,
            handler=handler,
            request_hash=fingerprint(
                staged.request_hash,
                form.fingerprint,
                callback.url if callback else None,
                callback.secret if callback else None,
            ),
        )
    finally:
        await discard_unowned(ctx, staged, created)
