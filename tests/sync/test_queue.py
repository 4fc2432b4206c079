"""The calendars work queue: leases make claims exclusive and crash-safe."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from service.sync import queue
from tests.sync.sync_factories import calendar


async def _claim(sessions, owner, now, limit=10, lease=timedelta(minutes=2)):
    async with sessions() as s:
        claims = await queue.claim(s, owner=owner, now=now, lease_until=now + lease, limit=limit)
        await s.commit()
    return {c.calendar_id for c in claims}


async def test_due_means_dirty_or_poll_time_reached_and_not_backing_off(factory, sessions, clock):
    now = clock.now()
    dirty = await calendar(factory, await factory.person(), dirty=True)
    polled = await calendar(factory, await factory.person(), next_poll_at=now - timedelta(seconds=1))
    await calendar(factory, await factory.person())  # clean, poll in the future
    await calendar(factory, await factory.person(), dirty=True, backoff_until=now + timedelta(minutes=5))
    await calendar(factory, await factory.person(), dirty=True, status="error")
    assert await _claim(sessions, "w1", now) == {dirty.id, polled.id}


async def test_a_leased_calendar_is_not_claimed_again_until_the_lease_expires(factory, sessions, clock):
    cal = await calendar(factory, await factory.person(), dirty=True)
    now = clock.now()
    assert await _claim(sessions, "w1", now) == {cal.id}
    assert await _claim(sessions, "w2", now + timedelta(minutes=1)) == set()
    # w1 crashed: its lease runs out and w2 takes over.
    assert await _claim(sessions, "w2", now + timedelta(minutes=3)) == {cal.id}
    async with sessions() as s:
        assert not await queue.extend(s, cal.id, "w1", now + timedelta(minutes=5))  # w1's lease is lost


async def test_concurrent_claimers_never_share_a_calendar(factory, sessions, clock):
    cals = [await calendar(factory, await factory.person(), dirty=True) for _ in range(12)]
    now = clock.now()
    results = await asyncio.gather(*(_claim(sessions, f"w{i}", now, limit=3) for i in range(6)))
    claimed = [cid for r in results for cid in r]
    assert len(claimed) == len(set(claimed)) == 12
    assert set(claimed) == {c.id for c in cals}


async def test_mark_dirty_bumps_the_generation(factory, sessions, clock):
    cal = await calendar(factory, await factory.person())
    async with sessions() as s:
        await queue.mark_dirty(s, [cal.id], clock.now())
        await queue.mark_dirty(s, [cal.id], clock.now())
        await s.commit()
    async with sessions() as s:
        claims = await queue.claim(
            s, owner="w", now=clock.now(), lease_until=clock.now() + timedelta(minutes=2), limit=10
        )
        await s.commit()
    assert claims == [queue.Claim(cal.id, cal.dirty_generation + 2)]
