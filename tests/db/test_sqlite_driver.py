"""The embedded SQLite driver: SQLAlchemy through it reads and writes as through
plain aiosqlite, with one hop to the connection's thread per statement."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
import sqlalchemy as sa

from service.db.engine import create_engine
from service.db.sqlite_driver import CHUNK, OneHopConnection

_rows = sa.table("rows", sa.column("id", sa.Integer), sa.column("n", sa.Integer))


async def _engine(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE rows (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
    return engine


async def test_writes_report_rowcount_lastrowid_and_returning(tmp_path):
    engine = await _engine(tmp_path)
    try:
        async with engine.begin() as conn:
            first = await conn.execute(sa.insert(_rows).values(n=1))
            assert first.lastrowid == 1
            await conn.execute(sa.insert(_rows), [{"n": n} for n in range(2, 11)])  # executemany
            returned = await conn.execute(sa.insert(_rows).values(n=11).returning(_rows.c.id))
            assert returned.scalar_one() == 11
            updated = await conn.execute(sa.update(_rows).where(_rows.c.n > 5).values(n=_rows.c.n * 10))
            assert updated.rowcount == 6
        async with engine.connect() as conn:  # committed, read back
            assert (await conn.execute(sa.select(sa.func.sum(_rows.c.n)))).scalar_one() == 15 + 10 * 51
    finally:
        await engine.dispose()


async def test_a_stream_reads_past_the_first_chunk_in_order(tmp_path):
    engine = await _engine(tmp_path)
    total = 2 * CHUNK + 7
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(_rows), [{"n": n} for n in range(total)])
        async with engine.connect() as conn:
            streamed = [row.n async for row in await conn.stream(sa.select(_rows.c.n).order_by(_rows.c.id))]
            assert streamed == list(range(total))
            everything = (await conn.execute(sa.select(_rows.c.n).order_by(_rows.c.id))).scalars().all()
            assert everything == list(range(total))
            # A stream left early closes its cursor; the connection goes on working.
            async with conn.stream(sa.select(_rows.c.n)) as partial:
                assert len(await partial.fetchmany(3)) == 3
            assert (await conn.execute(sa.select(sa.func.count()).select_from(_rows))).scalar_one() == total
    finally:
        await engine.dispose()


def _count_hops(monkeypatch) -> list:
    hops = []
    real = OneHopConnection._execute

    async def counted(self, fn, *args, **kwargs):
        hops.append(fn)
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(OneHopConnection, "_execute", counted)
    return hops


async def test_a_statement_is_one_hop_to_the_connection_thread(tmp_path, monkeypatch):
    engine = await _engine(tmp_path)

    try:
        async with engine.connect() as conn:
            await conn.execute(sa.select(_rows.c.n))  # the connection is checked out
            hops = _count_hops(monkeypatch)
            rows = (await conn.execute(sa.select(_rows.c.n).where(_rows.c.n > 0))).all()
        assert rows == []
        # The select (cursor, execute, rows and close at once), then the rollback on check-in.
        assert len(hops) == 2
    finally:
        await engine.dispose()


async def test_a_transaction_costs_no_hops_of_its_own(tmp_path, monkeypatch):
    engine = await _engine(tmp_path)
    try:
        async with engine.connect():
            pass  # the connection is opened
        hops = _count_hops(monkeypatch)
        async with engine.begin() as conn:
            await conn.execute(sa.insert(_rows).values(n=1))
        # BEGIN IMMEDIATE and the insert in one hop, the commit in another; the pool's
        # rollback on check-in finds no transaction open and costs none.
        assert len(hops) == 2
        async with engine.begin():
            pass  # nothing ran: nothing to commit
        assert len(hops) == 2
        async with engine.connect() as conn:
            assert (await conn.execute(sa.select(_rows.c.n))).scalars().all() == [1]
    finally:
        await engine.dispose()


async def test_the_write_lock_is_taken_by_the_first_statement_even_a_read(tmp_path):
    engine = await _engine(tmp_path)

    def write_elsewhere() -> None:
        other = sqlite3.connect(tmp_path / "driver.db", timeout=0)
        try:
            other.execute("INSERT INTO rows (n) VALUES (99)")
            other.commit()
        finally:
            other.close()

    try:
        async with engine.begin() as conn:
            await conn.execute(sa.select(_rows.c.n))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                await asyncio.to_thread(write_elsewhere)
        await asyncio.to_thread(write_elsewhere)  # committed: the lock is gone
    finally:
        await engine.dispose()


async def test_a_rolled_back_transaction_leaves_nothing(tmp_path):
    engine = await _engine(tmp_path)
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.insert(_rows).values(n=1))
            await conn.rollback()
            await conn.execute(sa.insert(_rows).values(n=2))
            await conn.commit()
        async with engine.connect() as conn:
            assert (await conn.execute(sa.select(_rows.c.n))).scalars().all() == [2]
    finally:
        await engine.dispose()
