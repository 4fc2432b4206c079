"""Scratch PostgreSQL databases for the benchmarks, on the machine's server
(BENCH_PG_ADMIN names the database to connect to for CREATE/DROP). Each one has a
name of its own (service.db.dialect.throwaway_database), so runs never collide:
not two benchmarks, nor the smoke runs `make test` makes in several processes."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from service.db.dialect import throwaway_database

ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN", "postgresql://root@127.0.0.1:5432/test")


async def scratch() -> tuple[str, Callable[[], Awaitable[None]]]:
    """A new empty database: its asyncpg DSN, and what drops it."""
    return await throwaway_database(ADMIN_DSN)


def sqlalchemy_url(dsn: str) -> str:
    """The SQLAlchemy URL (asyncpg driver) of an asyncpg DSN."""
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
