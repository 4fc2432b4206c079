"""What a Graph mailbox shows: its stored events (single instances and series
masters with their exceptions and cancelled occurrences), the instances a
calendar view expands them into, and how each is rendered.

Occurrence ids are derived from the master id and the original start, so they
are stable across calls and an occurrence keeps its id when it becomes an
exception (as on Graph)."""

from __future__ import annotations

import base64
import copy
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from service.sandbox.graph_recurrence import occurrence_dates, range_end
from service.sandbox.timefmt import UTC, graph_dtz, graph_local, graph_offset, graph_time
from service.sandbox.zones import zone as named_zone

GOID_PREFIX = "040000008200E00074C5B7101A82E008"
# Properties Graph returns only when asked for with $select.
SELECT_ONLY = ("cancelledOccurrences", "exceptionOccurrences")


@dataclass
class GraphEvent:
    """A stored singleInstance or seriesMaster."""

    resource: dict[str, Any]
    exceptions: dict[datetime, dict[str, Any]] = field(default_factory=dict)  # original start (UTC) →
    cancelled: set[datetime] = field(default_factory=set)  # original starts (UTC)
    # A master's slots by (changeKey, window): delta rounds keep their first window,
    # so each round would otherwise expand every series of the mailbox again.
    slots: dict[tuple, tuple[SeriesShape, list[datetime]]] = field(default_factory=dict, repr=False)
    # Its occurrences as view items, by what they depend on: a mailbox's view is
    # taken on every delta round, and most of its series did not change since the last.
    instances: dict[tuple, list[Instance]] = field(default_factory=dict, repr=False)

    def slots_in(self, lo: datetime, hi: datetime) -> tuple[SeriesShape, list[datetime]]:
        key = (self.resource["changeKey"], lo, hi)
        found = self.slots.get(key)
        if found is None:
            if len(self.slots) >= 4:
                self.slots.clear()
            shape = shape_of(self.resource)
            found = self.slots[key] = (shape, shape.slots(lo, hi))
        return found

    def occurrences_in(self, mb: Mailbox, event_id: str, lo: datetime, hi: datetime) -> list[Instance]:
        """The series' occurrences in [lo, hi), neither cancelled nor made exceptions."""
        res = self.resource
        key = (res["changeKey"], lo, hi, frozenset(self.cancelled), frozenset(self.exceptions))
        found = self.instances.get(key)
        if found is None:
            if len(self.instances) >= 4:
                self.instances.clear()
            shape, slots = self.slots_in(lo, hi)
            found = []
            for slot in slots:
                original = slot.astimezone(UTC)
                if original in self.cancelled or original in self.exceptions:
                    continue
                occ = occurrence_id(event_id, original)
                mb.occurrences[occ] = (event_id, original)
                found.append(
                    Instance(
                        occ,
                        "occurrence",
                        slot,
                        slot + shape.duration,
                        ("occurrence", res["changeKey"], slot),
                        event_id,
                        original,
                        _all_day_zone(res),
                    )
                )
            self.instances[key] = found
        return found


@dataclass
class Mailbox:
    email: str  # the store's key: the address it was created with, whatever the user is called since
    time_zone: str
    mail: str = ""  # the directory's primary SMTP address and user principal name (both can change)
    upn: str = ""
    aliases: list[str] = field(default_factory=list)  # further (secondary) SMTP addresses
    events: dict[str, GraphEvent] = field(default_factory=dict)
    occurrences: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # id → (master, original start)
    epoch: int = 0
    touched: dict[str, int] = field(default_factory=dict)  # event or exception id → change serial of its last change


@dataclass(frozen=True)
class Instance:
    """One item of a calendar view."""

    id: str
    type: str  # singleInstance | occurrence | exception
    start: datetime
    end: datetime
    fingerprint: tuple
    master_id: str | None = None
    original_start: datetime | None = None
    all_day_zone: str | None = None  # all-day items: the zone label their midnights float in


def change_key(mailbox: str, event_id: str, serial: int) -> str:
    digest = hashlib.sha1(f"{mailbox}|{event_id}|{serial}".encode()).digest()[:16]
    return base64.b64encode(digest).decode()


def occurrence_id(master_id: str, original_start: datetime) -> str:
    """Stable id of one occurrence: the master's id with the slot appended, the
    way Exchange ids embed the instance."""
    slot = original_start.astimezone(UTC).strftime("%Y%m%dT%H%M%S").encode()
    return master_id.rstrip("=") + "ABEgAQ" + base64.urlsafe_b64encode(slot).decode().rstrip("=") + "=="


def occurrence_ical_uid(master_uid: str, local_day: date) -> str:
    """Graph's iCalUId differs per occurrence: Outlook global object ids carry
    the instance date (bytes 16-19) where the master has zeros."""
    if master_uid.upper().startswith(GOID_PREFIX) and len(master_uid) >= 40:
        return master_uid[:32] + f"{local_day.year:04X}{local_day.month:02X}{local_day.day:02X}" + master_uid[40:]
    return master_uid


@dataclass(frozen=True)
class SeriesShape:
    tz: ZoneInfo  # recurrence zone
    clock: time  # local start time in that zone
    duration: timedelta
    recurrence: dict[str, Any]

    def slot(self, day: date) -> datetime:
        return datetime.combine(day, self.clock, tzinfo=self.tz)

    def slots(self, lo: datetime, hi: datetime) -> list[datetime]:
        """Slots whose [start, start + duration) overlaps [lo, hi)."""
        last_day = hi.astimezone(self.tz).date() + timedelta(days=1)
        first_day = (lo - self.duration).astimezone(self.tz).date() - timedelta(days=1)
        out = []
        for day in occurrence_dates(self.recurrence, until=last_day):
            if day < first_day:
                continue
            start = self.slot(day)
            if start < hi and start + self.duration > lo:
                out.append(start)
        return out

    def has_slot(self, original_start: datetime) -> bool:
        local = original_start.astimezone(self.tz)
        if local.timetz().replace(tzinfo=None) != self.clock:
            return False
        return local.date() in set(occurrence_dates(self.recurrence, until=local.date()))

    def ends_by(self) -> datetime | None:
        end = range_end(self.recurrence)
        return None if end is None else datetime.combine(end, time.max, tzinfo=self.tz)


def shape_of(master: dict[str, Any]) -> SeriesShape:
    recurrence = master["recurrence"]
    zone_name = recurrence["range"].get("recurrenceTimeZone") or master["start"].get("timeZone") or "UTC"
    tz = named_zone(zone_name)
    start, end = graph_time(master["start"]), graph_time(master["end"])
    local = start.astimezone(tz)
    return SeriesShape(tz, local.timetz().replace(tzinfo=None), end - start, recurrence)


def event_times(resource: dict[str, Any]) -> tuple[datetime, datetime]:
    # All-day items float; they are placed at midnight of the zone they were made in.
    return graph_time(resource["start"]), graph_time(resource["end"])


def _all_day_zone(resource: dict[str, Any]) -> str | None:
    return (resource["start"].get("timeZone") or "UTC") if resource.get("isAllDay") else None


def view(mb: Mailbox, lo: datetime, hi: datetime) -> list[Instance]:
    """The calendar view of `mb` over [lo, hi): instances, never masters."""
    out: list[Instance] = []
    for event_id, held in mb.events.items():
        res = held.resource
        if res.get("type") != "seriesMaster":
            start, end = event_times(res)
            if start < hi and end > lo:
                out.append(
                    Instance(
                        event_id, "singleInstance", start, end, (res["changeKey"],), all_day_zone=_all_day_zone(res)
                    )
                )
            continue
        out.extend(held.occurrences_in(mb, event_id, lo, hi))
        for original, exc in held.exceptions.items():
            start, end = event_times(exc)
            if start < hi and end > lo:
                out.append(
                    Instance(
                        exc["id"],
                        "exception",
                        start,
                        end,
                        ("exception", exc["changeKey"], res["changeKey"]),
                        event_id,
                        original,
                        _all_day_zone(exc),
                    )
                )
    out.sort(key=lambda i: (i.start, i.id))
    return out


def instance_exists(mb: Mailbox, item_id: str) -> bool:
    """Whether an id the view once showed still names something (else it was deleted)."""
    if item_id in mb.events:
        return True
    if item_id not in mb.occurrences:
        return False
    master_id, original = mb.occurrences[item_id]
    held = mb.events.get(master_id)
    if held is None or original in held.cancelled:
        return False
    return original in held.exceptions or shape_of(held.resource).has_slot(original)


def materialize(mb: Mailbox, master: dict[str, Any], original: datetime) -> dict[str, Any]:
    """The occurrence of `master` at `original` as a full event resource."""
    shape = shape_of(master)
    slot = original.astimezone(shape.tz)
    occ = occurrence_id(master["id"], original)
    mb.occurrences[occ] = (master["id"], original)
    out = {k: copy.deepcopy(v) for k, v in master.items() if k not in SELECT_ONLY}
    label = master["start"].get("timeZone") or "UTC"
    out.update(
        {
            "id": occ,
            "type": "occurrence",
            "seriesMasterId": master["id"],
            "recurrence": None,
            "originalStart": graph_offset(original),
            "iCalUId": occurrence_ical_uid(master.get("iCalUId", ""), slot.date()),
        }
    )
    if master.get("isAllDay"):
        day = slot.replace(tzinfo=None)
        out["start"] = {"dateTime": day.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": label}
        out["end"] = {"dateTime": (day + shape.duration).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": label}
    else:
        out["start"] = graph_dtz(slot, label)
        out["end"] = graph_dtz(slot + shape.duration, label)
    return out


def render(resource: dict[str, Any], label: str, select: list[str] | None = None) -> dict[str, Any]:
    """A stored resource as Graph returns it, times in the zone named `label`
    (all-day events keep their floating midnights)."""
    out = {"@odata.etag": f'W/"{resource["changeKey"]}"'}
    for key, value in resource.items():
        if key in SELECT_ONLY and (select is None or key not in select):
            continue
        if select is not None and key not in select and key != "id":
            continue
        out[key] = copy.deepcopy(value)
    if not resource.get("isAllDay"):
        for key in ("start", "end"):
            if key in out and out[key]:
                out[key] = graph_dtz(graph_time(resource[key]), label)
    return out


def _times(item: Instance, label: str) -> tuple[dict[str, str], dict[str, str]]:
    if item.all_day_zone is not None:  # floating midnights keep their own label
        return (
            {"dateTime": graph_local(item.start), "timeZone": item.all_day_zone},
            {"dateTime": graph_local(item.end), "timeZone": item.all_day_zone},
        )
    return graph_dtz(item.start, label), graph_dtz(item.end, label)


def stub(item: Instance, label: str) -> dict[str, Any]:
    """An occurrence as calendarView delta often sends it: no subject, no attendees."""
    start, end = _times(item, label)
    return {
        "@odata.type": "#microsoft.graph.event",
        "id": item.id,
        "type": "occurrence",
        "seriesMasterId": item.master_id,
        "originalStart": graph_offset(item.original_start) if item.original_start else None,
        "start": start,
        "end": end,
    }
