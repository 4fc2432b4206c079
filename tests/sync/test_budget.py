"""service.sync.budget: token buckets shared by worker processes (both databases)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, text

from service.sync.budget import DatabaseBudget, Rate
from service.sync.port import Throttled


class Wall:
    """Wall-clock seconds that only move when a budget sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def budget(sessions, wall: Wall, *, overall=(60, 5), user=(600, 100), batch=3, max_wait=30.0) -> DatabaseBudget:
    return DatabaseBudget(
        sessions,
        {"google": (Rate(overall[0] / 60, overall[1]), Rate(user[0] / 60, user[1]))},
        batch=batch,
        max_wait=max_wait,
        wall=wall,
        sleep=wall.sleep,
    )


async def test_two_processes_share_one_bucket(sessions):
    wall = Wall()
    a, b = budget(sessions, wall), budget(sessions, wall)  # one call a second, a burst of 5
    for n in range(20):
        await (a if n % 2 else b).spend("google", f"u{n}@acme.test")
    # 20 calls from a bucket of 5 refilling at 1/s: at least 15 s of waiting, shared by both
    assert 15 <= wall.now - 1_000_000 <= 15 + 3 and sum(wall.slept) == pytest.approx(wall.now - 1_000_000)


async def test_a_users_own_bucket_paces_their_calls(sessions):
    wall = Wall()
    paced = budget(sessions, wall, overall=(6000, 1000), user=(60, 2))
    for _ in range(6):
        await paced.spend("google", "busy@acme.test")
    assert wall.now - 1_000_000 == pytest.approx(4.0)  # 2 at once, then one a second
    before = wall.now
    await paced.spend("google", "other@acme.test")  # another user is not held up
    assert wall.now == before


async def test_past_the_longest_wait_the_call_is_throttled(sessions):
    wall = Wall()
    stingy = budget(sessions, wall, overall=(1, 1), max_wait=5.0)
    await stingy.spend("google", "a@acme.test")
    with pytest.raises(Throttled) as err:
        await stingy.spend("google", "a@acme.test")
    assert err.value.retry_after == pytest.approx(60.0) and wall.slept == []
    assert await asyncio.wait_for(budget(sessions, wall).spend("microsoft", "x"), 1) is None  # no rate: free


async def test_a_bucket_holding_the_batch_gives_it_in_one_statement(sessions):
    """Every sync takes from its user's bucket and all share the provider's: a take
    is one statement, its own transaction on PostgreSQL (a row lock held for that
    statement alone), unless the bucket is missing or short."""
    wall = Wall()
    first = budget(sessions, wall, overall=(6000, 1000), user=(6000, 1000), batch=3)
    await first.spend("google", "a@acme.test")  # creates both buckets
    engine = sessions.kw["bind"].sync_engine
    statements: list[str] = []
    listen = lambda _conn, _cursor, sql, *_: statements.append(sql)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        await budget(sessions, wall, overall=(6000, 1000), user=(6000, 1000), batch=3).spend("google", "a@acme.test")
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert len(statements) == 2 and all(s.lstrip().startswith("UPDATE") for s in statements)  # one per bucket
    async with sessions() as session:
        tokens = dict((await session.execute(text("SELECT key, tokens FROM quota_buckets"))).all())
    assert tokens == {"google": pytest.approx(1000 - 6), "google:a@acme.test": pytest.approx(1000 - 6)}
