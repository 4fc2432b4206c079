"""The reconciler: bulk baselines, increments, and idempotence (re-applying a
ChangeSet, as a worker does after a crash between fetch and commit, changes nothing)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from sqlalchemy import select

from service.db.models import CalendarEvent, EventRevision
from service.domain.event_codec import from_json, row_matches
from service.domain.events import Attendee, EventSnapshot, Kind, Response, Status
from service.sync import reconciler
from service.sync.port import ChangeSet, SyncWindow
from tests.sync.sync_factories import calendar

OWNER = "owner@acme.test"


def _snap(i: int, now: datetime, **changes) -> EventSnapshot:
    """Event `i` of a mix: singles (some all-day, some cancelled), series, a moved
    instance and a cancelled-instance stub."""
    start = now - timedelta(days=i % 90, hours=i % 7)
    base = dict(
        calendar=OWNER,
        event_id=f"ev{i:04d}",
        kind=Kind.single,
        status=Status.confirmed,
        updated=now - timedelta(days=100) + timedelta(minutes=i),
        provider="google",
        ical_uid=f"ev{i:04d}@google.com",
        start=start,
        end=start + timedelta(minutes=30),
        timezone="Europe/Berlin",
        organizer=OWNER,
        title=f"Meeting {i}",
        attendees=(
            Attendee(OWNER, Response.accepted, organizer=True),
            Attendee(f"p{i % 7}@acme.test", Response.needs_action),
            Attendee("room@resource.test", Response.accepted, resource=True),
        ),
    )
    if i % 10 == 1:
        base.update(kind=Kind.series, recurrence=("RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10",))
    elif i % 10 == 2:
        base.update(kind=Kind.instance, series_id="ev0001", original_start=start - timedelta(hours=1))
    elif i % 10 == 3:  # a cancelled occurrence: a stub without times
        base.update(
            kind=Kind.instance,
            series_id="ev0001",
            status=Status.cancelled,
            original_start=start,
            start=None,
            end=None,
            attendees=(),
            organizer=None,
            title="",
        )
    elif i % 10 == 4:
        day = datetime(start.year, start.month, start.day, tzinfo=start.tzinfo)
        base.update(all_day=True, start=day, end=day + timedelta(days=1), busy=False)
    elif i % 10 == 5:
        base.update(status=Status.cancelled)
    base.update(changes)
    return EventSnapshot(**base)


def _window(now: datetime) -> SyncWindow:
    return SyncWindow(now - timedelta(days=120), now + timedelta(days=400))


async def _apply(sessions, calendar_id: int, changes: ChangeSet, at: datetime, gone: set[str] = frozenset()):
    async with sessions() as s:
        applied = await reconciler.apply(s, calendar_id, changes, gone_series=set(gone), observed_at=at)
        await s.commit()
    return applied


async def _state(sessions, calendar_id: int) -> tuple[dict, list]:
    async with sessions() as s:
        rows = (await s.scalars(select(CalendarEvent).where(CalendarEvent.calendar_id == calendar_id))).all()
        revisions = (
            await s.scalars(
                select(EventRevision).where(EventRevision.calendar_id == calendar_id).order_by(EventRevision.id)
            )
        ).all()
    columns = [c.key for c in CalendarEvent.__table__.columns if c.key != "id"]
    return (
        {r.event_id: {k: getattr(r, k) for k in columns} for r in rows},
        [(r.event_id, r.changed_at, r.observed_at, r.snapshot) for r in revisions],
    )


async def test_a_baseline_into_an_empty_calendar_stores_every_event_once(factory, sessions, clock):
    now = clock.now()
    cal = await calendar(factory, await factory.person(email=OWNER))
    snaps = [_snap(i, now) for i in range(reconciler._CHUNK * 2 + 37)]  # several batches
    changes = ChangeSet(upserts=snaps, cursor="c1", baseline=_window(now))

    applied = await _apply(sessions, cal.id, changes, now)

    assert (applied.seen, applied.changed, applied.removed) == (len(snaps), len(snaps), 0)
    assert applied.event_ids == {s.event_id for s in snaps}
    rows, revisions = await _state(sessions, cal.id)
    assert set(rows) == {s.event_id for s in snaps}
    async with sessions() as s:
        stored = {r.event_id: r for r in (await s.scalars(select(CalendarEvent))).all()}
    assert all(row_matches(stored[s.event_id], s) for s in snaps)
    assert all(rows[s.event_id]["updated"] == s.updated and rows[s.event_id]["removed_at"] is None for s in snaps)
    # One revision per event, in the order the provider listed them, each the snapshot itself.
    assert [r[0] for r in revisions] == [s.event_id for s in snaps]
    assert [from_json(r[3]) for r in revisions] == snaps
    assert all(r[1] == s.updated and r[2] == now for r, s in zip(revisions, snaps))


async def test_reapplying_the_same_changeset_changes_nothing(factory, sessions, clock):
    now = clock.now()
    cal = await calendar(factory, await factory.person(email=OWNER))
    baseline = ChangeSet(upserts=[_snap(i, now) for i in range(250)], cursor="c1", baseline=_window(now))
    await _apply(sessions, cal.id, baseline, now)
    before = await _state(sessions, cal.id)

    again = await _apply(sessions, cal.id, baseline, now + timedelta(minutes=5))

    assert (again.changed, again.removed, again.event_ids) == (0, 0, set())
    assert await _state(sessions, cal.id) == before

    # An increment: one event edited, one added, one removed, the rest unchanged.
    later = now + timedelta(hours=1)
    edited = _snap(10, now, title="Renamed", updated=later)
    increment = ChangeSet(
        upserts=[_snap(20, now), edited, _snap(900, now, updated=later)], removed=["ev0030"], cursor="c2"
    )
    applied = await _apply(sessions, cal.id, increment, later)
    assert (applied.changed, applied.removed) == (2, 1)
    assert applied.event_ids == {"ev0010", "ev0900", "ev0030"}
    after = await _state(sessions, cal.id)
    assert after[0]["ev0010"]["title"] == "Renamed" and after[0]["ev0030"]["removed_at"] == later
    assert len(after[1]) == len(before[1]) + 3

    replayed = await _apply(sessions, cal.id, increment, later + timedelta(minutes=1))
    assert (replayed.changed, replayed.removed) == (0, 0)
    assert await _state(sessions, cal.id) == after


async def test_a_new_baseline_removes_what_it_no_longer_lists_once(factory, sessions, clock):
    now = clock.now()
    cal = await calendar(factory, await factory.person(email=OWNER))
    snaps = [_snap(i, now) for i in range(40)]
    await _apply(sessions, cal.id, ChangeSet(upserts=snaps, cursor="c1", baseline=_window(now)), now)

    # A full resync that no longer lists ev0007 (single) or ev0011 (series: only through gone_series).
    later = now + timedelta(days=1)
    kept = [s for s in snaps if s.event_id not in ("ev0007", "ev0011")]
    resync = ChangeSet(upserts=kept, cursor="c2", baseline=_window(later))
    applied = await _apply(sessions, cal.id, resync, later, gone={"ev0011"})
    assert (applied.changed, applied.removed, applied.event_ids) == (0, 2, {"ev0007", "ev0011"})
    state = await _state(sessions, cal.id)
    assert state[0]["ev0007"]["removed_at"] == later and state[0]["ev0011"]["removed_at"] == later
    assert state[1][-2:] == [("ev0007", later, later, None), ("ev0011", later, later, None)]

    again = await _apply(sessions, cal.id, resync, later + timedelta(minutes=1), gone={"ev0011"})
    assert (again.changed, again.removed) == (0, 0)
    assert await _state(sessions, cal.id) == state

    # It comes back: the row is revived with a new revision.
    back = dataclasses.replace(snaps[7], updated=later + timedelta(hours=1))
    revived = await _apply(sessions, cal.id, ChangeSet(upserts=[back], cursor="c3"), later + timedelta(hours=1))
    assert revived.changed == 1
    assert (await _state(sessions, cal.id))[0]["ev0007"]["removed_at"] is None


async def test_an_event_listed_twice_keeps_the_later_copy(factory, sessions, clock):
    now = clock.now()
    cal = await calendar(factory, await factory.person(email=OWNER))
    first, second = _snap(1000, now), _snap(1000, now, title="Later", updated=now + timedelta(minutes=1))
    applied = await _apply(
        sessions, cal.id, ChangeSet(upserts=[first, _snap(1001, now), first, second], cursor="c1"), now
    )
    assert applied.changed == 3  # first, ev1001, second; the repeated first is no change
    rows, revisions = await _state(sessions, cal.id)
    assert rows["ev1000"]["title"] == "Later" and len(rows) == 2
    assert [(r[0], r[3]["title"]) for r in revisions] == [
        ("ev1000", "Meeting 1000"),
        ("ev1001", "Meeting 1001"),
        ("ev1000", "Later"),
    ]

    # A stored event listed twice: compared against the first copy's values, not the stored row.
    later = now + timedelta(hours=1)
    renamed = _snap(1000, now, title="Renamed", updated=later)
    moved = dataclasses.replace(
        renamed,
        start=renamed.start + timedelta(hours=1),
        end=renamed.end + timedelta(hours=1),
        updated=later + timedelta(minutes=1),
    )
    applied = await _apply(sessions, cal.id, ChangeSet(upserts=[renamed, renamed, moved], cursor="c2"), later)
    assert (applied.changed, applied.event_ids) == (2, {"ev1000"})
    rows, revisions = await _state(sessions, cal.id)
    assert (rows["ev1000"]["title"], rows["ev1000"]["start"]) == ("Renamed", moved.start)
    assert [from_json(r[3]) for r in revisions[-2:]] == [renamed, moved]
