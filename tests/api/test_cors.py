"""CORS: browsers on the configured origins may call the API; by default no CORS
headers at all."""

from __future__ import annotations

import httpx
import pytest

from service.api.app import create_app
from service.settings import Settings

APP_ORIGIN = "https://app.acme.test"


@pytest.fixture
def cors_client(settings, engine, clock):
    def make(**cors):
        app = create_app(
            settings.model_copy(update={"cors": settings.cors.model_copy(update=cors)}), engine=engine, clock=clock
        )
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")

    return make


def _preflight(origin: str, method: str, headers: str = "authorization, content-type, if-match"):
    return {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}


async def test_preflight_from_an_allowed_origin(cors_client):
    async with cors_client(allow_origins=[APP_ORIGIN, "http://localhost:5173"], max_age=300) as c:
        r = await c.options("/v1/meetings/1/notes/shared", headers=_preflight(APP_ORIGIN, "PUT"))
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == APP_ORIGIN
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= set(r.headers["access-control-allow-methods"].split(", "))
    allowed = {h.lower() for h in r.headers["access-control-allow-headers"].split(", ")}
    assert {"authorization", "content-type", "if-match", "if-none-match", "x-request-id"} <= allowed
    assert r.headers["access-control-max-age"] == "300"
    assert "access-control-allow-credentials" not in r.headers  # bearer tokens, never cookies


async def test_preflight_from_another_origin_is_not_allowed(cors_client):
    async with cors_client(allow_origins=[APP_ORIGIN]) as c:
        r = await c.options("/v1/me", headers=_preflight("https://evil.test", "GET", "authorization"))
        assert "access-control-allow-origin" not in r.headers
        r = await c.get("/v1/me", headers={"Origin": "https://evil.test"})
        assert "access-control-allow-origin" not in r.headers


async def test_no_cors_headers_by_default(client):
    r = await client.options("/v1/me", headers=_preflight(APP_ORIGIN, "GET", "authorization"))
    assert r.status_code == 405
    assert not [h for h in r.headers if h.startswith("access-control-")]
    r = await client.get("/healthz", headers={"Origin": APP_ORIGIN})
    assert r.status_code == 200
    assert not [h for h in r.headers if h.startswith("access-control-")]


async def test_a_real_request_carries_the_headers(cors_client, factory):
    person = await factory.person()
    auth = await factory.token(person)
    async with cors_client(allow_origins=[APP_ORIGIN]) as c:
        r = await c.get("/v1/me", headers={**auth, "Origin": APP_ORIGIN})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == APP_ORIGIN
        exposed = {h.lower() for h in r.headers["access-control-expose-headers"].split(", ")}
        assert {"etag", "location", "x-request-id", "retry-after"} <= exposed
        # an error too: the browser lets the frontend read the problem document
        r = await c.get("/v1/me", headers={"Origin": APP_ORIGIN})
        assert r.status_code == 401
        assert r.headers["access-control-allow-origin"] == APP_ORIGIN


async def test_any_origin(cors_client):
    async with cors_client(allow_origins=["*"]) as c:
        r = await c.options("/v1/me", headers=_preflight("https://anywhere.test", "GET", "authorization"))
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"


def test_origins_from_the_environment(monkeypatch):
    monkeypatch.setenv("ONEONONE_CORS__ALLOW_ORIGINS", f"{APP_ORIGIN}, http://localhost:5173")
    monkeypatch.setenv("ONEONONE_CORS__MAX_AGE", "60")
    cors = Settings(_env_file=None).cors
    assert cors.allow_origins == [APP_ORIGIN, "http://localhost:5173"]
    assert cors.max_age == 60
    monkeypatch.delenv("ONEONONE_CORS__ALLOW_ORIGINS")
    assert Settings(_env_file=None).cors.allow_origins == []
