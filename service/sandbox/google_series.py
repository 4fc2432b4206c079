"""Expansion of a Google recurring event (RRULE/EXRULE/EXDATE/RDATE lines) in
its `start.timeZone`, as Google does: a 09:00 Europe/Berlin weekly series stays
at 09:00 local across daylight-saving changes. All-day series expand on dates.

dateutil insists that UNTIL be UTC when DTSTART is aware (and floating when it
is not), while Google accepts either spelling, so UNTIL is rewritten first."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rruleset, rrulestr

from service.sandbox.timefmt import UTC
from service.sandbox.zones import zone as named_zone

_UNTIL = re.compile(r"UNTIL=([0-9]{8})(T[0-9]{6})?(Z?)", re.IGNORECASE)


def _until_for(line: str, tz: ZoneInfo | None) -> str:
    def fix(match: re.Match) -> str:
        day, clock, zulu = match.group(1), match.group(2), match.group(3)
        if tz is None:  # all-day series: floating dates
            return f"UNTIL={day}{clock or 'T235959'}"
        if zulu:
            return match.group(0)
        local = datetime.strptime(day + (clock or "T235959"), "%Y%m%dT%H%M%S").replace(tzinfo=tz)
        return "UNTIL=" + local.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    return _UNTIL.sub(fix, line)


def _date_values(line: str, tz: ZoneInfo | None, dtstart: datetime) -> list[datetime]:
    """EXDATE/RDATE values as datetimes comparable with the rule's."""
    head, _, values = line.partition(":")
    params = dict(p.split("=", 1) for p in head.split(";")[1:] if "=" in p)
    out: list[datetime] = []
    for raw in values.split(","):
        raw = raw.strip().split("/")[0]  # PERIOD values: keep the start
        if not raw:
            continue
        if len(raw) == 8 or params.get("VALUE", "").upper() == "DATE":
            day = datetime.strptime(raw[:8], "%Y%m%d")
            if tz is None:
                out.append(day)
            else:
                out.append(datetime.combine(day.date(), dtstart.timetz()))
            continue
        moment = datetime.strptime(raw.rstrip("Zz"), "%Y%m%dT%H%M%S")
        if raw.upper().endswith("Z"):
            moment = moment.replace(tzinfo=UTC)
        elif "TZID" in params:
            moment = moment.replace(tzinfo=named_zone(params["TZID"]))
        elif tz is not None:
            moment = moment.replace(tzinfo=tz)
        if tz is None:
            out.append(
                moment.replace(tzinfo=None) if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)
            )
        else:
            out.append(moment.astimezone(tz))
    return out


@dataclass(frozen=True)
class Series:
    """The slots of one Google recurring event."""

    all_day: bool
    tz: ZoneInfo | None  # None for all-day series
    dtstart: datetime  # aware local, or naive midnight (all-day)
    duration: timedelta
    rules: rruleset

    def local(self, t: datetime) -> datetime:
        """An instant (aware) in the series' terms (naive midnight for all-day)."""
        if self.tz is None:
            return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t
        return t.astimezone(self.tz)

    def slot_at(self, original_start: datetime) -> datetime | None:
        """The slot matching an original start (UTC instant; for all-day its
        UTC date), or None if the series has no such slot."""
        if self.tz is None:
            t = datetime.combine(original_start.astimezone(UTC).date(), datetime.min.time())
        else:
            t = original_start.astimezone(self.tz)
        hit = self.rules.after(t - timedelta(seconds=1))
        return hit if hit is not None and hit == t else None

    def between(self, lo: datetime, hi: datetime) -> list[datetime]:
        """Slots whose [start, start + duration) overlaps [lo, hi) (instants)."""
        return [
            s
            for s in self.rules.between(self.local(lo) - self.duration, self.local(hi), inc=False)
            if s + self.duration > self.local(lo)
        ]

    def first(self) -> datetime | None:
        return self.rules.after(self.dtstart - timedelta(seconds=1))

    def ends_after(self, t: datetime) -> bool:
        return self.rules.after(self.local(t) - self.duration) is not None

    def last(self) -> datetime | None:
        """The last slot, or None when the series never ends."""
        for rule in self.rules._rrule:
            if rule._count is None and rule._until is None:
                return None
        return self.rules.before(self.dtstart + timedelta(days=365 * 200))

    def instant(self, slot: datetime, fallback_zone: str) -> datetime:
        """A slot as an aware instant (all-day: midnight in `fallback_zone`)."""
        return slot if self.tz is not None else slot.replace(tzinfo=ZoneInfo(fallback_zone))


def series_of(master: dict, calendar_zone: str) -> Series:
    start, end = master["start"], master["end"]
    if start.get("date"):
        dtstart = datetime.combine(date.fromisoformat(start["date"]), datetime.min.time())
        dtend = datetime.combine(date.fromisoformat(end["date"]), datetime.min.time())
        tz = None
    else:
        tz = named_zone(start.get("timeZone") or calendar_zone)
        dtstart = datetime.fromisoformat(start["dateTime"])
        dtstart = dtstart.replace(tzinfo=tz) if dtstart.tzinfo is None else dtstart.astimezone(tz)
        dtend = datetime.fromisoformat(end["dateTime"])
        dtend = dtend.replace(tzinfo=tz) if dtend.tzinfo is None else dtend.astimezone(tz)
    rules = rruleset()
    has_rule = False
    for line in master.get("recurrence") or []:
        name = line.split(":", 1)[0].split(";", 1)[0].upper()
        if name in ("RRULE", "EXRULE"):
            rule = rrulestr(_until_for(line.split(":", 1)[1], tz), dtstart=dtstart)
            assert isinstance(rule, rrule)
            if name == "RRULE":
                rules.rrule(rule)
                has_rule = True
            else:
                rules.exrule(rule)
        elif name == "EXDATE":
            for value in _date_values(line, tz, dtstart):
                rules.exdate(value)
        elif name == "RDATE":
            for value in _date_values(line, tz, dtstart):
                rules.rdate(value)
    if not has_rule:  # RDATE-only series still start with their DTSTART
        rules.rdate(dtstart)
    return Series(all_day=tz is None, tz=tz, dtstart=dtstart, duration=dtend - dtstart, rules=rules)


def instance_suffix(slot: datetime, all_day: bool) -> str:
    """`20260105T090000Z` (the slot in UTC) or `20260105` for all-day slots."""
    if all_day:
        return slot.strftime("%Y%m%d")
    return slot.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
