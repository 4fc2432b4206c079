"""Scratch PostgreSQL databases for the benchmarks, on the machine's server
(BENCH_PG_ADMIN names the database to connect to for CREATE/DROP). Each one has a
name of its own (service.db.dialect.throwaway_database), so runs never collide:
not two benchmarks, nor the smoke runs `make test` makes in several processes.
Their commits wait for the disk, as production's do.

This machine's server runs with autovacuum off, which no production server does:
without it the planner keeps the statistics of empty tables (a claim weighed every
calendar, row by row) and updated rows pile up. `autovacuum` does its work where a
benchmark needs it: once loaded, and every minute under load (autovacuum's own pace
for tables updated this often)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from contextlib import suppress

import asyncpg

from service.db.dialect import throwaway_database

ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN", "postgresql://root@127.0.0.1:5432/test")


async def scratch() -> tuple[str, Callable[[], Awaitable[None]]]:
    """A new empty database: its asyncpg DSN, and what drops it."""
    return await throwaway_database(ADMIN_DSN, durable=True)


async def vacuum_analyze(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


async def autovacuum(dsn: str, stop: asyncio.Event, every: float = 60.0) -> None:
    """VACUUM (ANALYZE) every `every` seconds until `stop`."""
    while not stop.is_set():
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if not stop.is_set():
            await vacuum_analyze(dsn)


def sqlalchemy_url(dsn: str) -> str:
    """The SQLAlchemy URL (asyncpg driver) of an asyncpg DSN."""
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
