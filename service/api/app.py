"""The FastAPI application: one error handler, limits, routers, background workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.api.access_log import AccessLog
from service.api.docs import ERROR_RESPONSES, install_docs
from service.api.errors import install_error_handlers
from service.api.limits import BodySizeLimit
from service.api.routers import (
    alerts,
    consent,
    crawl,
    health,
    jobs,
    licences,
    portfolio,
    prechecks,
    scans,
    talents,
    usage,
    watches,
)
from service.api.routers import takedowns as takedown_routes
from service.api.routers import webhooks as webhook_routes
from service.console.mount import CONSOLE_UPLOADS, install_console
from service.context import AppContext, build_context
from service.core.logs import install_recent_errors
from service.core.settings import ServiceSettings
from service.crawl.runner import WatchRunner
from service.jobs.worker import BackgroundWorkers
from service.startup import reconcile

DESCRIPTION = """\
twinwatch finds registered talents' faces in images and checks every match against the
talent's licences. Authenticate with `Authorization: Bearer <key>` (keys come from
`twinwatch keys create`). Every scan answer names the model pack that produced it.
Every error is `{"error": {"code", "message", "details"?}}` with a stable `code`.
"""


def create_app(
    settings: ServiceSettings | None = None, *, context: AppContext | None = None
) -> FastAPI:
    """The app; pass ``context`` to reuse one (tests), else it is built at start-up."""
    settings = settings or (context.settings if context else ServiceSettings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = context if context is not None else await asyncio.to_thread(build_context, settings)
        await asyncio.to_thread(reconcile, ctx)
        app.state.context = ctx
        workers = BackgroundWorkers(ctx, more={"watches": WatchRunner(ctx).run_once})
        if settings.run_worker_in_process:
            workers.start()
        try:
            yield
        finally:
            await workers.stop()
            if context is None:
                ctx.close()

    install_recent_errors()  # the admin's status page lists this process's recent errors
    app = FastAPI(
        title="twinwatch",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    install_docs(app)
    batch_bytes = settings.max_batch_bytes + 64 * 1024
    # One scanned file: a video may be larger than an image (service.scanning.uploads)
    scan_bytes = max(settings.max_upload_bytes, settings.video_max_bytes) + 64 * 1024
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_upload_bytes + 64 * 1024,
        larger_for={
            "/v1/scans": scan_bytes,
            "/v1/prechecks": scan_bytes,
            "/v1/scan-jobs": batch_bytes,
            "/v1/precheck-jobs": batch_bytes,
            "/v1/warc-jobs": settings.max_warc_bytes + 64 * 1024,
            **dict.fromkeys(CONSOLE_UPLOADS, batch_bytes),
        },
    )
    app.add_middleware(AccessLog)  # outermost: a 413 or a 500 gets an id and a log line too
    app.include_router(health.router)
    for router in (
        talents.router,
        portfolio.router,
        licences.router,
        scans.router,
        jobs.router,
        crawl.router,
        prechecks.router,
        alerts.router,
        webhook_routes.router,
        usage.router,
        takedown_routes.router,
        consent.router,
        watches.router,
    ):
        app.include_router(router, responses=ERROR_RESPONSES)
    install_console(app)  # the web console for people (service/console/)
    return app
