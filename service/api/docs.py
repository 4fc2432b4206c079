"""The interactive API docs (`/docs`, Swagger UI) served from the package, so they
work without internet access. The assets are swagger-ui-dist's (Apache-2.0, see
static/swagger-ui/LICENSE and NOTICE; third-party notices of the bundle in
swagger-ui-bundle.js.LICENSE.txt), copied unmodified: SWAGGER_UI_VERSION says which.
ReDoc is not offered (FastAPI's default `/redoc` loads it from a CDN too)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_UI_VERSION = "5.36.0"  # npm swagger-ui-dist
ASSETS = Path(__file__).with_name("static") / "swagger-ui"
DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


def install(app: FastAPI) -> None:
    """Call with `FastAPI(docs_url=None, redoc_url=None)`: this adds `/docs`, its OAuth2
    redirect and the assets, outside the OpenAPI document as FastAPI's own are."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="swagger-ui-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")  # behind a proxy's path prefix, as FastAPI's own
        return get_swagger_ui_html(
            openapi_url=root + app.openapi_url,
            title=f"{app.title} – API docs",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon-32x32.png",
            oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
            # No badge from the online validator (validator.swagger.io) under the document.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
