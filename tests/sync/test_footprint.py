"""An increment recomputes the pairs it can concern (service.domain.footprint), not
every pair of the calendar's owner: a manager's 1:1 with one report moved touches
that pair alone, a busy block over another report's 1:1 touches that one and opens
its double_booked finding."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from service.db.models import Calendar, Finding, Pair, Person
from service.domain.events import Kind
from service.domain.footprint import Footprint
from service.runtime import close_worker, recompute_on_change
from service.sync import queue
from tests.conftest import T0
from tests.sync.runtime_world import running_world
from tests.sync.test_runtime import connect_google_org

DAY = timedelta(days=1)


@pytest.fixture
async def world(db_url, sessions, clock):
    async with running_world(db_url, clock) as w:
        yield w


def _google_time(t: datetime) -> dict[str, str]:
    return {"dateTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "timeZone": "UTC"}


async def test_a_change_recomputes_the_pairs_it_concerns_only(world, factory, sessions, clock):
    manager = await factory.person(email=world.add("maya@acme.test", "google"))
    reports = [await factory.person(email=world.add(f"{n}@acme.test", "google"), manager=manager) for n in "ab"]
    pairs = {r.email: (await factory.pair(manager, r)).id for r in reports}
    day = (T0 + 2 * DAY).replace(hour=10, minute=0, second=0, microsecond=0)
    world.one_on_one("google", manager.email, "a@acme.test", day, event_id="withA")
    world.one_on_one("google", manager.email, "b@acme.test", day + timedelta(hours=2), event_id="withB")
    await connect_google_org(world, sessions)
    recomputed: list[set[int]] = []
    recompute = recompute_on_change(sessions, clock)

    async def recorded(pair_ids: set[int]) -> None:
        recomputed.append(pair_ids)
        await recompute(pair_ids)

    worker = world.worker(sessions, on_changed=recorded)

    async def sync(*emails: str) -> list[set[int]]:
        async with sessions() as s:
            ids = (
                await s.scalars(
                    select(Calendar.id).join(Person, Person.id == Calendar.person_id).where(Person.email.in_(emails))
                )
            ).all()
            await queue.request_sync(s, ids, clock.now())
            await s.commit()
        recomputed.clear()
        await worker.drain()
        return list(recomputed)

    try:
        await worker.drain()  # first syncs: everything may have changed
        assert set().union(*recomputed) == set(pairs.values())

        # Moved by 45 minutes, still clear of the 1:1 with b: only (maya, a), in both calendars' syncs.
        moved = day + timedelta(minutes=45)
        patch = {"start": _google_time(moved), "end": _google_time(moved + timedelta(minutes=30))}
        world.sandbox.google.store.update([manager.email, "a@acme.test"], "withA", patch, at=clock.now())
        assert await sync(manager.email, "a@acme.test") == [{pairs["a@acme.test"]}] * 2

        # A block of maya's own over her 1:1 with b: (maya, b) alone, and it is double-booked now.
        block = day + timedelta(hours=2, minutes=15)
        event = {
            "id": "block1",
            "status": "confirmed",
            "summary": "Focus",
            "start": _google_time(block),
            "end": _google_time(block + timedelta(hours=1)),
            "organizer": {"email": manager.email},
            "eventType": "default",
        }
        world.sandbox.google.store.create([manager.email], event, at=clock.now())
        assert await sync(manager.email) == [{pairs["b@acme.test"]}]
    finally:
        await close_worker(worker)
    async with sessions() as s:
        found = (await s.execute(select(Finding.type, Finding.pair_id).where(Finding.resolved_at.is_(None)))).all()
        pair_ids = set((await s.scalars(select(Pair.id))).all())
    assert ("double_booked", pairs["b@acme.test"]) in found and pair_ids == set(pairs.values())


def test_a_footprint_widens_for_a_series_or_an_event_it_cannot_place():
    at = datetime(2026, 5, 4, 9)
    series = Footprint()
    series.add(Kind.series.value, at, at + timedelta(minutes=30), ["a@x.test"])
    assert series.wide
    stub = Footprint()  # a cancelled occurrence as a stub: no times, no series known
    stub.add(Kind.instance.value, None, None, [], original_start=at)
    assert stub.wide
    moved = Footprint()  # an instance moved: where it is now, and its slot in the series
    moved.add(
        Kind.instance.value, at + timedelta(hours=2), at + timedelta(hours=3), ["A@x.test"], original_start=at,
        length=timedelta(minutes=30),
    )  # fmt: skip
    assert not moved.wide and moved.people == {"a@x.test"}
    assert moved.spans == [(at + timedelta(hours=2), at + timedelta(hours=3)), (at, at + timedelta(minutes=30))]
