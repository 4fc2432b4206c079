"""What a recompute reads: only the events with a state reaching the detector's
reach (event_revisions.horizon; a year of history is mostly events long over),
and from that it concludes exactly what the detector concludes from everything;
with a cache (a worker's), what a fresh read would give, reading only what is new.
It holds the cyclic garbage collector off while it runs and always turns it back on."""

from __future__ import annotations

import gc

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import delete, select, update

from bench.detect import load
from bench.synthetic_org import synthetic_org
from service.db.models import Calendar, EventRevision, Person
from service.domain.detection import detect
from service.domain.detection.rules import earliest
from service.domain.event_codec import revision
from service.domain.recompute import HistoryCache, _collector_paused, load_history, recompute
from tests.domain.detection.builders import World, email, stamp, utc
from tests.domain.test_schedule import load_world


def _events(history) -> set[str]:
    return {event_id for _calendar, event_id in history.changes}


async def test_old_events_are_left_unread_unless_a_state_reaches_the_window(sessions):
    w = World(now="2026-06-01T09:00Z")  # reach: 98 days back, 23 February
    w.person("maya")
    w.person("li", manager="maya")
    w.series(
        "weekly",
        at="2025-12-01T00:00Z",
        start="2025-12-01T09:00",
        tz="UTC",
        rrule="FREQ=WEEKLY;BYDAY=MO",
        organizer="maya",
        attendees=["li"],
    )
    w.cancel_occurrence("weekly", "2026-01-12T09:00Z", at="2026-01-10T09:00Z")  # a stub long over
    w.cancel_occurrence("weekly", "2026-05-18T09:00Z", at="2026-05-10T09:00Z")
    for name, day in (("old", "05"), ("legacy", "06"), ("brought_back", "07"), ("gone", "08")):
        w.event(name, at="2026-01-02T09:00Z", start=f"2026-01-{day}T14:00Z", organizer="maya", attendees=["li"])
    w.update("brought_back", at="2026-05-20T09:00Z", start="2026-05-25T14:00Z", end="2026-05-25T14:30Z")
    w.delete("gone", at="2026-05-20T09:00Z")  # cancelled now, but every state of it is in January
    async with sessions() as s:
        await load_world(s, w, w.now)
        # Written before horizons were recorded: it cannot be placed, so it is read.
        await s.flush()
        await s.execute(update(EventRevision).where(EventRevision.event_id == "legacy").values(horizon=None))
        await s.commit()

    emails = {email("maya"), email("li")}
    async with sessions() as s:
        everything = await load_history(s, emails)
        read = await load_history(s, emails, since=earliest(w.now))
    assert _events(everything) - _events(read) == {"old", "gone", f"weekly_{stamp(utc('2026-01-12T09:00Z'))}"}
    brought_back = (email("maya"), "brought_back")
    assert len(read.changes[brought_back]) == 2 and read.changes[brought_back] == everything.changes[brought_back]
    concluded, whole = detect(read, w.people, w.policies, w.now), w.detect()
    assert concluded.findings and (concluded.meetings, concluded.findings) == (whole.meetings, whole.findings)


async def test_a_recompute_from_the_database_concludes_what_the_detector_does_from_everything(db_url, sessions):
    history, people, policies, now = synthetic_org(count=40, months=12)
    stored = await load(db_url, history, people, policies, now)
    async with sessions() as s:
        emails = set((await s.scalars(select(Person.email))).all())
        read = await load_history(s, emails, since=earliest(now))
        assert sum(map(len, read.changes.values())) < stored / 2  # most of a year is long over
        found = await recompute(s, now)
        await s.commit()
    expected = detect(history, people, policies, now)
    assert found.findings and set(found.findings) == set(expected.findings)
    assert set(found.meetings) == set(expected.meetings)
    assert gc.isenabled()


def test_the_collector_waits_for_the_last_recompute_and_is_restored_as_it_was():
    assert gc.isenabled()
    with pytest.raises(RuntimeError), _collector_paused():
        with _collector_paused():  # two recomputes of one process overlap
            assert not gc.isenabled()
        assert not gc.isenabled()
        raise RuntimeError("a recompute fails")
    assert gc.isenabled()
    gc.disable()
    try:
        with _collector_paused():
            pass
        assert not gc.isenabled()  # off before: left off
    finally:
        gc.enable()


async def _stored(sessions, w: World) -> dict[str, int]:
    """The world loaded; its calendars' ids by owner's email."""
    async with sessions() as s:
        await load_world(s, w, w.now)
        await s.commit()
        return dict((await s.execute(select(Person.email, Calendar.id).join(Calendar))).all())


async def _revise(session, w: World, ids: dict[str, int], event_id: str) -> None:
    """Store the latest change the world made to `event_id`, in every calendar holding it."""
    for (calendar, event), stream in w.history.changes.items():
        if event == event_id:
            c = stream[-1]
            session.add(EventRevision(**revision(ids[calendar], c.event_id, c.changed_at, c.changed_at, c.snapshot)))
    await session.commit()


def _read() -> dict[str, float]:
    """oneonone_history_revisions_read_total so far, by reason."""
    return {
        reason: REGISTRY.get_sample_value("oneonone_history_revisions_read_total", {"reason": reason}) or 0.0
        for reason in ("new", "uncached")
    }


def _read_since(before: dict[str, float]) -> dict[str, float]:
    return {reason: n - before[reason] for reason, n in _read().items()}


def _kept() -> float | None:
    """oneonone_history_cache_revisions: what the last cache used keeps."""
    return REGISTRY.get_sample_value("oneonone_history_cache_revisions")


def _same(cached, fresh) -> None:
    assert list(cached.changes) == list(fresh.changes)  # the events, in the order the detector meets them
    assert cached.changes == fresh.changes


async def test_a_cached_history_reads_what_is_new_and_notices_rows_that_went(sessions):
    w = World(now="2026-06-01T09:00Z")
    w.person("maya")
    w.person("li", manager="maya")
    w.series(
        "weekly",
        at="2026-05-01T00:00Z",
        start="2026-05-04T09:00",
        tz="UTC",
        rrule="FREQ=WEEKLY;BYDAY=MO",
        organizer="maya",
        attendees=["li"],
    )
    w.event("lunch", at="2026-05-01T00:00Z", start="2026-06-03T12:00Z", organizer="maya", attendees=["li"])
    ids = await _stored(sessions, w)
    emails, cache = {email("maya"), email("li")}, HistoryCache()
    async with sessions() as s:
        first = await load_history(s, emails, cache)
        _same(first, await load_history(s, emails))
    assert cache.revisions == 4

    w.update("lunch", at="2026-05-20T00:00Z", start="2026-06-04T12:00Z", end="2026-06-04T12:30Z")
    w.cancel_occurrence("weekly", "2026-06-08T09:00Z", at="2026-05-21T00:00Z")
    async with sessions() as s:
        await _revise(s, w, ids, "lunch")
        await _revise(s, w, ids, f"weekly_{stamp(utc('2026-06-08T09:00Z'))}")
        before = _read()
        second = await load_history(s, emails, cache)
        assert _read_since(before) == {"new": 4, "uncached": 0}  # two changes, a copy in each calendar
        _same(second, await load_history(s, emails))
    lunch = (email("maya"), "lunch")
    assert len(second.changes[lunch]) == 2
    assert second.changes[lunch][0] is first.changes[lunch][0]  # kept, not read and parsed again
    assert cache.revisions == 8

    async with sessions() as s:  # rows the cache holds are gone (ids can come back on SQLite)
        await s.execute(delete(EventRevision).where(EventRevision.event_id == "lunch"))
        await s.commit()
        third = await load_history(s, emails, cache)
        _same(third, await load_history(s, emails))
    assert lunch not in third.changes and cache.revisions == 4


async def test_a_bounded_cache_drops_the_calendars_least_recently_used_but_never_those_it_serves(sessions):
    w = World(now="2026-06-01T09:00Z")
    for name in ("maya", "li", "sam"):
        w.person(name)
    w.event("a", at="2026-05-01T00:00Z", start="2026-06-03T12:00Z", organizer="maya", attendees=["li"])
    w.event("b", at="2026-05-01T00:00Z", start="2026-06-03T14:00Z", organizer="li", attendees=["sam"])
    w.event("c", at="2026-05-01T00:00Z", start="2026-06-03T16:00Z", organizer="sam")
    ids = await _stored(sessions, w)
    cache = HistoryCache(max_revisions=3)
    async with sessions() as s:
        before = _read()
        await load_history(s, {email("maya"), email("li")}, cache)  # 1 + 2 revisions: at the bound
        await load_history(s, {email("maya")}, cache)  # maya is now the most recently used
        assert set(cache.calendars) == {ids[email("li")], ids[email("maya")]}
        assert _read_since(before) == {"new": 0, "uncached": 3} and _kept() == 3
        history = await load_history(s, {email("sam")}, cache)  # 2 more: li, the least recent, goes
        _same(history, await load_history(s, {email("sam")}))
        assert list(cache.calendars) == [ids[email("maya")], ids[email("sam")]] and cache.revisions == 3
        before = _read()
        both = await load_history(s, {email("li"), email("sam")}, cache)  # maya goes; 4, yet both kept
        _same(both, await load_history(s, {email("li"), email("sam")}))
        assert set(cache.calendars) == {ids[email("li")], ids[email("sam")]} and cache.revisions == 4
        # li was dropped: read again from scratch (the metric ops size the bound by); sam was kept
        assert _read_since(before) == {"new": 0, "uncached": 2} and _kept() == 4
