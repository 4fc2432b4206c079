"""EventSnapshot ⇄ JSON (revision history) and ⇄ calendar_events rows (current state)."""

from __future__ import annotations

import dataclasses
import functools
from datetime import UTC, datetime
from typing import Any

from service.domain.events import KINDS, STATUSES, Attendee, EventSnapshot, Kind, Response

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UNBOUNDED = datetime(9999, 12, 31, tzinfo=UTC)  # see `horizon`


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _attendees(s: EventSnapshot) -> list[list[Any]]:
    # `_value_`, not `.value`: the enum property costs more than the rest of the row.
    return [[a.email, a.response._value_, a.resource, a.organizer] for a in s.attendees]


def to_json(s: EventSnapshot) -> dict[str, Any]:
    updated, original_start, start, end = s.updated, s.original_start, s.start, s.end
    return {
        "calendar": s.calendar,
        "event_id": s.event_id,
        "kind": s.kind._value_,
        "status": s.status._value_,
        "updated": None if updated is None else updated.isoformat(),
        "provider": s.provider,
        "ical_uid": s.ical_uid,
        "series_id": s.series_id,
        "original_start": None if original_start is None else original_start.isoformat(),
        "start": None if start is None else start.isoformat(),
        "end": None if end is None else end.isoformat(),
        "timezone": s.timezone,
        "all_day": s.all_day,
        "recurrence": list(s.recurrence),
        "organizer": s.organizer,
        "busy": s.busy,
        "title": s.title,
        "private": s.private,
        "attendees": _attendees(s),
    }


@functools.lru_cache(maxsize=100_000)
def _attendee(email: str, response: str, resource: bool, organizer: bool) -> Attendee:
    """Attendees recur in revision after revision of a full recompute: built once each."""
    return Attendee(email, Response(response), resource, organizer)


def from_json(d: dict[str, Any]) -> EventSnapshot:
    return EventSnapshot(
        calendar=d["calendar"],
        event_id=d["event_id"],
        kind=KINDS[d["kind"]],
        status=STATUSES[d["status"]],
        updated=_parse(d["updated"]),
        provider=d.get("provider", ""),
        ical_uid=d.get("ical_uid"),
        series_id=d.get("series_id"),
        original_start=_parse(d.get("original_start")),
        start=_parse(d.get("start")),
        end=_parse(d.get("end")),
        timezone=d.get("timezone"),
        all_day=d.get("all_day", False),
        recurrence=tuple(d.get("recurrence") or ()),
        organizer=d.get("organizer"),
        busy=d.get("busy", True),
        title=d.get("title", ""),
        private=d.get("private", False),  # absent from revisions stored before it existed
        attendees=tuple(_attendee(*a) for a in d.get("attendees") or ()),
    )


def horizon(s: EventSnapshot | None) -> datetime:
    """How far in time a revision's state reaches (event_revisions.horizon), so that a
    recompute can leave unread the events that ended before anything it judges: the
    latest of its start, end and original start. A series reaches into the future (it
    expands), and so does a state with no time; a removal reaches nothing by itself
    (what it removes is in the event's earlier revisions)."""
    if s is None:
        return _EPOCH
    moments = [m for m in (s.start, s.end, s.original_start) if m is not None]
    return UNBOUNDED if s.kind is Kind.series or not moments else max(moments)


def revision(
    calendar_id: int, event_id: str, changed_at: datetime, observed_at: datetime, snapshot: EventSnapshot | None
) -> dict[str, Any]:
    """An event_revisions row's values: the new state (None: the event removed)."""
    return dict(
        calendar_id=calendar_id,
        event_id=event_id,
        changed_at=changed_at,
        observed_at=observed_at,
        snapshot=None if snapshot is None else to_json(snapshot),
        horizon=horizon(snapshot),
    )


def same_content(a: EventSnapshot, b: EventSnapshot) -> bool:
    """Equal apart from the change time: Graph re-sends every occurrence of a
    series whenever its master changes; those re-sends are not revisions."""
    return dataclasses.replace(a, updated=_EPOCH) == dataclasses.replace(b, updated=_EPOCH)


def row_values(s: EventSnapshot) -> dict[str, Any]:
    return {
        "ical_uid": s.ical_uid,
        "kind": s.kind._value_,
        "series_id": s.series_id,
        "original_start": s.original_start,
        "status": s.status._value_,
        "start": s.start,
        "end": s.end,
        "time_zone": s.timezone,
        "all_day": s.all_day,
        "recurrence": list(s.recurrence),
        "organizer": s.organizer,
        "busy": s.busy,
        "title": s.title,
        "private": s.private,
        "updated": s.updated,
        "attendees": _attendees(s),
        "removed_at": None,
    }


_NOT_CONTENT = ("updated", "removed_at")


def row_matches(row: Any, s: EventSnapshot) -> bool:
    """The stored row (a calendar_events row, or a CalendarEvent) already shows
    this snapshot (change time aside)."""
    if row.removed_at is not None:
        return False
    return all(getattr(row, k) == v for k, v in row_values(s).items() if k not in _NOT_CONTENT)


def values_match(values: dict[str, Any], s: EventSnapshot) -> bool:
    """`row_values` of an earlier snapshot already show this one (change time aside)."""
    return values.get("removed_at") is None and all(
        values[k] == v for k, v in row_values(s).items() if k not in _NOT_CONTENT
    )
