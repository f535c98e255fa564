"""Mount the console on the app: its routes, its static files, its security headers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from service.console import (
    routes_agency,
    routes_auth,
    routes_licences,
    routes_review,
    routes_talents,
)
from service.console.links import STATIC
from service.console.security import install_security_headers

STATIC_DIR = Path(__file__).resolve().parent / "static"


def install_console(app: FastAPI) -> None:
    install_security_headers(app)
    app.include_router(routes_auth.router)
    app.include_router(routes_agency.router)
    app.include_router(routes_talents.router)
    app.include_router(routes_review.router)
    app.include_router(routes_licences.router)
    app.mount(STATIC, StaticFiles(directory=STATIC_DIR), name="console-static")
