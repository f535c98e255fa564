"""Mount the console on the app: its routes, its static files, its security headers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.errors import framework_error, framework_response
from service.console import (
    routes_admin,
    routes_agency,
    routes_auth,
    routes_brand,
    routes_consent,
    routes_licences,
    routes_monitor,
    routes_portfolio,
    routes_review,
    routes_takedowns,
    routes_talent_self,
    routes_talents,
    routes_usage,
    routes_watches,
)
from service.console.links import PREFIX, STATIC
from service.console.previews import Previews
from service.console.rendering import error_page
from service.console.security import install_security_headers

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Console forms that upload many images: they take a batch's body size, not one image's.
CONSOLE_UPLOADS = (f"{PREFIX}/prechecks", f"{PREFIX}/submissions")


def install_console(app: FastAPI) -> None:
    install_security_headers(app)
    app.state.console_previews = Previews()  # the brand's just pre-checked assets, in memory
    app.include_router(routes_auth.router)
    app.include_router(routes_agency.router)
    app.include_router(routes_talents.router)
    for router in (
        routes_brand.router,
        routes_monitor.router,
        routes_admin.router,
        routes_takedowns.router,
        routes_consent.router,
        routes_talent_self.router,
        routes_review.router,
        routes_licences.router,
        routes_usage.router,
        routes_watches.router,
        routes_portfolio.router,
    ):
        app.include_router(router)
    app.mount(STATIC, StaticFiles(directory=STATIC_DIR), name="console-static")
    install_console_not_found(app)


def install_console_not_found(app: FastAPI) -> None:
    """An unknown URL under the console answers the console's HTML error page (the same
    code and message as the API's envelope); everything else keeps the JSON envelope."""

    @app.exception_handler(StarletteHTTPException)
    async def framework(request: Request, exc: StarletteHTTPException) -> Response:
        path = request.url.path
        if exc.status_code == 404 and (path == PREFIX or path.startswith(PREFIX + "/")):
            return error_page(request, framework_error(exc, request))
        return framework_response(request, exc)
