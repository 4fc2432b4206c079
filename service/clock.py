"""Injected time. Nothing reads the wall clock except `SystemClock`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A settable clock for tests and replays."""

    def __init__(self, at: datetime) -> None:
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at.astimezone(UTC)


class OffsetClock:
    """Another instant running at `base`'s speed: `at` now, `at` + 10 s ten seconds
    later. Frozen until `run()` (then `set` moves it like a FixedClock): the live
    sandbox replays its history at the scenario's fixed instants, then lets time
    flow from the scenario's `now`, so what it shows first is exactly what a replay
    gives and a change made later is stamped with a time that moves on."""

    def __init__(self, at: datetime, *, base: Clock | None = None, running: bool = False) -> None:
        self._base = base or SystemClock()
        # One tuple, replaced whole: threads (the fakes, the server) read it unlocked.
        self._state = (at.astimezone(UTC), self._base.now(), running)

    def now(self) -> datetime:
        at, base_at, running = self._state
        return at + (self._base.now() - base_at) if running else at

    def set(self, at: datetime) -> None:
        self._state = (at.astimezone(UTC), self._base.now(), self._state[2])

    def run(self) -> None:
        """From the instant it shows now, at the base clock's speed."""
        self._state = (self.now(), self._base.now(), True)

    @property
    def running(self) -> bool:
        return self._state[2]
