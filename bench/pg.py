"""Scratch PostgreSQL databases for the benchmarks, beside the machine's `test`
database (BENCH_PG_ADMIN names the one to connect to for CREATE/DROP)."""

from __future__ import annotations

import os

import asyncpg

ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN", "postgresql://root@127.0.0.1:5432/test")


def dsn(name: str) -> str:
    """The asyncpg DSN of database `name` on the admin DSN's server."""
    return ADMIN_DSN.rsplit("/", 1)[0] + "/" + name


async def recreate(name: str) -> str:
    """Drop (if left over from an interrupted run) and create `name`; its DSN."""
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    return dsn(name)


async def drop(name: str) -> None:
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(*statements: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()
