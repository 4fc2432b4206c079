"""The reference web app (`/app/`): static ES modules and CSS shipped in the package
(static/app/), no CDN, talking to the public API with the caller's own token. Outside
the OpenAPI document, like `/docs`.

`/app/config.json` tells the page what it cannot learn from the API: the server's
clock (the sandbox's demo world runs on its own date) and whether an OIDC sign-in
redirect exists (none yet: OIDC is accepted as bearer JWTs only). Nothing in it is
private; it needs no token."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).with_name("static") / "app"
APP_URL = "/app"


def install(app: FastAPI) -> None:
    @app.get(APP_URL + "/config.json", include_in_schema=False)
    async def webapp_config(request: Request) -> JSONResponse:
        now = request.app.state.clock.now()
        return JSONResponse({"now": now.isoformat(), "oidc_login_url": None}, headers={"Cache-Control": "no-store"})

    app.mount(APP_URL, StaticFiles(directory=ASSETS, html=True), name="webapp")
