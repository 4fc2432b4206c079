"""The periodic pass (`schedule.recompute_due`): findings appear on time with no
calendar change, only due pairs are touched, running it twice changes nothing,
a finding that stops being true is resolved (and reopened, never duplicated),
and API-created meetings are closed with their talking points carried over."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update

from service.db.models import (
    AgendaItem,
    Calendar,
    CalendarConnection,
    EventRevision,
    Finding,
    Meeting,
    Pair,
    Person,
)
from service.domain.event_codec import revision
from service.domain.people import PersonRow, import_people
from service.domain.recompute import load_pairs, recompute
from service.domain.schedule import mark_due, recompute_due
from tests.domain.detection.builders import World, utc

START = utc("2026-03-02T09:00Z")
LAST_SLOT = utc("2026-03-16T08:00Z")  # the series' last Monday (09:00 Berlin)


def story() -> World:
    w = World(now="2026-03-02T09:00Z")
    w.person("maya", tz="Europe/Berlin")
    w.person("li", manager="maya", tz="Europe/Berlin")
    w.person("omar", manager="maya", tz="Europe/Berlin")
    w.series(
        "s",
        at="2026-01-01T00:00Z",
        start="2026-01-05T09:00",
        tz="Europe/Berlin",
        rrule="FREQ=WEEKLY;BYDAY=MO;UNTIL=20260316T080000Z",
        organizer="maya",
        attendees=["li"],
    )
    return w


async def load_world(session, w: World, now: datetime) -> None:
    """The org, one calendar each, and the world's history as synced revisions."""
    await import_people(session, [PersonRow(p.email, p.email, p.timezone, p.manager) for p in w.people], now)
    connection = CalendarConnection(
        provider="google", kind="org", scopes="", status="active", created_at=now, updated_at=now
    )
    session.add(connection)
    await session.flush()
    ids = {}
    for person in (await session.scalars(select(Person))).all():
        calendar = Calendar(
            person_id=person.id,
            connection_id=connection.id,
            provider="google",
            external_id=person.email,
            status="active",
            failures=0,
            created_at=now,
            updated_at=now,
        )
        session.add(calendar)
        await session.flush()
        ids[person.email] = calendar.id
    add_revisions(session, w, ids)


def add_revisions(session, w: World, ids: dict[str, int], since: int = 0) -> int:
    changes = [c for stream in w.history.changes.values() for c in stream]
    for c in changes[since:]:
        session.add(EventRevision(**revision(ids[c.calendar], c.event_id, c.changed_at, c.changed_at, c.snapshot)))
    return len(changes)


async def state(sessions) -> tuple:
    """Everything the detector persists, for before/after comparisons."""
    async with sessions() as s:
        pairs = (
            await s.execute(
                select(
                    Pair.id,
                    Pair.cadence,
                    Pair.interval_days,
                    Pair.last_held,
                    Pair.next_scheduled,
                    Pair.next_check_at,
                    Pair.updated_at,
                ).order_by(Pair.id)
            )
        ).all()
        meetings = (
            await s.execute(
                select(Meeting.id, Meeting.original_start, Meeting.start, Meeting.status, Meeting.updated_at).order_by(
                    Meeting.id
                )
            )
        ).all()
        findings = (
            await s.execute(select(Finding.id, Finding.key, Finding.details, Finding.resolved_at).order_by(Finding.id))
        ).all()
    return pairs, meetings, [tuple(f) for f in findings]


async def run(sessions, now: datetime, last_run: datetime | None = None) -> int:
    async with sessions() as s:
        done = await recompute_due(s, now, last_run=last_run)
        await s.commit()
    return done


async def open_findings(sessions) -> dict[str, Finding]:
    """Open findings by "type|report"."""
    async with sessions() as s:
        rows = (await s.scalars(select(Finding).where(Finding.resolved_at.is_(None)))).all()
    return {"|".join(f.key.split("|")[0:3:2]): f for f in rows}  # "type|report"


async def li_pair(sessions) -> Pair:
    async with sessions() as s:
        return await s.scalar(
            select(Pair).join(Person, Person.id == Pair.report_id).where(Person.email == "li@acme.test")
        )


async def li_meetings(sessions) -> dict[datetime, str]:
    pair = await li_pair(sessions)
    async with sessions() as s:
        rows = (await s.scalars(select(Meeting).where(Meeting.pair_id == pair.id))).all()
    return {m.original_start: m.status for m in rows}


async def test_findings_appear_on_time_with_no_calendar_change(sessions):
    w = story()
    async with sessions() as s:
        await load_world(s, w, START)
        await s.commit()
    # New pairs are due at once: the first pass looks at both.
    assert await run(sessions, START) == 2
    assert await run(sessions, START, last_run=START) == 0
    assert (await li_meetings(sessions))[LAST_SLOT - timedelta(days=7)] == "scheduled"
    assert set(await open_findings(sessions)) == {"no_upcoming|omar@acme.test"}  # no 1:1 at all

    # The 9 March 1:1 ends: held, with nobody touching a calendar; the talking point
    # left open on it moves on to 16 March.
    async with sessions() as s:
        ninth, sixteenth = [
            (await s.scalars(select(Meeting.id).where(Meeting.original_start == slot))).one()
            for slot in (LAST_SLOT - timedelta(days=7), LAST_SLOT)
        ]
        li = await s.scalar(select(Person.id).where(Person.email == "li@acme.test"))
        s.add(AgendaItem(meeting_id=ninth, author_id=li, body="promotion", created_at=START, updated_at=START))
        await s.commit()
    t = LAST_SLOT - timedelta(days=7) + timedelta(minutes=30)
    assert await run(sessions, t - timedelta(seconds=1)) in (0, 1)
    assert (await li_meetings(sessions))[LAST_SLOT - timedelta(days=7)] == "scheduled"
    assert await run(sessions, t) == 1
    assert (await li_meetings(sessions))[LAST_SLOT - timedelta(days=7)] == "held"
    assert (await li_pair(sessions)).last_held == LAST_SLOT - timedelta(days=7)
    async with sessions() as s:
        carried = (await s.scalars(select(AgendaItem).where(AgendaItem.meeting_id == sixteenth))).all()
    assert [item.body for item in carried] == ["promotion"]

    # The last slot starts: nothing is upcoming any more.
    await run(sessions, LAST_SLOT - timedelta(seconds=1))
    assert "no_upcoming|li@acme.test" not in await open_findings(sessions)
    assert await run(sessions, LAST_SLOT) == 1
    found = await open_findings(sessions)
    assert "no_upcoming|li@acme.test" in found
    assert found["no_upcoming|li@acme.test"].details["evidence"] == [  # stored: lines of text and events
        ["no 1:1 scheduled in (2026-03-16T08:00:00Z, 2026-03-30T08:00:00Z]"]
    ]

    # 1.5 × 7 days after the last held start: a cadence gap, not a moment before.
    await run(sessions, LAST_SLOT + timedelta(minutes=30))
    gap = LAST_SLOT + timedelta(days=10, hours=12)
    await run(sessions, gap - timedelta(seconds=1))
    assert await run(sessions, gap) == 0  # the boundary is just after: nothing due yet
    assert "cadence_gap|li@acme.test" not in await open_findings(sessions)
    assert await run(sessions, gap + timedelta(seconds=1)) == 1
    found = await open_findings(sessions)
    assert found["cadence_gap|li@acme.test"].details["since"] == "2026-03-16T08:00:00+00:00"

    # Idempotent: running the pass again changes nothing; a full recompute at the same
    # instant concludes the same (only texts quoting `now` in pairs that were not due,
    # like omar's no_upcoming horizon, are refreshed), and running it twice changes nothing.
    before = await state(sessions)
    assert await run(sessions, gap + timedelta(seconds=1)) == 0
    assert await state(sessions) == before
    for _ in range(2):
        async with sessions() as s:
            await recompute(s, gap + timedelta(seconds=1))
            await s.commit()
        after = await state(sessions)
        assert after[:2] == before[:2]
        assert [(f[0], f[1], f[3]) for f in after[2]] == [(f[0], f[1], f[3]) for f in before[2]]
    assert await state(sessions) == after


async def test_a_finding_that_stops_being_true_is_resolved_then_reopened_never_duplicated(sessions):
    w = story()
    async with sessions() as s:
        await load_world(s, w, START)
        await s.commit()
        ids = dict((await s.execute(select(Calendar.external_id, Calendar.id))).all())
    synced = len([c for stream in w.history.changes.values() for c in stream])
    t = LAST_SLOT + timedelta(days=11)
    assert await run(sessions, t) == 2
    assert {"no_upcoming|li@acme.test", "cadence_gap|li@acme.test"} <= set(await open_findings(sessions))

    # A 1:1 is booked for 2 April (the sync sees it and recomputes the pair's people).
    booked = t + timedelta(hours=1)
    w.event(
        "r", at="2026-03-27T09:00Z", start="2026-04-02T10:00Z", organizer="li", attendees=["maya"], title="Catch-up"
    )
    li = (await li_pair(sessions)).report_id
    async with sessions() as s:
        add_revisions(s, w, ids, since=synced)
        await s.flush()
        await recompute(s, booked, {li})
        await s.commit()
    found = await open_findings(sessions)
    assert "no_upcoming|li@acme.test" not in found and "cadence_gap|li@acme.test" in found
    async with sessions() as s:
        resolved = (
            await s.scalars(select(Finding).where(Finding.key.startswith("no_upcoming|maya@acme.test|li")))
        ).all()
    assert [f.resolved_at for f in resolved] == [booked]

    # It takes place; then nothing is upcoming again: the same finding reopens.
    await run(sessions, utc("2026-04-02T10:30Z"))
    assert (await li_meetings(sessions))[utc("2026-04-02T10:00Z")] == "held"
    assert "no_upcoming|li@acme.test" in await open_findings(sessions)
    async with sessions() as s:
        rows = (await s.scalars(select(Finding).where(Finding.key.startswith("no_upcoming|maya@acme.test|li")))).all()
        gaps = (await s.scalars(select(Finding.key).where(Finding.type == "cadence_gap"))).all()
    assert len(rows) == 1 and rows[0].id == resolved[0].id and rows[0].resolved_at is None
    assert sorted(gaps) == ["cadence_gap|maya@acme.test|li@acme.test|2026-03-16T08:00:00Z"]


async def test_api_meetings_are_held_once_ended_and_carry_their_points_over(sessions, factory):
    manager = await factory.person()
    report = await factory.person(manager=manager)
    pair = await factory.pair(manager, report)
    assert await run(sessions, START) == 1  # the new pair (no calendar: never due again)
    first = await factory.meeting(pair, start=START + timedelta(days=1))
    second = await factory.meeting(pair, start=START + timedelta(days=8))
    gone = await factory.meeting(pair, start=START + timedelta(days=2), status="cancelled")
    await factory.agenda_item(first, report, body="promotion")
    assert await run(sessions, START + timedelta(days=1, minutes=29)) == 0
    assert await run(sessions, START + timedelta(days=1, minutes=30)) == 1
    async with sessions() as s:
        statuses = dict((await s.execute(select(Meeting.id, Meeting.status))).all())
        carried = (await s.scalars(select(AgendaItem).where(AgendaItem.meeting_id == second.id))).all()
    assert statuses == {first.id: "held", second.id: "scheduled", gone.id: "cancelled"}
    assert [item.body for item in carried] == ["promotion"]
    assert await run(sessions, START + timedelta(days=3)) == 0
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(AgendaItem)) == 2


async def test_setting_the_cadence_makes_the_pair_due(sessions, client, factory):
    manager = await factory.person()
    report = await factory.person(manager=manager)
    pair = await factory.pair(manager, report)
    assert await run(sessions, START) == 1
    assert await run(sessions, START) == 0
    h = await factory.token(manager)
    r = await client.patch(f"/v1/pairs/{pair.id}", headers=h, json={"cadence_days": 14})
    assert r.status_code == 200, r.text
    assert await run(sessions, START) == 1
    async with sessions() as s:
        stored = await s.get(Pair, pair.id)
    assert (stored.cadence, stored.interval_days, stored.next_check_at) == ("none", 14, None)


async def test_marking_pairs_due_takes_their_locks_in_the_recomputes_order(sessions, db_url):
    """A sync marks the pairs of its increment due while recomputes hold pairs, locked
    in id order: marked in another order (the heap's), a sync holding one pair and a
    recompute holding another waited for each other until PostgreSQL broke the
    deadlock a second later, failing the recompute."""
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks: SQLite has one writer")
    w = story()
    async with sessions() as s:
        await load_world(s, w, START)
        await s.commit()
    async with sessions() as s:
        first, second = (await s.scalars(select(Pair.id).order_by(Pair.id))).all()
        # The first pair's row rewritten: the heap now holds it after the second.
        await s.execute(update(Pair).where(Pair.id == first).values(next_check_at=START))
        await s.commit()
    async with sessions() as recomputing, sessions() as syncing:
        await recomputing.execute(text("SET LOCAL lock_timeout = '500ms'"))
        await load_pairs(recomputing, pair_ids={first})

        async def mark() -> None:
            # The plan of a larger org's IN list: a scan in heap order.
            await syncing.execute(text("SET LOCAL enable_indexscan = off"))
            await syncing.execute(text("SET LOCAL enable_bitmapscan = off"))
            await mark_due(syncing, {first, second}, START)
            await syncing.commit()

        marking = asyncio.create_task(mark())
        await asyncio.sleep(0.3)  # the sync now waits for the first pair
        assert [pair.id for pair, _m, _r in await load_pairs(recomputing, pair_ids={second})] == [second]
        await recomputing.commit()
        await asyncio.wait_for(marking, 5)
    async with sessions() as s:
        assert set((await s.scalars(select(Pair.next_check_at))).all()) == {START}
