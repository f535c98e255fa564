"""`Idempotency-Key` for create endpoints: a retried request replays the first answer.

Keys are compared whole: longer than ``MAX_KEY_LENGTH`` is refused, never truncated. An
answer that names talents is linked to them, and erasing a talent forgets those answers
(:func:`service.jobs.housekeeping.forget_talent_answers`, run inside the erasure's
transaction), so a replay can never
bring an erased talent's name back.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service.context import AppContext
from service.core.errors import (
    IdempotencyConflictError,
    IdempotencyKeyInvalidError,
    OverloadedError,
)
from service.core.hashing import fingerprint
from service.core.principal import Principal
from service.core.tables.idempotency import IdempotencyRecord, IdempotencyTalent
from service.jobs.housekeeping import names_erased_talent
from service.scanning.schemas import MatchedTalentOut
from service.talents.schemas import TalentOut

Handler = Callable[[], Awaitable[tuple[int, BaseModel]]]
IN_PROGRESS_RETRY_S = 2
MAX_KEY_LENGTH = 200  # the column's size: longer keys are refused, not cut


def checked_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not 1 <= len(raw) <= MAX_KEY_LENGTH or not raw.isprintable():
        raise IdempotencyKeyInvalidError(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters; got {len(raw)}.",
            max_length=MAX_KEY_LENGTH,
            length=len(raw),
        )
    return raw


@dataclass(frozen=True)
class Owner:
    """Whose keys these are: an API key (``Idempotency-Key`` header) or a console session
    (one-time form tokens, :mod:`service.console.once`). Exactly one is set."""

    key_id: int | None = None
    session_id: int | None = None

    def matches(self) -> ColumnElement[bool]:
        if self.key_id is not None:
            return IdempotencyRecord.key_id == self.key_id
        return IdempotencyRecord.session_id == self.session_id


@dataclass(frozen=True)
class Stored:
    """A first answer kept for replay."""

    status_code: int
    body: Any


async def idempotent(
    *, request: Request, ctx: AppContext, principal: Principal, request_hash: str, handler: Handler
) -> JSONResponse:
    key = checked_key(request.headers.get("idempotency-key"))
    key_id = principal.key_id  # records belong to an API key; console users send no header
    if not key or key_id is None:
        status, body = await handler()
        return JSONResponse(jsonable_encoder(body), status_code=status)
    owner = Owner(key_id=key_id)
    request_hash = fingerprint(request.method, request.url.path, request_hash)
    replay = await run_in_threadpool(reserve, ctx, owner, key, request_hash)
    if replay is not None:
        return JSONResponse(
            replay.body, status_code=replay.status_code, headers={"Idempotent-Replayed": "true"}
        )
    try:
        status, body = await handler()
    except BaseException:
        await run_in_threadpool(release, ctx, owner, key)
        raise
    encoded = jsonable_encoder(body)
    await run_in_threadpool(complete, ctx, owner, key, status, encoded, talents_named(body))
    return JSONResponse(encoded, status_code=status)


def talents_named(value: object) -> set[int]:
    """Ids of the talents an answer names (a talent, its photos or licences, matches)."""
    return set(_talent_ids(value))


def _talent_ids(value: object) -> Iterator[int]:
    if isinstance(value, TalentOut | MatchedTalentOut):
        yield value.id
    if isinstance(value, BaseModel):
        for name, field_value in value:
            if name == "talent_id" and isinstance(field_value, int):
                yield field_value
            elif name == "talent" and isinstance(field_value, dict):
                if isinstance(talent_id := field_value.get("id"), int):
                    yield talent_id
            else:
                yield from _talent_ids(field_value)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _talent_ids(item)


def _record(session: Session, owner: Owner, key: str) -> IdempotencyRecord | None:
    return session.scalar(
        select(IdempotencyRecord).where(owner.matches(), IdempotencyRecord.idempotency_key == key)
    )


def reserve(ctx: AppContext, owner: Owner, key: str, request_hash: str) -> Stored | None:
    """Claim the key (None: go ahead and do the work), or the first answer to replay. A
    different request under the key is a conflict; one still running is "retry shortly"."""
    if _insert(ctx, owner, key, request_hash):
        return None
    with ctx.db.session() as session:
        record = _record(session, owner, key)
        if record is not None and names_erased_talent(session, record):
            session.delete(record)  # erased elsewhere (the CLI): never replay its name
            record = None
            forgotten = True
        else:
            forgotten = False
    if forgotten and _insert(ctx, owner, key, request_hash):
        return None
    if record is None:  # released between our insert and read: treat as in progress
        raise in_progress()
    if record.request_hash != request_hash:
        raise IdempotencyConflictError(
            "This Idempotency-Key was already used for a different request; use a new key."
        )
    if record.status_code is None or record.response_body is None:
        raise in_progress()
    return Stored(record.status_code, json.loads(record.response_body))


def _insert(ctx: AppContext, owner: Owner, key: str, request_hash: str) -> bool:
    try:
        with ctx.db.session() as session:
            session.add(
                IdempotencyRecord(
                    key_id=owner.key_id,
                    session_id=owner.session_id,
                    idempotency_key=key,
                    request_hash=request_hash,
                )
            )
        return True
    except IntegrityError:
        return False


def in_progress() -> OverloadedError:
    return OverloadedError(
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        retry_after_s=IN_PROGRESS_RETRY_S,
    )


def complete(
    ctx: AppContext, owner: Owner, key: str, status: int, body: object, talent_ids: set[int]
) -> None:
    """Store the answer with links to the talents it names. A talent erased meanwhile (its
    link cannot be written) means the answer is not kept for replay at all."""
    try:
        with ctx.db.session() as session:
            record = _record(session, owner, key)
            if record is None:
                return
            record.status_code = status
            record.response_body = json.dumps(body)
            record.talent_count = len(talent_ids)
            session.add_all(
                IdempotencyTalent(record_id=record.id, talent_id=talent_id)
                for talent_id in sorted(talent_ids)
            )
    except IntegrityError:
        release(ctx, owner, key)


def release(ctx: AppContext, owner: Owner, key: str) -> None:
    """Forget the key (its work failed): the same request may be sent again."""
    with ctx.db.session() as session:
        session.execute(
            delete(IdempotencyRecord).where(
                owner.matches(), IdempotencyRecord.idempotency_key == key
            )
        )
