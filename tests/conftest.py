"""Test harness: every database test runs on SQLite and on PostgreSQL.

Each run migrates its own throw-away database with Alembic (`upgrade head`), so
runs never collide; rows are deleted after each test, so the code under test
commits for real (as in production) and tests never share state.

`ONEONONE_TEST_DATABASES=sqlite` limits a local run to SQLite."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import structlog
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import delete

from service.api.app import bind, create_app
from service.clock import FixedClock
from service.db.dialect import throwaway_database
from service.db.engine import create_engine, session_factory
from service.db.migrate import upgrade
from service.db.models import Base
from service.settings import Settings
from tests.factories import Factory

PG_ADMIN_DSN = os.environ.get("ONEONONE_TEST_PG", "postgresql://root@127.0.0.1:5432/test")
PG_URL = PG_ADMIN_DSN.replace("postgresql://", "postgresql+asyncpg://")  # the server scratch databases go to
BACKENDS = [b.strip() for b in os.environ.get("ONEONONE_TEST_DATABASES", "sqlite,postgres").split(",") if b.strip()]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session", autouse=True)
def _uncached_loggers():
    """`capture_logs` cannot see a logger cached before it, and code run in-process (the
    CLI, replay, the ASGI factory) configures structlog to cache: in tests no logger is
    ever cached, however `configure` was imported."""
    configure = structlog.configure

    def uncached(*args, **kwargs) -> None:
        configure(*args, **{**kwargs, "cache_logger_on_first_use": False})

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(structlog, "configure", uncached)
        yield


@pytest.fixture(scope="session", params=BACKENDS)
def db_url(request, tmp_path_factory) -> str:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        upgrade(url)
        yield url
        return
    try:
        url, drop = asyncio.run(throwaway_database(PG_URL))
    except OSError as exc:
        pytest.fail(
            f"PostgreSQL at {PG_ADMIN_DSN} is unreachable ({exc}); start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "
            "or set ONEONONE_TEST_DATABASES=sqlite",
            pytrace=False,
        )
    upgrade(url)
    yield url
    asyncio.run(drop())


@pytest.fixture(scope="session")
async def engine(db_url):
    eng = create_engine(db_url, pool_size=5)
    yield eng
    await eng.dispose()


@pytest.fixture
async def sessions(engine):
    maker = session_factory(engine)
    yield maker
    async with maker() as session:
        for table in reversed(Base.metadata.sorted_tables):
            await session.execute(delete(table))
        await session.commit()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def settings(db_url) -> Settings:
    # No principal cache: tests revoke tokens and change roles between requests.
    return Settings(database_url=db_url, secret_key="", auth_cache_seconds=0, _env_file=None)


@pytest.fixture(scope="session")
def _last_app() -> dict[int, tuple[str, FastAPI]]:
    return {}


@pytest.fixture
async def app(settings, engine, sessions, clock, _last_app):
    """The previous test's app when its settings and database were the same (FastAPI
    compiles a router's routes on an app's first request to it: ~20 ms, more than most
    tests), bound anew to this test's clock, caches and logs."""
    key = json.dumps(settings.model_dump(), sort_keys=True, default=_revealed)
    kept = _last_app.get(id(engine))
    if kept is not None and kept[0] == key:
        bind(kept[1], clock, engine)
        return kept[1]
    built = create_app(settings, engine=engine, clock=clock)
    _last_app[id(engine)] = key, built
    return built


def _revealed(value):
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


@pytest.fixture
async def factory(sessions, clock) -> Factory:
    return Factory(sessions, clock)


def pytest_collection_modifyitems(config, items):
    # A run that collects nothing must fail loudly (pytest exits 5); nothing to do here,
    # but the slow tests go first (xdist hands tests out in this order: one started last
    # would run alone at the end), then db tests grouped per backend for fewer engine switches.
    items.sort(
        key=lambda item: (
            item.get_closest_marker("slow") is None,
            getattr(getattr(item, "callspec", None), "params", {}).get("db_url", ""),
        )
    )


ROOT = Path(__file__).resolve().parents[1]
