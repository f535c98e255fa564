"""Typed FastAPI dependencies: the context, the caller's key, bounded ids and paging."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field

from indexer.db import MAX_ID
from service.access.keys import authenticate
from service.context import AppContext
from service.core.principal import Principal, Role


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


Ctx = Annotated[AppContext, Depends(get_context)]

# Declared as security schemes so the OpenAPI (and /docs' Authorize button) knows them;
# neither refuses on its own: a missing key is `unauthorized` from `authenticate`.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="`Authorization: Bearer <key>`; keys come from `twinwatch keys create`.",
)
api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="apiKey",
    description="The same key in `X-API-Key`, for clients that cannot set Authorization.",
)


def presented_key(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> str | None:
    if credentials is not None:
        return credentials.credentials.strip()
    return api_key


def get_principal(
    request: Request, ctx: Ctx, key: Annotated[str | None, Depends(presented_key)]
) -> Principal:
    with ctx.db.session() as session:
        principal = authenticate(session, presented=key)
    request.state.key_prefix = principal.key_prefix
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def RequireRole(*roles: Role) -> Any:  # noqa: N802  (reads as a declaration on the route)
    """The caller's principal, refused with 403 unless it has one of ``roles`` (or is an
    admin): a route declares who may call it once, in its signature."""

    def principal_with_role(principal: CurrentPrincipal) -> Principal:
        principal.require(*roles)
        return principal

    return Depends(principal_with_role)


AgencyPrincipal = Annotated[Principal, RequireRole(Role.AGENCY)]
MonitorPrincipal = Annotated[Principal, RequireRole(Role.MONITOR)]
BrandPrincipal = Annotated[Principal, RequireRole(Role.BRAND)]
#: Batch jobs are read by who may submit them.
SubmitterPrincipal = Annotated[Principal, RequireRole(Role.MONITOR, Role.BRAND)]
WatcherPrincipal = Annotated[Principal, RequireRole(Role.MONITOR, Role.AGENCY)]

#: An object id in a path: positive and within the 64-bit keys (larger can name no row).
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID, examples=[42])]
#: An object id used as a filter.
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, examples=[42])]
#: An object id inside a form or model field (the same bound).
BoundedId = Annotated[int, Field(ge=1, le=MAX_ID)]

MAX_LIMIT = 200
#: Offsets are bounded like ids (every backend takes a signed 64-bit OFFSET).
MAX_OFFSET = MAX_ID


class Paging:
    def __init__(
        self,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    ) -> None:
        self.offset = offset
        self.limit = limit


PageParams = Annotated[Paging, Depends()]
