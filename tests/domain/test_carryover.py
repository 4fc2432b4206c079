"""Carry-over boundaries: which items move, where to, and only once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from service.db.models import AgendaItem
from service.domain.carryover import carry_over, collect_pending
from tests.conftest import T0

DAY = timedelta(days=1)


@pytest.fixture
async def pair(factory):
    manager = await factory.person(name="Maya")
    report = await factory.person(manager=manager, name="Li")
    return await factory.pair(manager, report), manager, report


async def run(sessions, fn, *args):
    async with sessions() as s:
        result = await fn(s, *args)
        await s.commit()
    return result


async def items_of(sessions, meeting) -> list[AgendaItem]:
    async with sessions() as s:
        return list(
            (
                await s.scalars(select(AgendaItem).where(AgendaItem.meeting_id == meeting.id).order_by(AgendaItem.id))
            ).all()
        )


async def test_cancelled_meeting_moves_open_items_to_the_next_meeting(sessions, factory, clock, pair):
    p, manager, report = pair
    a = await factory.meeting(p, start=T0 + DAY, status="cancelled")
    c = await factory.meeting(p, start=T0 + 15 * DAY)
    b = await factory.meeting(p, start=T0 + 8 * DAY)  # created later, starts earlier: still "next"
    open_item = await factory.agenda_item(a, report, body="promotion path", minutes=10)
    await factory.agenda_item(a, manager, body="already covered", done=True)

    copies = await run(sessions, carry_over, a.id, clock.now())

    assert [(x.meeting_id, x.author_id, x.body, x.minutes, x.private, x.done, x.carried_from_id) for x in copies] == [
        (b.id, report.id, "promotion path", 10, False, False, open_item.id)
    ]
    assert [x.id for x in await items_of(sessions, b)] == [copies[0].id]
    assert await items_of(sessions, c) == []
    # the source stays on the cancelled meeting, untouched, as history
    assert [(x.id, x.done) for x in await items_of(sessions, a)] == [(open_item.id, False), (open_item.id + 1, True)]


async def test_ended_meeting_carries_from_the_moment_it_ends(sessions, factory, clock, pair):
    p, _manager, report = pair
    a = await factory.meeting(p, start=T0 + DAY, minutes=30)
    b = await factory.meeting(p, start=T0 + 8 * DAY)
    await factory.agenda_item(a, report, body="open")

    clock.set(a.end - timedelta(seconds=1))  # still running
    assert await run(sessions, carry_over, a.id, clock.now()) == []
    clock.set(a.end)  # end <= now
    copies = await run(sessions, carry_over, a.id, clock.now())
    assert [x.meeting_id for x in copies] == [b.id]


async def test_scheduled_future_meeting_carries_nothing(sessions, factory, clock, pair):
    p, _manager, report = pair
    a = await factory.meeting(p, start=T0 + DAY)
    b = await factory.meeting(p, start=T0 + 8 * DAY)
    await factory.agenda_item(a, report)
    assert await run(sessions, carry_over, a.id, clock.now()) == []
    assert await items_of(sessions, b) == []
    assert await run(sessions, carry_over, 999_999, clock.now()) == []  # unknown id: nothing


async def test_next_meeting_skips_cancelled_declined_and_already_started(sessions, factory, clock, pair):
    p, _manager, report = pair
    a = await factory.meeting(p, start=T0 - 7 * DAY)  # ended a week ago
    await factory.meeting(p, start=T0 - DAY)  # held yesterday: in the past, not a target
    await factory.meeting(p, start=T0 - timedelta(minutes=10))  # under way now
    await factory.meeting(p, start=T0 + DAY, status="cancelled")
    await factory.meeting(p, start=T0 + 2 * DAY, status="declined")
    target = await factory.meeting(p, start=T0 + 3 * DAY)
    other_pair_meeting = await factory.meeting(
        await factory.pair(await factory.person(), report), start=T0 + timedelta(hours=1)
    )
    await factory.agenda_item(a, report)

    copies = await run(sessions, carry_over, a.id, clock.now())
    assert [x.meeting_id for x in copies] == [target.id]
    assert await items_of(sessions, other_pair_meeting) == []


async def test_meeting_starting_exactly_now_receives_items(sessions, factory, clock, pair):
    p, _manager, report = pair
    a = await factory.meeting(p, start=T0 - timedelta(minutes=30), minutes=30)  # ends at T0
    b = await factory.meeting(p, start=T0)  # back to back
    await factory.agenda_item(a, report)
    assert [x.meeting_id for x in await run(sessions, carry_over, a.id, clock.now())] == [b.id]


async def test_private_item_stays_private_and_keeps_its_author(sessions, factory, clock, pair):
    p, manager, _report = pair
    a = await factory.meeting(p, start=T0 + DAY, status="cancelled")
    b = await factory.meeting(p, start=T0 + 8 * DAY)
    secret = await factory.agenda_item(a, manager, body="raise concerns about tone", private=True, minutes=5)
    [copy] = await run(sessions, carry_over, a.id, clock.now())
    assert (copy.meeting_id, copy.private, copy.author_id, copy.body, copy.minutes, copy.carried_from_id) == (
        b.id,
        True,
        manager.id,
        "raise concerns about tone",
        5,
        secret.id,
    )


async def test_running_twice_carries_nothing_new(sessions, factory, clock, pair):
    p, manager, report = pair
    a = await factory.meeting(p, start=T0 + DAY, status="cancelled")
    b = await factory.meeting(p, start=T0 + 8 * DAY)
    await factory.agenda_item(a, report)
    await factory.agenda_item(a, manager)
    assert len(await run(sessions, carry_over, a.id, clock.now())) == 2
    assert await run(sessions, carry_over, a.id, clock.now()) == []
    assert await run(sessions, collect_pending, p.id, b.id, clock.now()) == []
    assert len(await items_of(sessions, b)) == 2


async def test_chain_links_each_copy_to_its_immediate_source(sessions, factory, clock, pair):
    p, _manager, report = pair
    a = await factory.meeting(p, start=T0 + DAY)
    b = await factory.meeting(p, start=T0 + 8 * DAY)
    c = await factory.meeting(p, start=T0 + 15 * DAY)
    original = await factory.agenda_item(a, report, body="career goals")

    clock.set(a.end)
    [on_b] = await run(sessions, carry_over, a.id, clock.now())
    clock.set(b.end)
    [on_c] = await run(sessions, carry_over, b.id, clock.now())
    # A's item already has a copy: it is not carried again, even now that C is next for A too
    assert await run(sessions, carry_over, a.id, clock.now()) == []

    assert (on_b.meeting_id, on_b.carried_from_id) == (b.id, original.id)
    assert (on_c.meeting_id, on_c.carried_from_id, on_c.body) == (c.id, on_b.id, "career goals")
    assert [x.id for x in await items_of(sessions, c)] == [on_c.id]


async def test_item_done_in_the_next_meeting_stops_the_chain(sessions, factory, clock, pair):
    p, _manager, report = pair
    a = await factory.meeting(p, start=T0 + DAY)
    b = await factory.meeting(p, start=T0 + 8 * DAY)
    c = await factory.meeting(p, start=T0 + 15 * DAY)
    await factory.agenda_item(a, report)
    clock.set(a.end)
    [on_b] = await run(sessions, carry_over, a.id, clock.now())
    async with sessions() as s:
        (await s.get(AgendaItem, on_b.id)).done = True
        await s.commit()
    clock.set(b.end)
    assert await run(sessions, carry_over, b.id, clock.now()) == []
    assert await items_of(sessions, c) == []


async def test_no_next_meeting_then_one_is_created(sessions, factory, clock, pair):
    p, manager, report = pair
    a = await factory.meeting(p, start=T0 + DAY, status="cancelled")
    item = await factory.agenda_item(a, report, body="waits")
    await factory.agenda_item(a, manager, body="mine", private=True)
    assert await run(sessions, carry_over, a.id, clock.now()) == []  # nowhere to go yet

    b = await factory.meeting(p, start=T0 + 8 * DAY)
    landed = await run(sessions, collect_pending, p.id, b.id, clock.now())
    assert [(x.meeting_id, x.body, x.carried_from_id) for x in landed] == [
        (b.id, "waits", item.id),
        (b.id, "mine", item.id + 1),
    ]
    assert await run(sessions, collect_pending, p.id, b.id, clock.now()) == []  # idempotent too


async def test_collect_pending_gathers_every_finished_meeting_oldest_first(sessions, factory, clock, pair):
    p, _manager, report = pair
    clock.set(T0 + 30 * DAY)
    old = await factory.meeting(p, start=T0 + DAY)  # both ended with nothing after them
    newer = await factory.meeting(p, start=T0 + 8 * DAY)
    await factory.agenda_item(newer, report, body="newer")
    await factory.agenda_item(old, report, body="older")
    n = await factory.meeting(p, start=T0 + 31 * DAY)
    landed = await run(sessions, collect_pending, p.id, n.id, clock.now())
    assert [x.body for x in landed] == ["older", "newer"]


async def test_collect_pending_ignores_other_pairs(sessions, factory, clock, pair):
    p, _manager, report = pair
    other = await factory.pair(await factory.person(), report)
    a = await factory.meeting(other, start=T0 + DAY, status="cancelled")
    await factory.agenda_item(a, report)
    b = await factory.meeting(p, start=T0 + 8 * DAY)
    assert await run(sessions, collect_pending, p.id, b.id, clock.now()) == []


async def test_copies_are_appended_to_an_explicitly_ordered_agenda(sessions, factory, clock, pair):
    p, manager, report = pair
    a = await factory.meeting(p, start=T0 + DAY, status="cancelled")
    b = await factory.meeting(p, start=T0 + 8 * DAY)
    await factory.agenda_item(b, manager, position=1)
    await factory.agenda_item(b, report, position=2)
    await factory.agenda_item(a, report, body="first")
    await factory.agenda_item(a, report, body="second")
    copies = await run(sessions, carry_over, a.id, clock.now())
    assert [(x.body, x.position) for x in copies] == [("first", 3), ("second", 4)]
