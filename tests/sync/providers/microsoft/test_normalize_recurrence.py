"""The Graph fake expands patternedRecurrence natively; the normalizer turns it
into RRULE for dateutil. Both must give the same slots for every pattern and
range type (each side checks the other; hand-computed cases pin both down)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from service.sandbox.graph_recurrence import occurrence_dates
from service.sync.providers.microsoft.normalize import recurrence_lines

BERLIN = ZoneInfo("Europe/Berlin")


def _rec(pattern: dict, rng: dict) -> dict:
    base_pattern = {
        "interval": 1,
        "month": 0,
        "dayOfMonth": 0,
        "daysOfWeek": [],
        "firstDayOfWeek": "sunday",
        "index": "first",
    }
    base_range = {
        "type": "noEnd",
        "endDate": "0001-01-01",
        "recurrenceTimeZone": "W. Europe Standard Time",
        "numberOfOccurrences": 0,
    }
    return {"pattern": {**base_pattern, **pattern}, "range": {**base_range, **rng}}


def _dateutil_dates(rec: dict, clock: time, until: date) -> list[date]:
    first = date.fromisoformat(rec["range"]["startDate"])
    dtstart = datetime.combine(first, clock, tzinfo=BERLIN)
    (line,) = recurrence_lines(rec, BERLIN, first_day=first)
    rule = rrulestr(line.removeprefix("RRULE:"), dtstart=dtstart)
    stop = datetime.combine(until, time.max, tzinfo=BERLIN)
    return [d.date() for d in rule.between(dtstart - timedelta(seconds=1), stop, inc=True)]


PATTERNS = [
    {"type": "daily", "interval": 1},
    {"type": "daily", "interval": 3},
    {"type": "weekly", "daysOfWeek": ["monday"]},
    {"type": "weekly", "interval": 2, "daysOfWeek": ["tuesday", "thursday"]},
    {"type": "weekly", "interval": 2, "daysOfWeek": ["sunday", "wednesday"], "firstDayOfWeek": "monday"},
    {"type": "weekly", "interval": 3, "daysOfWeek": ["saturday", "monday"], "firstDayOfWeek": "sunday"},
    {"type": "absoluteMonthly", "dayOfMonth": 12},
    {"type": "absoluteMonthly", "interval": 2, "dayOfMonth": 31},
    {"type": "absoluteMonthly", "dayOfMonth": 30},
    {"type": "absoluteMonthly", "dayOfMonth": 29},
    {"type": "relativeMonthly", "daysOfWeek": ["tuesday"], "index": "second"},
    {"type": "relativeMonthly", "daysOfWeek": ["friday"], "index": "last"},
    {
        "type": "relativeMonthly",
        "interval": 2,
        "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
        "index": "first",
    },
    {"type": "relativeMonthly", "daysOfWeek": ["saturday", "sunday"], "index": "last"},
    {"type": "relativeMonthly", "daysOfWeek": ["wednesday"], "index": "fourth"},
    {"type": "absoluteYearly", "month": 3, "dayOfMonth": 15},
    {"type": "absoluteYearly", "month": 2, "dayOfMonth": 29},
    {"type": "absoluteYearly", "interval": 2, "month": 11, "dayOfMonth": 1},
    {"type": "relativeYearly", "month": 11, "daysOfWeek": ["thursday"], "index": "fourth"},
    {"type": "relativeYearly", "month": 5, "daysOfWeek": ["monday"], "index": "last"},
]
RANGES = [
    {"type": "noEnd", "startDate": "2026-01-07"},
    {"type": "endDate", "startDate": "2026-01-31", "endDate": "2027-03-31"},
    {"type": "numbered", "startDate": "2026-02-28", "numberOfOccurrences": 7},
]


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: "-".join(str(v) for v in p.values()))
@pytest.mark.parametrize("rng", RANGES, ids=lambda r: r["type"])
def test_native_expansion_matches_dateutil(pattern: dict, rng: dict) -> None:
    rec = _rec(pattern, rng)
    until = date(2030, 12, 31)
    native = list(occurrence_dates(rec, until=until))
    assert native, "every case yields occurrences"
    assert native == _dateutil_dates(rec, time(9, 30), until)


def test_hand_computed_cases() -> None:
    second_tuesday = _rec(
        {"type": "relativeMonthly", "daysOfWeek": ["tuesday"], "index": "second"},
        {"type": "numbered", "startDate": "2026-01-01", "numberOfOccurrences": 3},
    )
    assert list(occurrence_dates(second_tuesday, until=date(2030, 1, 1))) == [
        date(2026, 1, 13),
        date(2026, 2, 10),
        date(2026, 3, 10),
    ]
    day31 = _rec(
        {"type": "absoluteMonthly", "dayOfMonth": 31},
        {"type": "endDate", "startDate": "2026-01-31", "endDate": "2026-04-30"},
    )
    # Outlook puts the 31st on the last day of shorter months; endDate is inclusive.
    assert list(occurrence_dates(day31, until=date(2030, 1, 1))) == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
    ]
    biweekly = _rec(
        {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "friday"], "firstDayOfWeek": "monday"},
        {"type": "numbered", "startDate": "2026-01-07", "numberOfOccurrences": 4},
    )
    # startDate is a Wednesday: that week's Friday counts, its Monday is before the start.
    assert list(occurrence_dates(biweekly, until=date(2030, 1, 1))) == [
        date(2026, 1, 9),
        date(2026, 1, 19),
        date(2026, 1, 23),
        date(2026, 2, 2),
    ]
