"""A pair's intended interval and cadence bucket.

interval_days, in order of precedence:
1. the policy's `cadence_days`;
2. the recurrence interval of the pair's most recent series — the one whose
   first occurrence is latest among series with an occurrence (of any status)
   in the window, ended or deleted ones included. Its rule is read from the
   series' latest live version (a series re-planned from weekly to biweekly is
   biweekly now); its first occurrence is the first slot of the version it was
   created with;
3. the median start-to-start gap between the pair's held occurrences in the
   window, when there are at least three;
4. otherwise none."""

from __future__ import annotations

import statistics
from datetime import datetime

from service.domain.detection.classify import PairOccurrence
from service.domain.detection.records import EventRecord
from service.domain.detection.recurrence import interval_days
from service.domain.detection.rules import DAY, MIN_HORIZON

WEEKLY_MAX, BIWEEKLY_MAX, MONTHLY_MAX = 9, 18, 45


def series_interval(record: EventRecord) -> float | None:
    """The recurrence interval (days) of a series' latest live version."""
    for change in reversed(record.versions):
        snap = change.snapshot
        if snap is not None and snap.recurrence:
            found = interval_days(snap.recurrence)
            if found is not None:
                return found
    return interval_days(record.created.recurrence)


def _first_slot(record: EventRecord) -> datetime:
    return record.fixed_original_start or record.created.start


def _most_recent_series_interval(window: list[PairOccurrence]) -> float | None:
    latest: tuple[datetime, str] | None = None
    chosen: EventRecord | None = None
    for occ in window:
        if not occ.is_series:
            continue
        record = occ.primary.record
        rank = (_first_slot(record), record.uid)
        if latest is None or rank > latest:
            latest, chosen = rank, record
    return series_interval(chosen) if chosen is not None else None


def _median_gap(window: list[PairOccurrence], now: datetime) -> float | None:
    held = sorted(o.start for o in window if o.status(now) == "held")
    if len(held) < 3:
        return None
    return statistics.median((b - a) / DAY for a, b in zip(held, held[1:]))


def infer_interval(policy_days: int | None, window: list[PairOccurrence], now: datetime) -> float | None:
    if policy_days is not None:
        return policy_days
    found = _most_recent_series_interval(window)
    if found is not None:
        return found
    return _median_gap(window, now)


def bucket(interval: float | None, has_occurrences: bool) -> str:
    if not has_occurrences:
        return "none"
    if interval is None:
        return "irregular"
    if interval <= WEEKLY_MAX:
        return "weekly"
    if interval <= BIWEEKLY_MAX:
        return "biweekly"
    if interval <= MONTHLY_MAX:
        return "monthly"
    return "irregular"


def horizon(interval: float | None):
    """How far ahead no_upcoming looks: max(2 × interval, 14 days)."""
    if interval is None:
        return MIN_HORIZON
    return max(2 * interval * DAY, MIN_HORIZON)


def display_interval(interval: float | None) -> float | int | None:
    """Whole days as an int (7, not 7.0); otherwise one decimal."""
    if interval is None:
        return None
    value = round(interval, 1)
    return int(value) if value == int(value) else value
