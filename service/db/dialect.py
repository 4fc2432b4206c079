"""Everything that differs between the two databases, in one place.

PostgreSQL (asyncpg) is production; SQLite (aiosqlite, through the one-hop
driver in sqlite_driver.py) is the embedded default. Code elsewhere is written
once for both: SQLAlchemy renders `FOR UPDATE [SKIP LOCKED]` on PostgreSQL and
nothing on SQLite, whose single writer (BEGIN IMMEDIATE) serializes the same
critical sections, so callers lock unconditionally. What SQLAlchemy does not
hide is here: engine set-up, read-only sessions, column types, upserts, LATERAL
joins, LISTEN/NOTIFY, the hot path's raw driver, and scratch databases."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import BigInteger, Insert, Integer, Table, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from service.db.pool import FairAsyncQueuePool
from service.db.sqlite_driver import async_creator


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# -- engines -------------------------------------------------------------------------------------
def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    # hide_parameters: a database error's message (and so a logged traceback) never
    # carries bound values: token hashes, emails, event titles.
    if is_sqlite(url):
        engine = create_async_engine(url, echo=echo, hide_parameters=True, async_creator=async_creator(url, timeout=30))
        _configure_sqlite(engine)
        return engine
    # No pre-ping (a round trip per checkout on the hot path): connections are
    # recycled hourly, and a dead one fails a single request, which clients retry.
    # No overflow: under sustained load, overflow connections are opened and closed
    # per checkout (a TLS negotiation and a backend fork each); waiting for a pooled
    # one is far cheaper. pool_size is the process's cap on PostgreSQL connections.
    # Waiting requests get connections in arrival order (service.db.pool). Statement
    # parameters stay out of error messages: they can hold a token's hash.
    return create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=0,
        pool_recycle=3600,
        poolclass=FairAsyncQueuePool,
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


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The engine read-only requests use. On PostgreSQL it runs in AUTOCOMMIT, saving
    the BEGIN and COMMIT round trips of every GET; SQLite (in-process, no round
    trips) keeps ordinary transactions."""
    if engine.dialect.name == "sqlite":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


async def single_statement(session: AsyncSession) -> None:
    """Run the session's one statement as its own transaction: on PostgreSQL in
    AUTOCOMMIT, so no BEGIN and COMMIT round trips, and a row it writes is locked
    for the statement alone. Call before the statement; SQLite (in-process) keeps
    its transaction."""
    if session.bind.dialect.name != "sqlite":
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


async def raw_reader(conn: AsyncConnection) -> Any | None:
    """The asyncpg connection under an AUTOCOMMIT PostgreSQL connection, which hot
    queries may use directly (service.db.hot); None anywhere else."""
    if (
        conn.dialect.driver == "asyncpg"
        and conn.sync_connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
    ):
        return (await conn.get_raw_connection()).driver_connection
    return None


# -- column types --------------------------------------------------------------------------------
# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class _SQLiteDateTime(sqlite.DATETIME):
    """Naive UTC text, written by `isoformat` (C) rather than SQLAlchemy's
    %-formatting of a dict per value (Python): the same text ("2026-03-02
    09:00:00.000000"), several times cheaper; a full recompute writes ~200,000."""

    def bind_processor(self, dialect):
        def process(value: datetime | None) -> str | None:
            return None if value is None else value.replace(tzinfo=None).isoformat(" ", "microseconds")

        return process


def utc_datetime_impl(dialect: Dialect) -> Any | None:
    """The column type UTCDateTime stores with on `dialect` (UTC values given); None:
    its own (timestamptz)."""
    return dialect.type_descriptor(_SQLiteDateTime()) if dialect.name == "sqlite" else None


# -- statements ----------------------------------------------------------------------------------
def _insert(session: AsyncSession, table: Table) -> Any:
    """The dialect's INSERT, which can say ON CONFLICT."""
    return (postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert)(table)


def insert_if_absent(session: AsyncSession, table: Table) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING: of two transactions inserting one key at once,
    the second waits for the first, then inserts nothing (rowcount 0)."""
    return _insert(session, table).on_conflict_do_nothing()


def insert_or_replace(session: AsyncSession, table: Table, values: dict[str, Any]) -> Insert:
    """INSERT … ON CONFLICT (primary key) DO UPDATE: the row ends up holding `values`."""
    statement = _insert(session, table).values(values)
    keys = [column.name for column in table.primary_key]
    return statement.on_conflict_do_update(
        index_elements=keys, set_={name: statement.excluded[name] for name in values if name not in keys}
    )


def lateral_joins(session: AsyncSession) -> bool:
    """Whether a statement may join a LATERAL subquery (PostgreSQL; not SQLite)."""
    return session.bind.dialect.name == "postgresql"


# -- waking workers ------------------------------------------------------------------------------
async def notify(session: AsyncSession, channel: str) -> None:
    """NOTIFY `channel` when (and only if) the session's transaction commits, on
    PostgreSQL; nothing on SQLite, whose workers share the process (doorbell.py)."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(select(func.pg_notify(channel, "")))


def concurrent_writers(engine: AsyncEngine) -> bool:
    """Whether transactions of one process may write side by side: not on SQLite,
    one writer at a time (its embedded worker syncs one calendar at a time)."""
    return engine.dialect.name != "sqlite"


def listen_dsn(engine: AsyncEngine) -> str | None:
    """A DSN for a LISTEN connection of its own (asyncpg), or None: no LISTEN (SQLite)."""
    if engine.dialect.name != "postgresql":
        return None
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


# -- migrations ----------------------------------------------------------------------------------
@contextmanager
def migration_lock(connection: Connection, key: int) -> Iterator[None]:
    """Hold a database-wide lock on `connection` while migrating. PostgreSQL: a
    session-level advisory lock, so it also spans any migration that commits on its own
    (autocommit_block); waiting for it needs no timeout, since the holder either commits
    or dies, and the server releases a dead session's locks. SQLite: nothing, since the
    migration's transaction begins IMMEDIATE (the single writer lock) and holds it to
    the commit."""
    if connection.dialect.name != "postgresql":
        yield
        return
    connection.execute(select(func.pg_advisory_lock(key)))
    try:
        yield
    except BaseException:
        with suppress(Exception):  # a dead connection: the server has released the lock already
            connection.rollback()  # an aborted transaction takes no further statement
            connection.execute(select(func.pg_advisory_unlock(key)))
            connection.commit()
        raise
    connection.execute(select(func.pg_advisory_unlock(key)))
    connection.commit()


# -- scratch databases ---------------------------------------------------------------------------
async def throwaway_database(
    server_url: str | None, *, durable: bool = False
) -> tuple[str, Callable[[], Awaitable[None]]]:
    """A new empty database and what drops it: a file in a temporary folder (SQLite,
    the default), or one created beside the PostgreSQL database named. `durable`:
    commits wait for the disk as in production (the benchmarks)."""
    if server_url is None or is_sqlite(server_url):
        folder = tempfile.mkdtemp(prefix="oneonone-")

        async def remove() -> None:
            shutil.rmtree(folder, ignore_errors=True)

        return f"sqlite+aiosqlite:///{Path(folder) / 'scratch.db'}", remove
    url = make_url(server_url)
    name = f"oneonone_scratch_{uuid.uuid4().hex[:12]}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    await _admin(admin_dsn, f'CREATE DATABASE "{name}"')
    if not durable:
        # Dropped after use: its commits need not wait for the disk (a crash loses the last
        # few, never consistency). Tests and replays commit thousands of times.
        await _admin(admin_dsn, f'ALTER DATABASE "{name}" SET synchronous_commit = off')

    async def drop() -> None:
        await _admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url.set(database=name).render_as_string(hide_password=False), drop


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
