"""`/app/`, the reference web app: served from the package, offline (nothing from another
host), outside the OpenAPI document; its config tells the page the server's clock."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from service.api import webapp

ROOT = Path(__file__).resolve().parents[2]


async def test_the_app_and_its_assets_are_served_and_reference_no_other_host(client):
    r = await client.get("/app/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    names = sorted(p.name for p in webapp.ASSETS.iterdir())
    assert {"index.html", "app.js", "api.js", "meeting.js", "chart.js", "app.css"} <= set(names)
    for name in names:
        r = await client.get(f"/app/{name}")
        assert r.status_code == 200, name
        # the SVG namespace is an identifier, never fetched; nothing else may name a host
        text = r.text.replace("http://www.w3.org/2000/svg", "")
        assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2}", text), f"an external URL in {name}"
    assert (await client.get("/app/app.js")).headers["content-type"].startswith("text/javascript")


async def test_config_gives_the_clock_and_no_oidc_redirect(client, clock):
    body = (await client.get("/app/config.json")).json()
    assert body == {"now": clock.now().isoformat(), "oidc_login_url": None}


async def test_the_app_is_not_in_the_openapi_document(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith("/app")]


def test_every_asset_ships_as_package_data():
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["service"]
    for path in webapp.ASSETS.iterdir():
        rel = path.relative_to(ROOT / "service").as_posix()
        assert any(fnmatch(rel, g) for g in globs), rel
