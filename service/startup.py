"""Start-up: build the context, then reconcile what a crash may have left behind.

Called by the API's lifespan and by the standalone worker, never by lower layers.
"""

from __future__ import annotations

from indexer.engine import FaceAnalyser
from service.context import AppContext, build_context
from service.core.settings import ServiceSettings
from service.jobs.housekeeping import forget_talent_answers
from service.jobs.queue import reconcile_uploads


def reconcile(ctx: AppContext) -> None:
    """Wire the service's erasure hook (stored idempotent answers naming the talent go in
    the erasure's transaction), then finish or undo what a crash interrupted: evidence files
    without an alert, consent documents without a record, staged uploads no pending job
    item points at. Marks the context ready and starts building the copy detector's
    portfolio index on a thread (from the features kept beside each original), so that the
    first scan does not pay for it; a scan that arrives before it is built waits for it."""
    if forget_talent_answers not in ctx.registry.erase_hooks:
        ctx.registry.erase_hooks.append(forget_talent_answers)
    ctx.evidence.reconcile_with_alerts(ctx.db)
    ctx.consent_documents().reconcile_with_records(ctx.db)
    reconcile_uploads(ctx.db, ctx.blobs, grace_s=ctx.settings.blob_orphan_grace_s)
    ctx.ready = True
    ctx.copies.build_in_background()


def start(settings: ServiceSettings, *, analyser: FaceAnalyser | None = None) -> AppContext:
    ctx = build_context(settings, analyser=analyser)
    reconcile(ctx)
    return ctx
