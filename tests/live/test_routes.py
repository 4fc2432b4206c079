"""`POST /sandbox/{change}` exists only in `serve --sandbox` (the live end to end is
test_serve_sandbox.py): any other server answers 404, and it is in no OpenAPI."""

from __future__ import annotations

import httpx

from service.live.routes import router
from service.runtime import build_app


async def test_the_sandbox_endpoint_is_absent_unless_the_sandbox_is_on(client, factory):
    h = await factory.token(await factory.person())
    answer = await client.post("/sandbox/cancel", json={"email": "priya.sharma@acme.test"}, headers=h)
    assert answer.status_code == 404
    assert not any(path.startswith("/sandbox") for path in (await client.get("/openapi.json")).json()["paths"])


async def test_the_sandbox_endpoint_takes_callers_on_this_machine_only(settings, engine, clock, factory):
    app = build_app(settings, engine=engine, clock=clock, worker=False)
    app.include_router(router)
    h = await factory.token(await factory.person())
    body = {"email": "priya.sharma@acme.test"}
    remote = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))
    async with httpx.AsyncClient(transport=remote, base_url="http://test") as c:
        assert (await c.post("/sandbox/cancel", json=body)).status_code == 401
        assert (await c.post("/sandbox/cancel", json=body, headers=h)).status_code == 403
    assert not any(path.startswith("/sandbox") for path in app.openapi()["paths"])
