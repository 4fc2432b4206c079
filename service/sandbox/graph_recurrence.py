"""Expansion of a Microsoft Graph `patternedRecurrence`, written from Graph's
own definitions rather than through RRULE so that the fake and the normalizer's
RRULE conversion check each other.

- daily: every `interval` days from `range.startDate`;
- weekly: on `daysOfWeek`, every `interval` weeks; weeks begin on
  `firstDayOfWeek`, the week holding startDate is week 0;
- absoluteMonthly: `dayOfMonth` every `interval` months (Outlook puts a day the
  month lacks on its last day);
- relativeMonthly: the `index` (first…fourth, last) day among `daysOfWeek` in
  the month, every `interval` months;
- absoluteYearly / relativeYearly: likewise in `month`, every `interval` years.
Ranges: endDate (inclusive, a date in recurrenceTimeZone), numbered
(`numberOfOccurrences`), noEnd. Dates before startDate never occur."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from service.sandbox.timefmt import add_months, days_in_month

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
INDEXES = {"first": 0, "second": 1, "third": 2, "fourth": 3, "last": -1}


def _weekday_numbers(pattern: dict, fallback: date) -> set[int]:
    days = {WEEKDAYS.index(d.lower()) for d in pattern.get("daysOfWeek") or []}
    return days or {fallback.weekday()}


def _relative_day(year: int, month: int, weekdays: set[int], index: str) -> date | None:
    matches = [
        date(year, month, d)
        for d in range(1, days_in_month(year, month) + 1)
        if date(year, month, d).weekday() in weekdays
    ]
    position = INDEXES[(index or "first").lower()]
    if position >= len(matches):
        return None
    return matches[position]


def _candidates(pattern: dict, start: date) -> Iterator[date]:
    """Pattern dates from `start` on, ascending, without end."""
    kind = pattern["type"]
    interval = max(int(pattern.get("interval") or 1), 1)
    if kind == "daily":
        day = start
        while True:
            yield day
            day += timedelta(days=interval)
    elif kind == "weekly":
        first_day = WEEKDAYS.index((pattern.get("firstDayOfWeek") or "sunday").lower())
        weekdays = _weekday_numbers(pattern, start)
        week = start - timedelta(days=(start.weekday() - first_day) % 7)
        while True:
            for offset in range(7):
                day = week + timedelta(days=offset)
                if day >= start and day.weekday() in weekdays:
                    yield day
            week += timedelta(weeks=interval)
    elif kind in ("absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly"):
        yearly = kind.endswith("Yearly")
        step = interval * 12 if yearly else interval
        year, month = (start.year, int(pattern.get("month") or start.month)) if yearly else (start.year, start.month)
        while True:
            if kind.startswith("absolute"):
                wanted = int(pattern.get("dayOfMonth") or start.day)
                day = date(year, month, min(wanted, days_in_month(year, month)))
            else:
                day = _relative_day(year, month, _weekday_numbers(pattern, start), pattern.get("index"))
            if day is not None and day >= start:
                yield day
            year, month = add_months(year, month, step)
    else:
        raise ValueError(f"unknown recurrence pattern type {kind!r}")


def occurrence_dates(recurrence: dict, *, until: date) -> Iterator[date]:
    """The series' dates in its recurrence zone, up to `until` (inclusive) or
    the range's own end, whichever comes first."""
    pattern, rng = recurrence["pattern"], recurrence["range"]
    start = date.fromisoformat(rng["startDate"])
    kind = rng.get("type", "noEnd")
    last = until
    if kind == "endDate":
        last = min(last, date.fromisoformat(rng["endDate"]))
    remaining = int(rng.get("numberOfOccurrences") or 0) if kind == "numbered" else None
    if remaining is not None and remaining <= 0:
        return
    for day in _candidates(pattern, start):
        if day > last:
            return
        yield day
        if remaining is not None:
            remaining -= 1
            if remaining == 0:
                return


def range_end(recurrence: dict) -> date | None:
    """The last date the series can occur on, or None when it never ends."""
    rng = recurrence["range"]
    kind = rng.get("type", "noEnd")
    if kind == "endDate":
        return date.fromisoformat(rng["endDate"])
    if kind == "numbered":
        dates = list(occurrence_dates(recurrence, until=date.max))
        return dates[-1] if dates else date.fromisoformat(rng["startDate"]) - timedelta(days=1)
    return None
