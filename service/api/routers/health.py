from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.deps import Ctx
from service.core.errors import NotReadyError
from service.jobs.queue import queue_depth

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process is up")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: the model pack and the index are loaded")
def ready(ctx: Ctx) -> dict[str, object]:
    if not ctx.ready:
        raise NotReadyError("The model pack or the index is still loading.")
    ctx.index.ensure_current()  # another process (the CLI, a worker) may have changed it
    stats = ctx.index.stats()
    pack = ctx.analyser.pack
    return {
        "status": "ready",
        "model_pack": {"name": pack.name, "version": pack.version},
        "index": {"kind": stats["kind"], "vectors": stats["vectors"]},
        # building from start-up: scans wait for it meanwhile (never skip copy detection)
        "copy_index": {"images": ctx.copies.index.images, "built": ctx.copies.built},
    }


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(ctx: Ctx) -> Response:
    for status, count in queue_depth(ctx.db).items():
        ctx.metrics.job_items.labels(status=status).set(count)
    return Response(ctx.metrics.render(), media_type="text/plain; version=0.0.4")
