"""Probes, and RFC 9457 problem+json for every kind of error."""

from __future__ import annotations

import socket

import httpx
import pytest

from service.api.app import create_app
from service.db.engine import create_engine
from service.settings import Settings

PROBLEM = "application/problem+json"


def assert_problem(r: httpx.Response, status: int, slug: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["type"] == f"https://oneonone.dev/problems/{slug}"
    assert body["status"] == status and body["title"] and body["detail"]
    assert body["instance"] == r.request.url.path
    return body


async def test_healthz_and_readyz(client):
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r.headers["x-request-id"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_readyz_is_503_when_the_database_is_unreachable(tmp_path, backend):
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}"
        if backend == "sqlite"
        else f"postgresql+asyncpg://root@127.0.0.1:{_closed_port()}/test"
    )
    engine = create_engine(url)
    app = create_app(Settings(database_url=url, _env_file=None), engine=engine)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            assert (await c.get("/healthz")).status_code == 200  # the process itself is fine
            body = assert_problem(await c.get("/readyz"), 503, "not-ready")
    finally:
        await engine.dispose()
    assert body["detail"].startswith("database unreachable")
    assert "127.0.0.1" not in body["detail"] and "x.db" not in body["detail"]  # no connection details


async def test_unknown_route_is_404_problem(client):
    assert_problem(await client.get("/v1/no-such-thing"), 404, "not-found")
    assert_problem(await client.get("/nowhere"), 404, "not-found")


async def test_wrong_method_is_405_problem(client):
    r = await client.delete("/v1/me")
    assert_problem(r, 405, "method-not-allowed")
    assert "GET" in r.headers["allow"]


async def test_missing_credentials_is_401_problem(client):
    r = await client.get("/v1/me", headers={"Authorization": "Bearer oo_not-a-real-token"})
    assert_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"


async def test_malformed_json_is_422_problem_with_errors(client, factory):
    h = await factory.token(await factory.person(role="admin"))
    r = await client.post(
        "/v1/people:import", content=b'{"people": [', headers={**h, "Content-Type": "application/json"}
    )
    body = assert_problem(r, 422, "validation")
    assert body["errors"] and body["errors"][0]["code"] == "json_invalid"
    assert {"field", "message", "code"} <= set(body["errors"][0])

    r = await client.post("/v1/people:import", json={"people": [{"name": "No Email"}], "extra": 1}, headers=h)
    body = assert_problem(r, 422, "validation")
    fields = {e["field"] for e in body["errors"]}
    assert {"body.people.0.email", "body.extra"} <= fields


async def test_unhandled_error_is_500_problem_without_internals(settings, engine, clock):
    app = create_app(settings, engine=engine, clock=clock)

    @app.get("/boom")
    async def boom():
        raise RuntimeError("secret internals")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.get("/boom")
    body = assert_problem(r, 500, "internal")
    assert "secret" not in r.text and body["title"] == "Internal Server Error"
