"""`Idempotency-Key` for create endpoints: a retried request replays the first answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from indexer.errors import TwinwatchError
from service.access.keys import Principal
from service.context import AppContext
from service.errors import IdempotencyConflictError, OverloadedError
from service.models import IdempotencyRecord

Handler = Callable[[], Awaitable[tuple[int, BaseModel]]]
IN_PROGRESS_RETRY_S = 2


def fingerprint(*parts: bytes | str | None) -> str:
    """A hash of everything that makes up a request (fields and uploaded bytes)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else (part or b"")
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


async def idempotent(*, request: Request, ctx: AppContext, principal: Principal,
                     request_hash: str, handler: Handler) -> JSONResponse:
    key = request.headers.get("idempotency-key")
    key_id = principal.key_id  # records belong to an API key; console users send no header
    if not key or key_id is None:
        status, body = await handler()
        return JSONResponse(jsonable_encoder(body), status_code=status)
    request_hash = fingerprint(request.method, request.url.path, request_hash)
    replay = await run_in_threadpool(_reserve, ctx, key_id, key, request_hash)
    if replay is not None:
        return replay
    try:
        status, body = await handler()
    except BaseException:
        await run_in_threadpool(_release, ctx, key_id, key)
        raise
    encoded = jsonable_encoder(body)
    await run_in_threadpool(_complete, ctx, key_id, key, status, encoded)
    return JSONResponse(encoded, status_code=status)


def _reserve(ctx: AppContext, key_id: int, key: str, request_hash: str) -> JSONResponse | None:
    try:
        with ctx.db.session() as session:
            session.add(IdempotencyRecord(key_id=key_id, idempotency_key=key[:200],
                                          request_hash=request_hash))
        return None
    except IntegrityError:
        pass
    with ctx.db.session() as session:
        record = session.scalar(select(IdempotencyRecord).where(
            IdempotencyRecord.key_id == key_id, IdempotencyRecord.idempotency_key == key[:200]))
    if record is None:  # released between our insert and read: treat as in progress
        raise _in_progress()
    if record.request_hash != request_hash:
        raise IdempotencyConflictError(
            "This Idempotency-Key was already used for a different request; use a new key.")
    if record.status_code is None or record.response_body is None:
        raise _in_progress()
    return JSONResponse(json.loads(record.response_body), status_code=record.status_code,
                        headers={"Idempotent-Replayed": "true"})


def _in_progress() -> TwinwatchError:
    return OverloadedError("A request with this Idempotency-Key is still being processed; "
                           "retry shortly.", retry_after_s=IN_PROGRESS_RETRY_S)


def _complete(ctx: AppContext, key_id: int, key: str, status: int, body: object) -> None:
    with ctx.db.session() as session:
        record = session.scalar(select(IdempotencyRecord).where(
            IdempotencyRecord.key_id == key_id, IdempotencyRecord.idempotency_key == key[:200]))
        if record is not None:
            record.status_code = status
            record.response_body = json.dumps(body)


def _release(ctx: AppContext, key_id: int, key: str) -> None:
    with ctx.db.session() as session:
        session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.key_id == key_id, IdempotencyRecord.idempotency_key == key[:200]))
