"""The PostgreSQL pool serves waiting requests in arrival order (service.db.pool)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import exc, text
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.queue import Empty

from service.db.engine import create_engine
from service.db.pool import FairAsyncQueue, FairAsyncQueuePool


async def _waiters(queue: FairAsyncQueue, names: str, got: list) -> list[asyncio.Task]:
    async def wait(name: str) -> None:
        got.append((name, await greenlet_spawn(queue.get, True, 5)))

    tasks = [asyncio.create_task(wait(name)) for name in names]
    await asyncio.sleep(0.01)  # all of them waiting, in this order
    return tasks


async def test_a_returned_connection_goes_to_the_longest_waiter_not_to_a_latecomer():
    queue, got = FairAsyncQueue(2), []
    tasks = await _waiters(queue, "AB", got)

    def give_back_and_ask_again():  # as a request ending and another starting in one step
        queue.put_nowait("c1")
        return queue.get(True, 0.05)

    with pytest.raises(Empty):  # it queues behind B (SQLAlchemy's own queue hands it c1)
        await greenlet_spawn(give_back_and_ask_again)
    queue.put_nowait("c2")
    await asyncio.gather(*tasks)
    assert got == [("A", "c1"), ("B", "c2")]
    assert queue.empty()


async def test_a_cancelled_waiter_passes_its_connection_on():
    queue, got = FairAsyncQueue(2), []
    a, b = await _waiters(queue, "AB", got)
    queue.put_nowait("c1")  # handed to A ...
    a.cancel()  # ... whose client went away before it ran
    await asyncio.gather(b)
    assert got == [("B", "c1")]


async def test_idle_connections_are_taken_at_once_and_a_timeout_is_empty():
    queue = FairAsyncQueue(2)
    queue.put_nowait("c1")
    assert await greenlet_spawn(queue.get, True, 5) == "c1"
    with pytest.raises(Empty):
        await greenlet_spawn(queue.get, True, 0.01)
    assert not queue._waiting()


async def test_the_postgresql_engine_uses_it(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has no connection pool to queue on")
    engine = create_engine(db_url, pool_size=2)
    try:
        assert isinstance(engine.pool, FairAsyncQueuePool)
        order: list[int] = []

        async def request(i: int) -> None:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_sleep(0.01)"))
                order.append(i)

        await asyncio.gather(*(request(i) for i in range(12)))
        assert sorted(order) == list(range(12)) and engine.pool.checkedout() == 0
        held = [await engine.connect(), await engine.connect()]
        engine.pool._timeout = 0.05
        with pytest.raises(exc.TimeoutError):
            await engine.connect()
        for conn in held:
            await conn.close()
    finally:
        await engine.dispose()
