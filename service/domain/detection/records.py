"""CalendarHistory → per-calendar event records.

A record is one calendar's copy of one event: a single event, or a series master
together with the change streams of its instances (keyed by original start).

Instances are attached to their series through `series_id`; a removal
(`snapshot is None`, how Graph reports a cancelled occurrence) carries no data,
so it is attached through the instance's last known snapshot. An instance whose
master was never seen is kept as a one-off event at its original start."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from service.domain.events import CalendarHistory, EventChange, EventSnapshot, Kind, Status

# One observed state of an instance, with the instance's own event id.
InstanceVersion = tuple[datetime, EventSnapshot | None, str]


# Single events have no instances: one shared, read-only empty mapping.
_NO_INSTANCES: Mapping[datetime, list[InstanceVersion]] = MappingProxyType({})


@dataclass(slots=True, eq=False)
class EventRecord:
    calendar: str
    event_id: str
    is_series: bool
    versions: list[EventChange]  # the history's own list (not copied: it is large)
    created: EventSnapshot  # the event (or series) as created: first live snapshot
    instances: Mapping[datetime, list[InstanceVersion]] = field(default_factory=lambda: _NO_INSTANCES)
    fixed_original_start: datetime | None = None  # orphan instance: its slot

    @property
    def uid(self) -> str:
        """Identity shared by the copies of one meeting in several calendars."""
        return self.created.ical_uid or f"{self.calendar}/{self.event_id}"

    @property
    def all_day(self) -> bool:
        return self.created.all_day


def _is_live(snapshot: EventSnapshot | None) -> bool:
    return snapshot is not None and snapshot.status is not Status.cancelled


def _created(changes: list[EventChange]) -> EventSnapshot | None:
    """The first live snapshot with times: how the event was created (or first synced)."""
    snap = changes[0].snapshot
    if snap is not None and snap.status is not Status.cancelled and snap.start and snap.end:
        return snap
    for change in changes:
        snap = change.snapshot
        if _is_live(snap) and snap.start is not None and snap.end is not None:
            return snap
    return None


def _attach_instances(
    calendar_records: dict[tuple[str, str], EventRecord],
    streams: list[tuple[tuple[str, str], list[EventChange]]],
    out: dict[str, list[EventRecord]],
) -> None:
    orphans: dict[tuple[str, str], list[InstanceVersion]] = {}
    for (calendar, instance_id), changes in streams:
        last: EventSnapshot | None = None
        for change in changes:
            ref = change.snapshot or last
            if change.snapshot is not None:
                last = change.snapshot
            if ref is None or ref.original_start is None:
                continue
            master = calendar_records.get((calendar, ref.series_id or ""))
            item = (change.changed_at, change.snapshot, instance_id)
            if master is not None and master.is_series:
                # A series' `instances` is a dict of its own (see index_history).
                master.instances.setdefault(ref.original_start, []).append(item)
            else:
                orphans.setdefault((calendar, instance_id), []).append(item)
    for master in calendar_records.values():
        for stream in master.instances.values():
            stream.sort(key=lambda item: item[0])  # stable: ties keep arrival order
    for (calendar, instance_id), items in orphans.items():
        created = next((s for _, s, _ in items if _is_live(s) and s.start and s.end), None)
        if created is None:
            continue
        versions = [EventChange(calendar, instance_id, t, s) for t, s, _ in items]
        out.setdefault(calendar, []).append(
            EventRecord(calendar, instance_id, False, versions, created, fixed_original_start=created.original_start)
        )


def _ended_before(changes: list[EventChange], since: datetime) -> bool:
    """A single event all of whose states ended before `since`."""
    for change in changes:
        snap = change.snapshot
        if snap is not None and (snap.end is None or snap.end >= since):
            return False
    return True


def index_history(
    history: CalendarHistory, calendars: Iterable[str] | None = None, since: datetime | None = None
) -> dict[str, list[EventRecord]]:
    """Records per calendar (only `calendars` when given). Single events that
    ended before `since` in every known state are left out: nothing before
    that moment can matter (it keeps a year of history cheap)."""
    wanted = set(calendars) if calendars is not None else None
    out: dict[str, list[EventRecord]] = {}
    by_key: dict[tuple[str, str], EventRecord] = {}
    streams: list[tuple[tuple[str, str], list[EventChange]]] = []
    for key, changes in history.changes.items():
        if wanted is not None and key[0] not in wanted:
            continue
        first = changes[0].snapshot
        if first is None:  # rare: a removal seen first
            first = next((c.snapshot for c in changes if c.snapshot is not None), None)
            if first is None:
                continue
        if first.kind is Kind.instance:
            streams.append((key, changes))
            continue
        if since is not None and first.kind is Kind.single and _ended_before(changes, since):
            continue
        created = _created(changes)
        if created is None:
            continue  # never seen alive with times: nothing can be said about it
        series = first.kind is Kind.series
        record = EventRecord(key[0], key[1], series, changes, created, {} if series else _NO_INSTANCES)
        by_key[key] = record
        out.setdefault(key[0], []).append(record)
    _attach_instances(by_key, streams, out)
    return out
