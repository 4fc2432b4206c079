"""Slots of a recurring series: RRULE/EXRULE/RDATE/EXDATE expanded in the
series' own IANA zone, so a 09:00 Europe/Berlin weekly slot stays at 09:00 local
and moves in UTC across daylight-saving changes.

The rules are expanded on naive local wall-clock times (dateutil is fastest and
simplest there) and each slot is then placed in the zone. A wall time that does
not exist (the spring-forward gap) takes the offset in force before the change,
as zoneinfo does with `fold=0` and as the providers' own expansion does.

Choices where the iCalendar text leaves room:
- UNTIL may be UTC (`…Z`), floating local, or a date (inclusive, end of that
  local day); all are converted to local wall time before dateutil sees them.
- EXDATE/RDATE values may be UTC, carry a TZID, be floating (series zone) or be
  dates (the series' time of day on that date). Exclusions compare instants.
- As in dateutil and the provider fakes, DTSTART is a slot only when it matches
  the rule (or when there is no RRULE at all: an RDATE-only "series").
- A zone name that is not IANA falls back to UTC (adapters map Windows names)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

from service.domain.detection.rules import DAY, UTC

LIVE = 1  # the series produces this slot
EXCLUDED = 2  # the rule produces it but an EXDATE/EXRULE removes it

_UNTIL = re.compile(r"UNTIL=([0-9]{8})(T[0-9]{6})?(Z?)", re.IGNORECASE)
_INTERVAL_DAYS = {"DAILY": 1, "WEEKLY": 7, "MONTHLY": 30, "YEARLY": 365}
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_CHUNK = 28 * DAY
_TICK = timedelta(microseconds=1)


@lru_cache(maxsize=512)
def zone(name: str | None) -> ZoneInfo:
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def _instant(local: datetime, tz: ZoneInfo) -> datetime:
    return local.replace(tzinfo=tz).astimezone(UTC)


def _split(line: str) -> tuple[str, dict[str, str], str]:
    head, _, value = line.partition(":")
    name, *params = head.split(";")
    parsed = {}
    for param in params:
        key, _, val = param.partition("=")
        parsed[key.strip().upper()] = val.strip()
    return name.strip().upper(), parsed, value.strip()


def _local_until(rule: str, tz: ZoneInfo) -> str:
    """UNTIL as naive local wall time, which is what a naive DTSTART needs."""

    def fix(match: re.Match) -> str:
        day, clock, zulu = match.group(1), match.group(2), match.group(3)
        moment = datetime.strptime(day + (clock or "T235959"), "%Y%m%dT%H%M%S")
        if zulu:
            moment = _local(moment.replace(tzinfo=UTC), tz)
        return "UNTIL=" + moment.strftime("%Y%m%dT%H%M%S")

    return _UNTIL.sub(fix, rule)


def _date_values(params: dict[str, str], values: str, tz: ZoneInfo, start_local: datetime) -> list[datetime]:
    """EXDATE/RDATE values as UTC instants."""
    out = []
    value_tz = zone(params["TZID"]) if "TZID" in params else tz
    for raw in values.split(","):
        raw = raw.strip().split("/")[0]  # PERIOD: keep its start
        if not raw:
            continue
        if len(raw) == 8 or params.get("VALUE", "").upper() == "DATE":
            day = datetime.strptime(raw[:8], "%Y%m%d")
            out.append(_instant(datetime.combine(day.date(), start_local.time()), tz))
            continue
        moment = datetime.strptime(raw.rstrip("Zz"), "%Y%m%dT%H%M%S")
        if raw[-1] in "Zz":
            out.append(moment.replace(tzinfo=UTC))
        else:
            out.append(_instant(moment, value_tz))
    return out


@dataclass(slots=True)
class SlotSet:
    """All slots of one series definition (recurrence + first start + zone)."""

    tz: ZoneInfo
    start_local: datetime
    rules: list[rrule]
    exrules: list[rrule]
    exdates: frozenset[datetime]
    rdates: tuple[datetime, ...]
    # Expansions by aligned chunk of time: detection runs at ever-later `now`s ask
    # for ever-shifting [lo, hi] ranges, which mostly cover the same chunks.
    _chunks: dict[int, dict[datetime, int]] = field(default_factory=dict)

    def between(self, lo: datetime, hi: datetime) -> dict[datetime, int]:
        """{slot start (UTC): LIVE | EXCLUDED} for slots starting in [lo, hi]."""
        out: dict[datetime, int] = {}
        for k in range((lo - _EPOCH) // _CHUNK, (hi - _EPOCH) // _CHUNK + 1):
            for instant, state in self._chunk(k).items():
                if lo <= instant <= hi:
                    out[instant] = state
        return out

    def state(
        self,
        original_start: datetime,
        hint: dict[datetime, int] | None = None,
        lo: datetime | None = None,
        hi: datetime | None = None,
    ) -> int | None:
        """LIVE, EXCLUDED or None (no such slot). `hint` is an expansion over
        [lo, hi]; outside it the slot is looked up in its chunk."""
        if hint is not None and lo is not None and hi is not None and lo <= original_start <= hi:
            return hint.get(original_start)
        return self._chunk((original_start - _EPOCH) // _CHUNK).get(original_start)

    def _chunk(self, k: int) -> dict[datetime, int]:
        found = self._chunks.get(k)
        if found is None:
            start = _EPOCH + k * _CHUNK
            found = self._chunks[k] = self._expand(start, start + _CHUNK - _TICK)
        return found

    def ends_before(self, instant: datetime) -> bool:
        """True when the series has no slot at or after `instant` (UNTIL/COUNT)."""
        if any(extra >= instant for extra in self.rdates):
            return False
        if not self.rules:
            return _instant(self.start_local, self.tz) < instant
        local = _local(instant, self.tz)
        for rule in self.rules:
            # A day of slack for offsets; the instant comparison is exact.
            for found in rule.xafter(local - DAY, inc=True):
                if _instant(found, self.tz) >= instant:
                    return False
                if found > local + DAY:
                    break
        return True

    def _expand(self, lo: datetime, hi: datetime) -> dict[datetime, int]:
        # A day of slack on each side covers any UTC offset; exact bounds below.
        a, b = _local(lo, self.tz) - DAY, _local(hi, self.tz) + DAY
        found: dict[datetime, int] = {}
        for rule in self.rules:
            for local in rule.between(a, b, inc=True):
                found[_instant(local, self.tz)] = LIVE
        if not self.rules:
            found[_instant(self.start_local, self.tz)] = LIVE
        for extra in self.rdates:
            found[extra] = LIVE
        excluded = set(self.exdates)
        for rule in self.exrules:
            excluded.update(_instant(local, self.tz) for local in rule.between(a, b, inc=True))
        out = {}
        for instant, state in found.items():
            if lo <= instant <= hi:
                out[instant] = EXCLUDED if instant in excluded else state
        return out


@lru_cache(maxsize=16384)
def slot_set(recurrence: tuple[str, ...], start: datetime, tz_name: str | None) -> SlotSet:
    """The (cached) slot set of a series whose first slot is `start` (UTC)."""
    tz = zone(tz_name)
    start_local = _local(start, tz)
    rules, exrules, exdates, rdates = [], [], set(), []
    for line in recurrence:
        name, params, value = _split(line)
        if name in ("RRULE", "EXRULE"):
            parsed = rrulestr(_local_until(value, tz), dtstart=start_local)
            (rules if name == "RRULE" else exrules).append(parsed)
        elif name == "EXDATE":
            exdates.update(_date_values(params, value, tz, start_local))
        elif name == "RDATE":
            rdates.extend(_date_values(params, value, tz, start_local))
    return SlotSet(tz, start_local, rules, exrules, frozenset(exdates), tuple(rdates))


def interval_days(recurrence: tuple[str, ...]) -> float | None:
    """The SPEC's cadence of a rule: weekly×n → 7n, monthly×n → 30n, daily×n → n
    (yearly×n → 365n, hourly/minutely as fractions of a day)."""
    for line in recurrence:
        name, _, value = _split(line)
        if name != "RRULE":
            continue
        parts = dict(p.split("=", 1) for p in value.upper().split(";") if "=" in p)
        try:
            n = max(int(parts.get("INTERVAL", "1") or 1), 1)
        except ValueError:
            n = 1
        freq = parts.get("FREQ", "")
        if freq in _INTERVAL_DAYS:
            return _INTERVAL_DAYS[freq] * n
        if freq == "HOURLY":
            return n / 24
        if freq == "MINUTELY":
            return n / 1440
        return None
    return None
