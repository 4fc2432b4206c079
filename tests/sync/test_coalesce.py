"""The detector's group commit (service.sync.coalesce): pairs handed over while a
recompute runs are recomputed together right after it; idle, a hand-over runs at once."""

from __future__ import annotations

import asyncio

import pytest

from service.sync.coalesce import Coalescer


class Recorder:
    """A recompute stand-in that records each run's pairs and can be held mid-run."""

    def __init__(self) -> None:
        self.runs: list[set[int]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.fail: set[int] = set()

    async def __call__(self, ids: set[int]) -> None:
        self.runs.append(set(ids))
        await self.release.wait()
        if ids & self.fail:
            raise RuntimeError(f"pairs {sorted(ids & self.fail)}")


async def _held_run(run: Recorder, coalesce: Coalescer) -> asyncio.Task[None]:
    """A hand-over of pair 1 whose run is under way and held until `run.release`."""
    run.release.clear()
    first = asyncio.create_task(coalesce({1}))
    await asyncio.sleep(0)
    return first


async def test_an_idle_hand_over_runs_at_once_and_returns_when_done():
    run = Recorder()
    coalesce = Coalescer(run)
    await asyncio.wait_for(coalesce({1, 2}), 1)
    assert run.runs == [{1, 2}]


async def test_hand_overs_during_a_run_are_run_together_once_it_ends():
    run = Recorder()
    coalesce = Coalescer(run)
    first = await _held_run(run, coalesce)
    later = [asyncio.create_task(coalesce(ids)) for ids in ({2}, {3, 1}, {2})]
    await asyncio.sleep(0.01)
    assert run.runs == [{1}] and not any(t.done() for t in [first, *later])  # all wait for the held run
    run.release.set()
    await asyncio.wait_for(asyncio.gather(first, *later), 1)
    assert run.runs == [{1}, {1, 2, 3}]  # one run for the three hand-overs, pair 1 again included


async def test_a_failed_run_fails_its_callers_only_and_the_next_run_goes_on():
    run = Recorder()
    coalesce = Coalescer(run)
    run.fail = {7}
    with pytest.raises(RuntimeError, match="pairs \\[7\\]"):
        await coalesce({7})
    assert await asyncio.wait_for(coalesce({8}), 1) is None
    assert run.runs == [{7}, {8}]


async def test_a_cancelled_caller_leaves_the_run_to_the_others():
    run = Recorder()
    coalesce = Coalescer(run)
    first = await _held_run(run, coalesce)
    leaving, staying = asyncio.create_task(coalesce({2})), asyncio.create_task(coalesce({3}))
    await asyncio.sleep(0.01)
    leaving.cancel()
    run.release.set()
    await asyncio.wait_for(asyncio.gather(first, staying), 1)
    assert run.runs == [{1}, {2, 3}]
