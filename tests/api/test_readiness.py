"""`/readyz` answers 503 until the schema is at this version's head, 200 from then on;
`/healthz` (the process is up) answers 200 throughout."""

from __future__ import annotations

import httpx
import pytest

from service.api.app import create_app
from service.db.dialect import throwaway_database
from service.db.engine import create_engine
from service.db.migrate import upgrade_async
from service.settings import Settings
from tests.api.test_errors_and_health import assert_problem
from tests.conftest import BACKENDS, PG_URL


@pytest.fixture(params=BACKENDS)
async def fresh_url(request):
    url, drop = await throwaway_database(None if request.param == "sqlite" else PG_URL)
    try:
        yield url
    finally:
        await drop()


async def test_readyz_fails_until_the_schema_is_at_head(fresh_url):
    engine = create_engine(fresh_url)
    app = create_app(Settings(database_url=fresh_url, _env_file=None), engine=engine)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            assert (await c.get("/healthz")).status_code == 200
            body = assert_problem(await c.get("/readyz"), 503, "not-ready")
            assert body["detail"].startswith("database schema at revision none (never migrated)")
            assert "run `oneonone migrate`" in body["detail"]

            await upgrade_async(fresh_url, "0012")  # a deploy that has not migrated yet
            body = assert_problem(await c.get("/readyz"), 503, "not-ready")
            assert body["detail"].startswith("database schema at revision 0012;")

            await upgrade_async(fresh_url)
            r = await c.get("/readyz")
            assert r.status_code == 200 and r.json() == {"status": "ok"}
    finally:
        await engine.dispose()
