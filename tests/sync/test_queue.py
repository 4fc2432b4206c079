"""The work queue: sync requests and polls make calendars due; leases make claims
exclusive and crash-safe; requests arriving during a sync make one follow-up."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from service.sync import queue
from tests.sync.sync_factories import calendar, requests


async def _claim(sessions, owner, now, limit=10, lease=timedelta(minutes=2)):
    async with sessions() as s:
        claims = await queue.claim(s, owner=owner, now=now, lease_until=now + lease, limit=limit)
        await s.commit()
    return {c.calendar_id for c in claims}


async def test_due_means_requested_or_poll_time_reached_and_not_backing_off(factory, sessions, clock):
    now = clock.now()
    later = now + timedelta(minutes=5)
    requested = await calendar(factory, await factory.person(), requested=True)
    polled = await calendar(factory, await factory.person(), next_poll_at=now - timedelta(seconds=1))
    new = await calendar(factory, await factory.person(), next_poll_at=None)  # never synced
    await calendar(factory, await factory.person())  # nothing asked, poll in the future
    await calendar(factory, await factory.person(), requested=True, backoff_until=later, status="backing_off")
    retry = await calendar(factory, await factory.person(), status="backing_off", backoff_until=now)
    probe = await calendar(factory, await factory.person(), status="needs_reconnect", backoff_until=now)
    await calendar(factory, await factory.person(), requested=True, status="needs_reconnect")  # no probe: a person acts
    await calendar(factory, await factory.person(), requested=True, status="disabled")
    assert await _claim(sessions, "w1", now) == {requested.id, polled.id, new.id, retry.id, probe.id}


async def test_the_longest_waiting_request_is_claimed_first_then_polls(factory, sessions, clock):
    """First come, first served: by id, a backlog would starve the calendars created last."""
    now = clock.now()
    polled = await calendar(factory, await factory.person(), next_poll_at=now - timedelta(hours=1))
    cals = [await calendar(factory, await factory.person()) for _ in range(3)]
    for cal in reversed(cals):  # the newest calendar asks first
        async with sessions() as s:
            await queue.request_sync(s, [cal.id], now)
            await s.commit()
    async with sessions() as s:  # the first asks again: its oldest request still counts
        await queue.request_sync(s, [cals[-1].id], now)
        await s.commit()
    order = [await _claim(sessions, f"w{i}", now, limit=1) for i in range(4)]
    assert order == [{cals[2].id}, {cals[1].id}, {cals[0].id}, {polled.id}]


async def test_a_leased_calendar_is_not_claimed_again_until_the_lease_expires(factory, sessions, clock):
    cal = await calendar(factory, await factory.person(), requested=True)
    now = clock.now()
    assert await _claim(sessions, "w1", now) == {cal.id}
    assert await _claim(sessions, "w2", now + timedelta(minutes=1)) == set()
    # w1 crashed: its lease runs out and w2 takes over.
    assert await _claim(sessions, "w2", now + timedelta(minutes=3)) == {cal.id}
    async with sessions() as s:
        assert not await queue.extend(s, cal.id, "w1", now + timedelta(minutes=5))  # w1's lease is lost


async def test_concurrent_claimers_never_share_a_calendar(factory, sessions, clock):
    cals = [await calendar(factory, await factory.person(), requested=True) for _ in range(12)]
    now = clock.now()
    results = await asyncio.gather(*(_claim(sessions, f"w{i}", now, limit=3) for i in range(6)))
    claimed = [cid for r in results for cid in r]
    assert len(claimed) == len(set(claimed)) == 12
    assert set(claimed) == {c.id for c in cals}


async def test_a_claim_in_progress_holds_only_the_calendars_it_takes(db_url, factory, sessions, clock):
    """The due calendars are locked one by one as the claim reaches them, not all at
    once: a second worker claiming meanwhile takes the next in line, not nothing."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: a second claim waits for the first")
    cals = [await calendar(factory, await factory.person(), requested=True) for _ in range(3)]
    now = clock.now()
    async with sessions() as first:
        taken = await queue.claim(first, owner="w1", now=now, lease_until=now + timedelta(minutes=2), limit=1)
        assert [c.calendar_id for c in taken] == [cals[0].id]  # still uncommitted while w2 claims
        assert await asyncio.wait_for(_claim(sessions, "w2", now, limit=1), 5) == {cals[1].id}
        await first.commit()
    assert await _claim(sessions, "w3", now) == {cals[2].id}


async def test_requests_during_a_sync_coalesce_into_one_follow_up(factory, sessions, clock):
    cal = await calendar(factory, await factory.person())
    now = clock.now()

    async def request(n: int) -> None:
        async with sessions() as s:
            for _ in range(n):
                await queue.request_sync(s, [cal.id], now)
            await s.commit()

    async def claim() -> queue.Claim:
        async with sessions() as s:
            [claimed] = await queue.claim(s, owner="w", now=now, lease_until=now + timedelta(minutes=2), limit=10)
            await s.execute(queue._RELEASE, {"ids": [cal.id], "owner": "w"})
            await s.commit()
        return claimed

    async def done(claimed: queue.Claim) -> bool:
        async with sessions() as s:
            newer = await queue.done(s, claimed)
            await s.commit()
        return newer

    await request(2)
    first = await claim()
    await request(3)  # while it syncs
    assert await done(first) is True and await requests(sessions, cal.id) == 3
    second = await claim()
    assert second.watermark > first.watermark
    assert await done(second) is False and await requests(sessions, cal.id) == 0
