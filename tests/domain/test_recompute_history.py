"""What a recompute reads: only the events with a state reaching the detector's
reach (event_revisions.horizon; a year of history is mostly events long over),
and from that it concludes exactly what the detector concludes from everything.
It holds the cyclic garbage collector off while it runs and always turns it back on."""

from __future__ import annotations

import gc

import pytest
from sqlalchemy import select, update

from bench.detect import load
from bench.synthetic_org import synthetic_org
from service.db.models import EventRevision, Person
from service.domain.detection import detect
from service.domain.detection.rules import earliest
from service.domain.recompute import _collector_paused, load_history, recompute
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
