"""service.db.health, the one readiness check of the database (the API's `/readyz`,
`oneonone worker`'s): reachable, and the schema at the head revision."""

from __future__ import annotations

import httpx
import pytest

from service.api.app import create_app
from service.db.dialect import throwaway_database
from service.db.engine import create_engine
from service.db.health import head_revisions, not_ready
from service.db.migrate import upgrade_async
from service.settings import Settings
from tests.conftest import BACKENDS, PG_URL


@pytest.fixture(params=BACKENDS)
async def empty_url(request):
    url, drop = await throwaway_database(PG_URL if request.param == "postgres" else None)
    yield url
    await drop()


async def _readyz(url: str) -> httpx.Response:
    engine = create_engine(url)
    app = create_app(Settings(database_url=url, _env_file=None), engine=engine)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            return await c.get("/readyz")
    finally:
        await engine.dispose()


async def test_readyz_is_503_until_the_schema_is_at_head(empty_url):
    r = await _readyz(empty_url)
    assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"] == "database schema not migrated"

    await upgrade_async(empty_url, "0012")  # one behind
    r = await _readyz(empty_url)
    assert r.status_code == 503
    [head] = head_revisions()
    assert r.json()["detail"] == f"database schema at 0012, expected {head} (run `oneonone migrate`)"

    await upgrade_async(empty_url)
    r = await _readyz(empty_url)
    assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_not_ready_names_no_connection_details(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'secret-name.db'}")
    try:
        reason = await not_ready(engine)
    finally:
        await engine.dispose()
    assert reason is not None and reason.startswith("database unreachable") and "secret-name" not in reason
