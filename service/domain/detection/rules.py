"""The SPEC's numbers in one place, plus the UTC helpers every module shares.

Nothing here reads the wall clock: `now` is always a parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

UTC = UTC

# The `meetings` window, by original start: [now - 90 d, now + 14 d], bounds included.
WINDOW_PAST = timedelta(days=90)
WINDOW_FUTURE = timedelta(days=14)

# What counts as a 1:1 (judged on the event or the series as created).
MIN_LENGTH = timedelta(minutes=10)
MAX_LENGTH = timedelta(minutes=120)

# cancelled_without_reschedule: replacement window ±½·interval, capped; 3 days without interval.
MAX_HALF_WINDOW = timedelta(days=7)
DEFAULT_HALF_WINDOW = timedelta(days=3)

LATE_NOTICE = timedelta(hours=24)  # late_reschedule: notice strictly below this
SHORT_RATIO = 0.75  # shortened: length strictly below this share
GAP_FACTOR = 1.5  # cadence_gap: gap strictly above this many intervals
MIN_HORIZON = timedelta(days=14)  # no_upcoming looks max(2 × interval, 14 d) ahead

# Graph reports a deleted series as removals of the master and of every
# instance; they carry no time of their own and are observed together, not
# necessarily in the same microsecond. An instance removal this close to its
# master's deletion is part of that deletion, not a cancellation of its own.
REMOVAL_TOLERANCE = timedelta(minutes=5)
# A cancelled instance carries the provider's own change time (Google's
# `updated`), which a series deletion stamps on its exceptions within moments;
# a cancellation stamped earlier than this was a cancellation of its own.
STAMPED_TOLERANCE = timedelta(seconds=2)

# Occurrences are expanded a little beyond the window so that replacements
# (±7 days around a slot of the window) and moved occurrences are seen.
EXPANSION_MARGIN = MAX_HALF_WINDOW + timedelta(days=1)

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """`YYYY-MM-DDTHH:MM:SSZ`, the only time format of the replay output."""
    if value is None:
        return None
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def hours(delta: timedelta) -> float:
    return round(delta / HOUR, 1)


def days(delta: timedelta) -> float:
    return round(delta / DAY, 1)


def minutes(delta: timedelta) -> float | int:
    value = round(delta / MINUTE, 1)
    return int(value) if value == int(value) else value


def window(now: datetime) -> tuple[datetime, datetime]:
    return now - WINDOW_PAST, now + WINDOW_FUTURE


def earliest(now: datetime) -> datetime:
    """Nothing that ended before this can matter: the window starts at now - 90 d
    and replacements are looked for up to 7 days before its slots."""
    return now - WINDOW_PAST - EXPANSION_MARGIN


def in_window(original_start: datetime, now: datetime) -> bool:
    lo, hi = window(now)
    return lo <= original_start <= hi
