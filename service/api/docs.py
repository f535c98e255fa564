"""Interactive docs served from this process: Swagger UI's assets come from the installed
``swagger-ui-py`` package (no CDN), and the OpenAPI names the error envelope."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from service.core.schemas import ErrorResponse

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"


def swagger_ui_assets() -> Path:
    """The Swagger UI 5 files shipped in the ``swagger-ui-py`` wheel (found, not imported)."""
    spec = find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed (a dependency of twinwatch)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def _error(description: str, code: str, message: str) -> dict[str, Any]:
    return {
        "model": ErrorResponse,
        "description": description,
        "content": {"application/json": {"example": {"error": {"code": code, "message": message}}}},
    }


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error(
        "No key, or an unknown or revoked key.",
        "unauthorized",
        "Send an API key: `Authorization: Bearer <key>`.",
    ),
    403: _error(
        "The key's role may not call this endpoint.",
        "forbidden",
        "This endpoint is for agency keys; this key is monitor.",
    ),
    404: _error(
        "No such object for this key (other tenants' objects are not shown).",
        "not_found",
        "No talent with id 42.",
    ),
    405: _error(
        "The endpoint does not take this method.",
        "method_not_allowed",
        "PUT is not allowed on /v1/talents.",
    ),
    409: _error(
        "Idempotency-Key reused with another body, or a duplicate.",
        "idempotency_key_conflict",
        "This Idempotency-Key was used with a different request.",
    ),
    413: _error(
        "The body, an upload or the image is over a limit.",
        "payload_too_large",
        "The request body is over the limit of 20971584 bytes.",
    ),
    415: _error(
        "Not an image in a supported format.",
        "image_type_unsupported",
        "The data is not an image in a supported format (JPEG, PNG, WEBP, GIF, TIFF, BMP).",
    ),
    422: _error(
        "A parameter or field is missing, malformed or out of bounds.",
        "invalid_request",
        "The request is not valid: query.limit: Input should be less than or equal to 200",
    ),
    429: _error(
        "This key has too many scans in flight (see Retry-After).",
        "rate_limited",
        "This key already has 8 scans in flight; retry later.",
    ),
    502: _error(
        "A URL to fetch could not be fetched.",
        "url_fetch_failed",
        "The host 'images.example.com' could not be resolved.",
    ),
    503: _error(
        "Overloaded (see Retry-After) or still starting.",
        "overloaded",
        "The inference queue is full; retry later.",
    ),
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` for these error statuses (each with the envelope)."""
    return {status: _ERRORS[status] for status in statuses}


#: The errors every /v1 endpoint may give: auth, scope, routing, body size, validation.
ERROR_RESPONSES = responses(401, 403, 404, 405, 413, 422)
#: Creates that honour Idempotency-Key.
IDEMPOTENT = responses(409)
#: Endpoints that take an image (upload or URL) and run the inference pool.
IMAGE_INPUT = responses(409, 415, 429, 502, 503)


def install_docs(app: FastAPI) -> None:
    """``/docs`` with Swagger UI from local files (it works offline)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=swagger_ui_assets()), name="docs-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    def swagger_ui_page() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )
