"""The clocks time is injected through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from service.clock import FixedClock, OffsetClock

T0 = datetime(2026, 11, 20, 16, tzinfo=UTC)
WALL = datetime(2025, 3, 1, 9, tzinfo=UTC)


def test_an_offset_clock_is_frozen_until_it_runs_then_keeps_the_base_clocks_pace():
    base = FixedClock(WALL)
    clock = OffsetClock(datetime(2026, 8, 24, tzinfo=UTC), base=base)
    base.set(WALL + timedelta(minutes=5))
    assert clock.now() == datetime(2026, 8, 24, tzinfo=UTC)  # frozen: a replay sets it
    clock.set(T0)
    base.set(WALL + timedelta(minutes=7))
    assert clock.now() == T0 and not clock.running

    clock.run()  # from the instant it showed, not from where the base clock was when frozen
    base.set(WALL + timedelta(minutes=7, seconds=90))
    assert clock.running and clock.now() == T0 + timedelta(seconds=90)
    clock.set(T0 + timedelta(days=1))  # still settable while running
    base.set(WALL + timedelta(minutes=9))
    assert clock.now() == T0 + timedelta(days=1, seconds=30)


def test_an_offset_clock_answers_in_utc():
    clock = OffsetClock(datetime(2026, 11, 20, 17, tzinfo=ZoneInfo("Europe/Berlin")))
    assert clock.now() == T0 and clock.now().tzinfo is UTC
