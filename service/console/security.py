"""Browser-facing protections: cookies, the login form's CSRF cookie, security headers."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime

from fastapi import FastAPI, Request, Response

from service.access.errors import CsrfError
from service.console.links import PREFIX, STATIC

LOGIN_CSRF_COOKIE = "twinwatch_login_csrf"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def session_cookie_name(secure: bool) -> str:
    """``__Host-`` pins the cookie to this host and path / (browsers require Secure for it)."""
    return "__Host-twinwatch_session" if secure else "twinwatch_session"


def set_session_cookie(response: Response, *, token: str, expires: datetime, secure: bool) -> None:
    response.set_cookie(
        session_cookie_name(secure),
        token,
        expires=expires,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(
        session_cookie_name(secure), path="/", secure=secure, httponly=True, samesite="lax"
    )


def new_login_csrf() -> str:
    """Double-submit token for forms shown before there is a session (sign-in, invitation):
    the page carries it in a hidden field, :func:`set_login_csrf` in a cookie."""
    return secrets.token_urlsafe(32)


def set_login_csrf(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path=PREFIX,
        secure=secure,
        httponly=True,
        samesite="strict",
        max_age=3600,
    )


def check_login_csrf(request: Request, presented: str | None) -> None:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not presented or not hmac.compare_digest(expected, presented):
        raise CsrfError(
            "This form is out of date or did not come from twinwatch; reload "
            "the page and try again."
        )


def install_security_headers(app: FastAPI) -> None:
    """nosniff, frame denial and a referrer policy on every answer; on console pages also a
    strict Content-Security-Policy (no inline script or style) and no caching."""

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        path = request.url.path
        if path == "/" or path.startswith(PREFIX):
            response.headers["Content-Security-Policy"] = CSP
            if not path.startswith(STATIC):
                response.headers.setdefault("Cache-Control", "no-store")
        return response
