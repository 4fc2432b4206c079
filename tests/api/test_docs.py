"""`/docs` works offline: Swagger UI's assets come from the package, nothing from
another host."""

from __future__ import annotations

import re

import httpx

from service.api import docs
from service.api.app import create_app
from service.settings import Settings


async def test_docs_reference_no_other_host_and_their_assets_are_served(client):
    r = await client.get("/docs")
    assert r.status_code == 200
    page = r.text
    assert "SwaggerUIBundle" in page
    assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]", page), "an external URL in /docs"
    assert '"validatorUrl": null' in page  # no badge fetched from validator.swagger.io
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert {
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/swagger-ui.css",
        "/docs/assets/favicon-32x32.png",
    } <= set(assets)
    for url in [*assets, "/openapi.json", "/docs/oauth2-redirect"]:
        assert url.startswith("/"), url
        r = await client.get(url)
        assert r.status_code == 200, url
    r = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.content == (docs.ASSETS / "swagger-ui-bundle.js").read_bytes()


async def test_the_bundled_swagger_ui_renders_openapi_3_1(client):
    """FastAPI writes OpenAPI 3.1, which Swagger UI reads from 5.0 on."""
    assert (await client.get("/openapi.json")).json()["openapi"].startswith("3.1")
    assert int(docs.SWAGGER_UI_VERSION.split(".")[0]) >= 5
    bundle = (docs.ASSETS / "swagger-ui-bundle.js").read_text()
    assert "isOAS31" in bundle  # its OpenAPI 3.1 plugin


async def test_licence_ships_with_the_assets():
    assert "Apache License" in (docs.ASSETS / "LICENSE").read_text()
    assert "SmartBear" in (docs.ASSETS / "NOTICE").read_text()


async def test_docs_honour_a_path_prefix():
    app = create_app(Settings(_env_file=None))
    transport = httpx.ASGITransport(app=app, root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        page = (await c.get("/docs")).text
    assert 'src="/api/docs/assets/swagger-ui-bundle.js"' in page
    assert "url: '/api/openapi.json'" in page


async def test_no_redoc(client):
    assert (await client.get("/redoc")).status_code == 404
