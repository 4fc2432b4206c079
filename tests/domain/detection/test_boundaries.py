"""`next_change`: with no calendar change, a pair's detection is the same at every
instant before its next boundary (but for the running `gap_days` of a gap still
open at now, an informative field), and the walk from boundary to boundary sees
every change (findings appear on time)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from service.domain.detection import detect_pair, people_index
from service.domain.detection.document import finding_json, meeting_json, pair_json
from tests.domain.detection.builders import World, email, utc

NOW = "2026-03-02T09:00Z"


def _org(w: World) -> World:
    w.person("maya", tz="Europe/Berlin")
    w.person("li", manager="maya", tz="Europe/Berlin")
    return w


def weekly_with_changes() -> World:
    w = _org(World(now=NOW))
    w.series(
        "s",
        at="2026-01-01T00:00Z",
        start="2026-01-05T09:00",
        tz="Europe/Berlin",
        rrule="FREQ=WEEKLY;BYDAY=MO",
        organizer="maya",
        attendees=["li"],
    )
    w.cancel_occurrence("s", "2026-02-09T08:00Z", at="2026-02-05T12:00Z")
    w.move_occurrence("s", "2026-03-09T08:00Z", at="2026-03-01T12:00Z", start="2026-03-10T08:00Z")
    w.respond("s", "li", "declined", at="2026-02-20T00:00Z", original_start="2026-03-16T08:00Z")
    return w


def series_that_ends() -> World:
    w = _org(World(now=NOW))
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


def biweekly_graph_with_policy() -> World:
    w = _org(World(now=NOW))
    w.policy("maya", "li", 14)
    w.series(
        "s",
        at="2026-01-01T00:00Z",
        start="2026-01-07T15:00",
        tz="Europe/Berlin",
        rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=WE",
        organizer="maya",
        attendees=["li"],
        provider="graph",
        minutes=45,
    )
    w.cancel_occurrence("s", "2026-03-18T14:00Z", at="2026-03-01T10:00Z")
    return w


def singles_only() -> World:
    w = _org(World(now=NOW))
    for i, day in enumerate(("2026-01-20", "2026-02-03", "2026-02-17", "2026-03-03", "2026-03-24")):
        w.event(f"e{i}", at="2026-01-01T00:00Z", start=f"{day}T10:00Z", organizer="maya", attendees=["li"])
    return w


def retimed_then_deleted() -> World:
    w = _org(World(now=NOW))
    w.series(
        "s",
        at="2026-01-01T00:00Z",
        start="2026-01-06T10:00",
        tz="America/New_York",
        rrule="FREQ=WEEKLY;BYDAY=TU",
        organizer="maya",
        attendees=["li"],
        provider="graph",
    )
    w.update("s", at="2026-02-01T00:00Z", start="2026-01-06T16:00Z", end="2026-01-06T16:45Z")
    w.event(
        "busy", at="2026-01-01T00:00Z", start="2026-03-17T16:15Z", organizer="li", calendars=["li"], title="Dentist"
    )
    w.delete("s", at="2026-03-20T00:00Z")
    return w


def nothing() -> World:
    return _org(World(now=NOW))


STORIES = [
    weekly_with_changes,
    series_that_ends,
    biweekly_graph_with_policy,
    singles_only,
    retimed_then_deleted,
    nothing,
]


def _at(w: World, now: datetime):
    policy = next(iter(w.policies), None)
    result = detect_pair(w.history, email("maya"), email("li"), people_index(w.people), policy, now)
    document = (
        pair_json(result.pair),
        [meeting_json(m) for m in result.meetings],
        [{k: v for k, v in finding_json(f).items() if k != "gap_days"} for f in result.findings],
    )
    return document, result.next_change


@pytest.mark.parametrize("story", STORIES, ids=[s.__name__ for s in STORIES])
def test_nothing_changes_between_boundaries(story):
    w = story()
    rnd = random.Random(7)
    t, end = utc(NOW), utc(NOW) + timedelta(days=150)
    seen = 0
    while t < end:
        document, boundary = _at(w, t)
        if boundary is None:
            for probe in (t + timedelta(days=d) for d in (1, 30, 200)):
                assert _at(w, probe)[0] == document
            break
        assert boundary > t
        for probe in {t + (boundary - t) * rnd.random() for _ in range(3)} | {boundary - timedelta(microseconds=1)}:
            if t < probe < boundary:
                assert _at(w, probe)[0] == document, (t, probe, boundary)
        t, seen = boundary, seen + 1
    assert seen > 0 or story is nothing


def test_each_time_driven_finding_appears_at_its_boundary():
    """A weekly series that ends: held after each end, cadence_gap just after 1.5 ×
    7 days past the last held start, no_upcoming once the last slot is within reach
    of nothing (its start)."""
    w = series_that_ends()
    boundaries, t = [], utc(NOW)
    while t < utc("2026-04-15T00:00Z"):
        _, t = _at(w, t)
        boundaries.append(t)
    last_slot = utc("2026-03-16T08:00Z")
    assert last_slot in boundaries  # no_upcoming turns on at its start
    assert last_slot + timedelta(minutes=30) in boundaries  # held at its end
    gap = last_slot + timedelta(days=10.5, microseconds=1)
    assert gap in boundaries
    before, _ = _at(w, gap - timedelta(microseconds=1))
    after, _ = _at(w, gap)
    assert [f["type"] for f in after[2]] == [f["type"] for f in before[2]] + ["cadence_gap"]
