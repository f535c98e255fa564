"""Typed FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from service.access.keys import Principal, authenticate
from service.context import AppContext


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


Ctx = Annotated[AppContext, Depends(get_context)]


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


def get_principal(request: Request, ctx: Ctx) -> Principal:
    with ctx.db.session() as session:
        principal = authenticate(session, presented=presented_key(request))
    request.state.key_prefix = principal.key_prefix
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


class Paging:
    def __init__(self, offset: Annotated[int, Query(ge=0)] = 0,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50) -> None:
        self.offset = offset
        self.limit = limit


PageParams = Annotated[Paging, Depends()]
