"""The console's request plumbing: typed errors become pages, the cookie becomes a user."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Form, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from indexer.errors import TwinwatchError
from service.access.sessions import LoginPolicy, SignedIn, signed_in
from service.api.deps import MAX_OFFSET, Ctx
from service.console.rendering import error_page
from service.console.security import session_cookie_name
from service.core.errors import InvalidRequestError
from service.core.principal import Principal, Role
from service.core.settings import ServiceSettings

#: Where a console listing's page starts: bounded like the API's offsets, so a huge number is
#: a 422, never an overflow in the database.
PageOffset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


class ConsoleRoute(APIRoute):
    """Routes whose typed errors (and invalid input) answer as HTML pages, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except TwinwatchError as exc:
                return error_page(request, exc)
            except RequestValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()
                )
                return error_page(
                    request, InvalidRequestError(f"The request is not valid: {problems}")
                )

        return console_handler


def policy(settings: ServiceSettings) -> LoginPolicy:
    return LoginPolicy(
        session_hours=settings.console_session_hours,
        window_minutes=settings.login_window_minutes,
        max_failures_per_email=settings.login_max_failures_per_email,
        max_failures_per_ip=settings.login_max_failures_per_ip,
    )


def current_user(request: Request, ctx: Ctx) -> SignedIn:
    token = request.cookies.get(session_cookie_name(ctx.settings.console_secure_cookies))
    with ctx.db.session() as session:
        user = signed_in(session, token=token)
    request.state.key_prefix = user.principal.key_prefix
    return user


User = Annotated[SignedIn, Depends(current_user)]


def checked_form(user: User, csrf: Annotated[str, Form()] = "") -> SignedIn:
    """A signed-in user whose form carries this session's CSRF token (every POST)."""
    user.check_csrf(csrf)
    return user


FormUser = Annotated[SignedIn, Depends(checked_form)]


def agency_of(user: SignedIn) -> Principal:
    """The agency pages' gate (admins pass too), as on the API's agency routes."""
    user.principal.require(Role.AGENCY)
    return user.principal
