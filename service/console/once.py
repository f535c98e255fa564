"""Console forms that create something happen once, however often the browser sends them.

Each such form carries a one-time token (``once``): random, stamped with when it was
issued, and signed with the session's CSRF secret, so it is bound to that session. The
first POST with a token claims it in the API's idempotency store
(:mod:`service.api.idempotency`, owner: the session), does the work and remembers where its
result is; a second POST with the same token creates nothing and is sent there (waiting
while the first is still running). Tokens expire after :data:`FORM_TOKEN_MAX_AGE` (before
the housekeeping sweep forgets their records) and with their session (its records are
deleted with it). A form sent without a token (not one the console rendered) is handled as
an API request without ``Idempotency-Key``: once per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Form
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from indexer.db import utcnow
from service.access.sessions import SignedIn
from service.api.idempotency import Owner, Stored, complete, release, reserve
from service.context import AppContext
from service.core.errors import FormExpiredError, FormTokenError, OverloadedError
from service.core.hashing import fingerprint
from service.jobs.housekeeping import KEEP_RECORDS

log = logging.getLogger(__name__)
FIELD = "once"
FORM_TOKEN_MAX_AGE = timedelta(hours=12)  # < KEEP_RECORDS: a live token's record is kept
TOKEN_MAX_CHARS = 120
WAIT_FOR_FIRST_S = 30.0  # a double click waits this long for the first POST's result
POLL_S = 0.2
OnceToken = Annotated[str, Form(alias=FIELD, max_length=TOKEN_MAX_CHARS)]
"""A create form's one-time token field ("" when the form carries none)."""
FormHandler = Callable[[], Awaitable[tuple[str | None, Response]]]
"""Does the work; answers where its result is (None: nothing was created, e.g. the form
came back with errors, so the token may be sent again) and the response to send now."""

assert FORM_TOKEN_MAX_AGE < KEEP_RECORDS


def _signature(user: SignedIn, stamped: str) -> str:
    return hmac.new(
        user.csrf_token.encode(), f"once:{stamped}".encode(), hashlib.sha256
    ).hexdigest()[:32]


def issue(user: SignedIn, *, now: datetime | None = None) -> str:
    """A new token for one form of this session (rendered into the page)."""
    stamped = f"{int((now or utcnow()).timestamp())}.{secrets.token_urlsafe(16)}"
    return f"{stamped}.{_signature(user, stamped)}"


def checked_token(user: SignedIn, token: str, *, now: datetime | None = None) -> str:
    """The token if it is this session's and still fresh; otherwise a clear refusal."""
    stamped, _, signature = token.rpartition(".")
    issued, _, _nonce = stamped.partition(".")
    if (
        len(token) > TOKEN_MAX_CHARS
        or not (issued.isascii() and issued.isdigit())
        or not hmac.compare_digest(signature.encode(), _signature(user, stamped).encode())
    ):
        raise FormTokenError(
            "This form was not issued to this sign-in (another browser or "
            "an old session); reload the page and send it again."
        )
    age = (now or utcnow()).timestamp() - int(issued)
    if age > FORM_TOKEN_MAX_AGE.total_seconds() or age < -60:
        hours = int(FORM_TOKEN_MAX_AGE.total_seconds() // 3600)
        raise FormExpiredError(
            f"This form is more than {hours} hours old, so twinwatch can "
            "no longer tell whether it was already sent; check your "
            "history, then reload the page and send it again.",
            max_age_hours=hours,
        )
    return token


async def once(
    *, ctx: AppContext, user: SignedIn, token: str, path: str, handler: FormHandler
) -> Response:
    """Run ``handler`` at most once per token; a repeat is redirected to the first result."""
    if not token:
        return (await handler())[1]
    key = checked_token(user, token)
    owner = Owner(session_id=user.session_id)
    stored = await _claim(ctx, owner, key, fingerprint("POST", path))
    if stored is not None:
        log.info("console form sent again; answered with its first result")
        return RedirectResponse(str(stored.body["location"]), status_code=303)
    try:
        location, response = await handler()
    except BaseException:
        await run_in_threadpool(release, ctx, owner, key)
        raise
    if location is None:
        await run_in_threadpool(release, ctx, owner, key)
    else:
        await run_in_threadpool(complete, ctx, owner, key, 303, {"location": location}, set())
    return response


async def _claim(ctx: AppContext, owner: Owner, key: str, request_hash: str) -> Stored | None:
    """Claim the token, or the first result (waiting a while for one still running)."""
    deadline = time.monotonic() + WAIT_FOR_FIRST_S
    while True:
        try:
            return await run_in_threadpool(reserve, ctx, owner, key, request_hash)
        except OverloadedError:
            if time.monotonic() >= deadline:
                raise OverloadedError(
                    "This form is still being processed; its result will "
                    "appear in your history shortly.",
                    retry_after_s=5,
                ) from None
            await asyncio.sleep(POLL_S)
