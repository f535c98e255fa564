"""Every console listing's page offset is bounded like the API's: a huge number is a 422
page, never a 500 from the database (found by hand: /console/talents?offset=10**30 was a
500). The routes are read from the app, so a new listing is covered when it is added."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel

from service.api.deps import MAX_OFFSET
from tests.console.test_pages import browser
from tests.support.console import USERS, ConsoleWorld, console_page_routes, console_world

HUGE = 10**30
PATH_PARAM = re.compile(r"\{(\w+)\}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleWorld]:
    with console_world(tmp_path_factory.mktemp("offsets")) as built:
        yield built


def _offset_pages(world: ConsoleWorld) -> list[tuple[str, str]]:
    """(path with ids filled in, offset parameter) of every console GET with an offset."""
    talent_id = next(iter(world.talents.values()))
    found: list[tuple[str, str]] = []
    for route in console_page_routes():
        path = PATH_PARAM.sub(lambda m: str(talent_id if m[1] == "talent_id" else 1), route.path)
        found.extend((path, name) for name in _query_names(route) if name.endswith("offset"))
    return found


def _query_names(route: APIRoute) -> list[str]:
    """The route's query parameters, those of a query model (``Annotated[Model, Query()]``)
    by their fields."""
    names: list[str] = []
    for param in route.dependant.query_params:
        model = param.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            names.extend(f.alias or n for n, f in model.model_fields.items())
        else:
            names.append(param.alias)
    return names


def test_the_listings_with_an_offset_are_found(world: ConsoleWorld) -> None:
    pages = {path.split("?")[0] for path, _ in _offset_pages(world)}
    talent_id = next(iter(world.talents.values()))
    assert {
        "/console/talents",
        "/console/licences",
        "/console/watches",
        "/console/alerts",
        f"/console/talents/{talent_id}/portfolio",
    } <= pages


@pytest.mark.parametrize("who", sorted(USERS))
def test_a_huge_page_offset_is_a_422_for_everyone_never_a_500(
    world: ConsoleWorld, who: str
) -> None:
    client = browser(world, who)
    for path, param in _offset_pages(world):
        for value in (HUGE, MAX_OFFSET + 1, -1):
            response = client.get(path, params={param: value}, follow_redirects=False)
            assert response.status_code < 500, (who, path, param, value, response.text[:300])
            if (who == "agency" and "/portfolio" in path) or path == "/console/talents":
                assert response.status_code == 422, (who, path, param, value)
        assert client.get(path, params={param: MAX_OFFSET}).status_code < 500, (who, path)
