"""Group commit for the detector after increments: the pairs that concurrent syncs
hand over while a recompute runs are recomputed together in the next one.

Under load a worker has up to `sync.concurrency` syncs in flight, and a 1:1 change
reaches both its calendars, each synced and each naming the same pair: recomputed
one call per sync, the pair is done twice and every call pays the recompute's fixed
cost (its statements, the people index, the persist round trips). Gathered, one call
takes them all; idle, a hand-over starts its recompute at once, so nothing waits
longer than the recompute already running."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Run = Callable[[set[int]], Awaitable[None]]


class Coalescer:
    """`await coalescer(ids)` returns once a run of `run` over a set including `ids`
    has finished (raising what that run raised). Runs never overlap; the ids handed
    over during one are run together right after it."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._next: tuple[set[int], asyncio.Future[None]] | None = None
        self._runner: asyncio.Task[None] | None = None

    async def __call__(self, ids: set[int]) -> None:
        if self._next is None:
            done = asyncio.get_running_loop().create_future()
            done.add_done_callback(_retrieved)  # a failure whose callers all left is no stray warning
            self._next = (set(), done)
        gathered, done = self._next
        gathered |= ids
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._drain())
        # shield: a caller cancelled (its worker stopping) leaves the run to the others
        await asyncio.shield(done)

    async def _drain(self) -> None:
        while self._next is not None:
            ids, done = self._next
            self._next = None
            try:
                await self._run(ids)
            except asyncio.CancelledError:  # the loop is closing: no run is coming for anyone
                done.cancel()
                if self._next is not None:
                    self._next[1].cancel()
                    self._next = None
                raise
            except Exception as exc:  # the callers of this run see it; the next run goes on
                done.set_exception(exc)
            else:
                done.set_result(None)


def _retrieved(done: asyncio.Future[None]) -> None:
    if not done.cancelled():
        done.exception()
