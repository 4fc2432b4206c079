"""Engine factory per dialect (PostgreSQL via asyncpg, embedded SQLite via aiosqlite)."""
from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine, AsyncSession

from service.db.sqlite_driver import async_creator


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    if is_sqlite(url):
        engine = create_async_engine(url, echo=echo, async_creator=async_creator(url, timeout=30))
        _configure_sqlite(engine)
        return engine
    # No pre-ping (a round trip per checkout on the hot path): connections are
    # recycled hourly, and a dead one fails a single request, which clients retry.
    # No overflow: under sustained load, overflow connections are opened and closed
    # per checkout (a TLS negotiation and a backend fork each); waiting for a pooled
    # one is far cheaper. pool_size is the process's cap on PostgreSQL connections.
    return create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=0, pool_recycle=3600
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy own transactions so BEGIN IMMEDIATE below takes effect.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn):
        # Take the write lock up front: two writers never deadlock on lock upgrade.
        # The driver runs BEGIN IMMEDIATE with the transaction's first statement.
        conn.connection.driver_connection.begin_immediate()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for read-only requests. On PostgreSQL they run in AUTOCOMMIT, saving
    the BEGIN and COMMIT round trips of every GET; SQLite (in-process, no round
    trips) keeps ordinary transactions."""
    if engine.dialect.name == "sqlite":
        return session_factory(engine)
    return session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))
