"""Mount the console on the app: its routes, its static files, its security headers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from service.console import (
    routes_admin,
    routes_agency,
    routes_auth,
    routes_brand,
    routes_consent,
    routes_licences,
    routes_monitor,
    routes_review,
    routes_takedowns,
    routes_talent_self,
    routes_talents,
    routes_usage,
)
from service.console.links import PREFIX, STATIC
from service.console.security import install_security_headers

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Console forms that upload many images: they take a batch's body size, not one image's.
CONSOLE_UPLOADS = (f"{PREFIX}/prechecks", f"{PREFIX}/submissions")


def install_console(app: FastAPI) -> None:
    install_security_headers(app)
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
    ):
        app.include_router(router)
    app.mount(STATIC, StaticFiles(directory=STATIC_DIR), name="console-static")
