"""interval_days and the cadence bucket."""

from __future__ import annotations

import pytest

from service.domain.detection.cadence import bucket
from tests.domain.detection.builders import World, pair

NOW = "2026-03-02T09:00Z"


def org() -> World:
    w = World(now=NOW)
    w.person("maya")
    w.person("li", manager="maya")
    return w


def singles(w: World, *starts: str) -> None:
    for i, start in enumerate(starts):
        w.event(f"e{i}", at="2025-11-01T00:00Z", start=start, organizer="maya", attendees=["li"])


@pytest.mark.parametrize(
    "interval, expected",
    [
        (None, "irregular"),
        (7, "weekly"),
        (9, "weekly"),
        (9.5, "biweekly"),
        (18, "biweekly"),
        (18.5, "monthly"),
        (45, "monthly"),
        (46, "irregular"),
    ],
)
def test_bucket_bounds(interval, expected):
    assert bucket(interval, has_occurrences=True) == expected
    assert bucket(interval, has_occurrences=False) == "none"


def test_policy_wins_even_without_occurrences():
    w = org()
    w.policy("maya", "li", 14)
    got = pair(w.replay(), "maya", "li")
    assert (got["cadence"], got["interval_days"]) == ("none", 14)
    singles(w, "2026-02-10T10:00Z")
    got = pair(w.replay(), "maya", "li")
    assert (got["cadence"], got["interval_days"]) == ("biweekly", 14)


@pytest.mark.parametrize(
    "rrule, interval, cadence",
    [
        ("FREQ=WEEKLY;BYDAY=MO", 7, "weekly"),
        ("FREQ=WEEKLY;INTERVAL=3;BYDAY=MO", 21, "monthly"),
        ("FREQ=MONTHLY;BYMONTHDAY=5", 30, "monthly"),
        ("FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=5", 60, "irregular"),
        ("FREQ=DAILY;INTERVAL=2", 2, "weekly"),
    ],
)
def test_interval_from_the_series(rrule, interval, cadence):
    w = org()
    w.series(
        "s", at="2026-01-01T00:00Z", start="2026-01-05T09:00", tz="UTC", rrule=rrule, organizer="maya", attendees=["li"]
    )
    got = pair(w.replay(), "maya", "li")
    assert (got["interval_days"], got["cadence"]) == (interval, cadence)


def test_the_most_recent_series_is_the_one_starting_last_even_if_deleted():
    w = org()
    w.series(
        "old",
        at="2025-10-01T00:00Z",
        start="2025-10-06T09:00",
        tz="UTC",
        rrule="FREQ=WEEKLY;BYDAY=MO",
        organizer="maya",
        attendees=["li"],
    )
    w.series(
        "new",
        at="2026-01-10T00:00Z",
        start="2026-01-14T09:00",
        tz="UTC",
        rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=WE",
        organizer="maya",
        attendees=["li"],
    )
    w.delete("new", at="2026-02-01T00:00Z")
    assert pair(w.replay(), "maya", "li")["interval_days"] == 14


def test_a_series_without_occurrence_in_the_window_does_not_count():
    w = org()
    w.series(
        "ended",
        at="2025-06-01T00:00Z",
        start="2025-06-02T09:00",
        tz="UTC",
        rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=3",
        organizer="maya",
        attendees=["li"],
    )
    singles(w, "2026-01-05T10:00Z", "2026-01-16T10:00Z", "2026-01-29T10:00Z", "2026-02-09T10:00Z")
    got = pair(w.replay(), "maya", "li")
    assert (got["interval_days"], got["cadence"]) == (11, "biweekly")  # median of 11, 13, 11


def test_median_gap_needs_three_held_occurrences():
    w = org()
    singles(w, "2026-01-05T10:00Z", "2026-01-16T10:00Z", "2026-03-10T10:00Z")
    got = pair(w.replay(), "maya", "li")
    assert (got["interval_days"], got["cadence"]) == (None, "irregular")


def test_median_of_an_even_number_of_gaps_and_fractional_days():
    w = org()
    singles(w, "2026-01-05T10:00Z", "2026-01-12T10:00Z", "2026-01-20T22:00Z", "2026-01-29T10:00Z", "2026-02-09T10:00Z")
    # gaps 7, 8.5, 8.5, 11 → median 8.5
    assert pair(w.replay(), "maya", "li")["interval_days"] == 8.5


def test_last_held_and_next_scheduled():
    w = org()
    singles(w, "2026-02-20T10:00Z", "2026-03-02T08:00Z", "2026-03-05T10:00Z", "2026-03-25T10:00Z")
    got = pair(w.replay(), "maya", "li")
    assert (got["last_held"], got["next_scheduled"]) == ("2026-03-02T08:00:00Z", "2026-03-05T10:00:00Z")
