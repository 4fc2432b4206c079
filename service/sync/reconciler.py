"""Apply one increment (a ChangeSet) to the stored events of a calendar.

Runs inside the worker's write transaction, after every provider call is done:
the events, their revisions and the new cursor commit together or not at all, so
a crash re-fetches the same increment and applying it again changes nothing."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import Calendar, CalendarEvent, EventRevision
from service.domain.calendar import EventSnapshot, Kind
from service.sync.provider import ChangeSet
from service.db.snapshots import row_matches, row_values, to_json


@dataclass
class Applied:
    changed: int = 0                 # events with a new revision
    removed: int = 0
    seen: int = 0                    # snapshots received
    event_ids: set[str] = field(default_factory=set)


async def removed_series_candidates(session: AsyncSession, calendar_id: int, changes: ChangeSet) -> set[str]:
    """Series whose instances were reported removed but which were not themselves
    re-sent: the worker asks the provider whether each still exists (a deleted
    Graph series shows up only as removed instances)."""
    if not changes.removed:
        return set()
    rows = await session.scalars(
        select(CalendarEvent.series_id).where(
            CalendarEvent.calendar_id == calendar_id, CalendarEvent.event_id.in_(changes.removed),
            CalendarEvent.series_id.is_not(None)))
    resent = {s.event_id for s in changes.upserts if s.kind is Kind.series}
    return {series_id for series_id in rows if series_id not in resent}


async def apply(session: AsyncSession, calendar: Calendar, changes: ChangeSet, *, gone_series: set[str],
                observed_at: datetime) -> Applied:
    result = Applied(seen=len(changes.upserts))
    removed = set(changes.removed) | gone_series
    ids = {s.event_id for s in changes.upserts} | removed
    rows = {r.event_id: r for r in await _rows(session, calendar.id, ids)}
    for snapshot in changes.upserts:
        _upsert(session, calendar.id, rows.get(snapshot.event_id), snapshot, observed_at, result)
    if changes.baseline is not None:
        removed |= await _absent_from_baseline(session, calendar.id, changes, rows)
    for event_id in removed:
        row = rows.get(event_id) or await session.scalar(
            select(CalendarEvent).where(CalendarEvent.calendar_id == calendar.id, CalendarEvent.event_id == event_id))
        if row is None or row.removed_at is not None or event_id in {s.event_id for s in changes.upserts}:
            continue
        row.removed_at = observed_at
        session.add(EventRevision(calendar_id=calendar.id, event_id=event_id, changed_at=observed_at,
                                  observed_at=observed_at, snapshot=None))
        result.removed += 1
        result.event_ids.add(event_id)
    await session.flush()
    return result


async def _rows(session: AsyncSession, calendar_id: int, ids: set[str]) -> list[CalendarEvent]:
    found: list[CalendarEvent] = []
    ordered = sorted(ids)
    for i in range(0, len(ordered), 500):  # keep IN lists bounded on both databases
        found += (await session.scalars(select(CalendarEvent).where(
            CalendarEvent.calendar_id == calendar_id, CalendarEvent.event_id.in_(ordered[i:i + 500])))).all()
    return found


def _upsert(session: AsyncSession, calendar_id: int, row: CalendarEvent | None, snapshot: EventSnapshot,
            observed_at: datetime, result: Applied) -> None:
    if row is not None and row_matches(row, snapshot):
        return
    values = row_values(snapshot)
    if row is None:
        session.add(CalendarEvent(calendar_id=calendar_id, event_id=snapshot.event_id, **values))
    else:
        for key, value in values.items():
            setattr(row, key, value)
    session.add(EventRevision(calendar_id=calendar_id, event_id=snapshot.event_id,
                              changed_at=snapshot.updated, observed_at=observed_at, snapshot=to_json(snapshot)))
    result.changed += 1
    result.event_ids.add(snapshot.event_id)


async def _absent_from_baseline(session: AsyncSession, calendar_id: int, changes: ChangeSet,
                                seen_rows: dict[str, CalendarEvent]) -> set[str]:
    """A baseline lists every non-series event in its window: stored ones it
    omits were deleted while we were not looking (e.g. behind an expired cursor).
    Series masters are checked through the provider instead (gone_series)."""
    window = changes.baseline
    present = {s.event_id for s in changes.upserts}
    stored = await session.scalars(select(CalendarEvent.event_id).where(
        CalendarEvent.calendar_id == calendar_id, CalendarEvent.removed_at.is_(None),
        CalendarEvent.kind != Kind.series.value,
        and_(CalendarEvent.start >= window.start, CalendarEvent.start < window.end)))
    return {event_id for event_id in stored if event_id not in present}
