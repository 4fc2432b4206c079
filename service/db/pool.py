"""A connection pool that serves waiting requests in arrival order.

SQLAlchemy's asyncio pool keeps idle connections in an `asyncio.Queue`. When one is
returned, the first waiter is woken, but a request arriving before that waiter runs
takes the connection first (`get_nowait`), and the woken waiter, finding the queue
empty again, goes to the back of the line. Under load, some requests therefore wait
many times longer than others: with 200 connections on a pool of 32, p50 127 ms but
p99 1.75 s (bench/api.py, 2026-12-06). Here a returned connection is handed straight
to the longest waiter, and nobody takes an idle one while others are waiting."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import await_
from sqlalchemy.util.langhelpers import memoized_property
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty


class FairAsyncQueue(AsyncAdaptedQueue):
    @memoized_property
    def _waiters(self) -> deque[asyncio.Future]:
        return deque()

    def _waiting(self) -> bool:
        while self._waiters and self._waiters[0].done():  # timed out or cancelled
            self._waiters.popleft()
        return bool(self._waiters)

    def put_nowait(self, item: Any) -> None:
        if self._waiting():
            self._waiters.popleft().set_result(item)
        else:
            super().put_nowait(item)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self.put_nowait(item)  # the pool never holds more than it has room for

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if not block:  # the pool is below its size (it opens a connection on Empty), or disposing
            return self.get_nowait()
        if not self._waiting() and not self._queue.empty():
            return self._queue.get_nowait()
        return await_(self._wait(timeout))

    async def _wait(self, timeout: float | None) -> Any:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it can swallow a cancellation
                return await waiter
        except BaseException as exc:
            handed = waiter.done() and not waiter.cancelled()
            waiter.cancel()  # no-op once handed one; else put_nowait skips it
            if isinstance(exc, TimeoutError):
                if handed:  # handed one just as the time ran out
                    return waiter.result()
                raise Empty() from None
            if handed:  # cancelled (the client went away) after being handed one: pass it on
                self.put_nowait(waiter.result())
            raise


class FairAsyncQueuePool(AsyncAdaptedQueuePool):
    _queue_class = FairAsyncQueue
