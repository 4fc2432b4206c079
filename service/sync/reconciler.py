"""Apply one increment (a ChangeSet) to the stored events of a calendar.

`confirm_removals` first asks the provider what only it can tell about the
increment's removals (outside any transaction); `apply` then runs inside the
worker's write transaction, after every provider call is done:
the events, their revisions and the new cursor commit together or not at all, so
a crash re-fetches the same increment and applying it again changes nothing.

Rows that are new (most of them on a calendar's first baseline) and every
revision are written with Core executemany INSERTs in batches, not one ORM object
each; rows that already exist are read as plain rows, compared, and the changed
ones updated with one executemany UPDATE. A calendar's first sync looks whether it
has stored events at all before looking any up."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Row, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.db.models import CalendarEvent, EventRevision
from service.domain.detection.recurrence import slot_set
from service.domain.event_codec import revision, row_matches, row_values, values_match
from service.domain.events import EventSnapshot, Kind
from service.domain.footprint import Footprint
from service.sync.port import CalendarProvider, CalendarRef, ChangeSet, SyncWindow

_CHUNK = 100  # rows per INSERT batch: few alive at once (see apply)


@dataclass
class Applied:
    changed: int = 0  # events with a new revision
    removed: int = 0
    seen: int = 0  # snapshots received
    event_ids: set[str] = field(default_factory=set)
    footprint: Footprint = field(default_factory=Footprint)  # what the changes can concern


# -- before the write transaction: what only the provider can tell ------------------------------
@dataclass
class _Checks:
    series: set[str] = field(default_factory=set)  # series that may have been deleted: ask
    removed: list[str] = field(default_factory=list)  # removals that count as they are
    doubtful: dict[str, str | None] = field(default_factory=dict)  # event id → its series: ask


async def confirm_removals(
    sessions: async_sessionmaker[AsyncSession], provider: CalendarProvider, calendar: CalendarRef, changes: ChangeSet
) -> tuple[ChangeSet, set[str]]:
    """What an increment's removals really are, asked of the provider before the
    write transaction (one short read first). Returns the ChangeSet to apply and
    the series found deleted (`apply`'s `gone_series`).

    - A deleted Graph series shows up only as its instances gone: reported removed
      by an increment, absent from a baseline, or, on a windowed baseline, a stored
      master none of whose instances is listed (all of them precede the new window).
      The series itself is asked about.
    - A windowed provider's removals (`removed_window`: Graph's calendarView delta
      reports events outside the round's window that were added or updated, and
      events that left it, as deleted) count only for events stored inside that
      window, and only once the provider says the event is gone: one that still
      exists (moved out of the window) is upserted as it is now. An instance whose
      slot the increment's own copy of its series lists as cancelled (Graph's
      cancelledOccurrences, read after the delta) is gone without asking. Removals of events
      stored outside the window are dropped: history kept from earlier windows stays.
      A baseline's absentees are asked about the same way. Removals of series
      masters count as they are (the adapter asked)."""
    if not changes.removed and changes.baseline is None:
        return changes, set()
    async with sessions() as session:
        checks = await _checks(session, calendar.calendar_id, changes)
    gone = {sid for sid in sorted(checks.series) if await provider.get_event(calendar, sid) is None}
    if changes.removed_window is None:
        return changes, gone
    removed, found = list(checks.removed), []
    for event_id, series_id in sorted(checks.doubtful.items()):
        snapshot = None if series_id in gone else await provider.get_event(calendar, event_id)
        if snapshot is None:
            removed.append(event_id)
        else:
            found.append(snapshot)
    confirmed = replace(changes, upserts=[*changes.upserts, *found], removed=removed, removed_window=None)
    return confirmed, gone


async def _checks(session: AsyncSession, calendar_id: int, changes: ChangeSet) -> _Checks:
    checks = _Checks()
    window = changes.removed_window
    ids = sorted(set(changes.removed))
    # Only removals use it: a baseline holds every master of the window and removes nothing.
    cancelled = _cancelled_slots(changes.upserts) if window is not None and ids else {}
    for i in range(0, len(ids), 500):  # keep IN lists bounded on both databases
        rows = await session.execute(
            select(
                CalendarEvent.event_id,
                CalendarEvent.kind,
                CalendarEvent.series_id,
                CalendarEvent.original_start,
                CalendarEvent.start,
                CalendarEvent.end,
                CalendarEvent.removed_at,
            ).where(CalendarEvent.calendar_id == calendar_id, CalendarEvent.event_id.in_(ids[i : i + 500]))
        )
        for event_id, kind, series_id, original_start, start, end, removed_at in rows:
            if window is not None and removed_at is not None:
                continue  # removed already: nothing to ask
            if window is None or kind == Kind.series.value:
                checks.removed.append(event_id)
            elif not _within(window, start, end):
                continue  # stored outside the round's window: not this removal's business
            elif original_start in cancelled.get(series_id, ()):
                checks.removed.append(event_id)  # its series, read after the delta, says so
            else:
                checks.doubtful[event_id] = series_id
            if series_id is not None:
                checks.series.add(series_id)
    if changes.baseline is not None:
        present = {s.event_id for s in changes.upserts}
        absent = await session.execute(
            select(CalendarEvent.event_id, CalendarEvent.series_id).where(*_live_in_window(calendar_id, changes))
        )
        for event_id, series_id in absent:
            if event_id in present:
                continue
            if series_id is not None:
                checks.series.add(series_id)
            if window is not None:
                checks.doubtful[event_id] = series_id
        if window is not None:  # a series listed by none of its instances may be gone too
            checks.series.update(
                await session.scalars(
                    select(CalendarEvent.event_id).where(
                        CalendarEvent.calendar_id == calendar_id,
                        CalendarEvent.kind == Kind.series.value,
                        CalendarEvent.removed_at.is_(None),
                    )
                )
            )
    checks.series -= {s.event_id for s in changes.upserts if s.kind is Kind.series}
    return checks


def _cancelled_slots(upserts: list[EventSnapshot]) -> dict[str | None, frozenset[datetime]]:
    """The slots each series snapshot in the increment excludes (EXDATE), by series id."""
    return {
        s.event_id: slot_set(s.recurrence, s.start, s.timezone).exdates
        for s in upserts
        if s.kind is Kind.series and s.start is not None
    }


def _within(window: SyncWindow, start: datetime | None, end: datetime | None) -> bool:
    """Whether a stored state overlaps the window (as a calendar view lists it)."""
    if start is None:
        return False
    end = end or start
    return start < window.end and (end > window.start or start >= window.start)


async def apply(
    session: AsyncSession,
    calendar_id: int,
    changes: ChangeSet,
    *,
    gone_series: set[str],
    observed_at: datetime,
    first_sync: bool = True,
) -> Applied:
    """`first_sync`: the calendar may have no stored events yet (worth a look before
    looking any up); False once it has been synced."""
    result = Applied(seen=len(changes.upserts))
    if not changes.upserts and not changes.removed and not gone_series and changes.baseline is None:
        return result  # an empty increment: nothing to look up
    upserted = {s.event_id for s in changes.upserts}
    removed = set(changes.removed) | gone_series
    stored = not first_sync or await _has_rows(session, calendar_id)
    rows = {r.event_id: r for r in await _rows(session, calendar_id, upserted | removed)} if stored else {}
    # In batches, so that only one batch of rows is alive at a time (a first baseline
    # of a large calendar holds 100,000s of snapshots already). An event listed twice
    # (which the adapters never send) makes it one batch: the later copy must see the first.
    upserts = changes.upserts
    batch = _CHUNK if len(upserted) == len(upserts) else max(1, len(upserts))
    updates: dict[str, dict[str, Any]] = {}  # stored rows' new values, by event id
    for i in range(0, len(upserts), batch):
        new_rows: dict[str, dict[str, Any]] = {}
        revisions: list[dict[str, Any]] = []
        for snapshot in upserts[i : i + batch]:
            _upsert(
                calendar_id, rows.get(snapshot.event_id), new_rows, updates, revisions, snapshot, observed_at, result
            )
        await _insert(session, CalendarEvent, list(new_rows.values()))
        await _insert(session, EventRevision, revisions)
    await _update(session, list(updates.values()))
    revisions = []
    if changes.baseline is not None and stored:  # nothing stored before: nothing can be missing
        removed |= await _absent_from_baseline(session, calendar_id, changes)
    if stored:
        missing = removed - rows.keys() - upserted
        rows.update((r.event_id, r) for r in await _rows(session, calendar_id, missing))
    removals = []
    for event_id in sorted(removed):
        row = rows.get(event_id)
        if row is None or row.removed_at is not None or event_id in upserted:
            continue
        removals.append({"row_id": row.id, "removed_at": observed_at})
        revisions.append(revision(calendar_id, event_id, observed_at, observed_at, None))
        result.removed += 1
        result.event_ids.add(event_id)
    await _update(session, removals)
    await _insert(session, EventRevision, revisions)
    if changes.baseline is not None or gone_series or not stored:  # anything may have changed
        result.footprint.wide = True
    elif result.event_ids:
        await _trace(session, calendar_id, result, rows, {s.event_id: s for s in upserts})
    return result


class _Version(NamedTuple):
    kind: str
    start: datetime | None
    end: datetime | None
    original_start: datetime | None
    people: list[str]
    series_id: str | None


def _row_version(row: Row) -> _Version:
    people = [row.organizer, *(a[0] for a in row.attendees or ())]
    return _Version(row.kind, row.start, row.end, row.original_start, people, row.series_id)


def _snapshot_version(s: EventSnapshot) -> _Version:
    people = [s.organizer, *(a.email for a in s.attendees)]
    return _Version(s.kind._value_, s.start, s.end, s.original_start, people, s.series_id)


async def _trace(
    session: AsyncSession,
    calendar_id: int,
    result: Applied,
    rows: dict[str, Row],
    snapshots: dict[str, EventSnapshot],
) -> None:
    """The footprint of the changed events: each one as it was (its stored row) and as
    it is (its snapshot; none once removed). An instance also leaves its series' people
    (a cancelled one is a stub without any) and its slot in the series."""
    versions = [_row_version(rows[i]) for i in sorted(result.event_ids) if i in rows]
    versions += [_snapshot_version(snapshots[i]) for i in sorted(result.event_ids) if i in snapshots]
    series_ids = {v.series_id for v in versions if v.kind == Kind.instance.value and v.series_id}
    series = {sid: rows[sid] for sid in series_ids & rows.keys()}
    if missing := series_ids - rows.keys():
        series.update((r.event_id, r) for r in await _rows(session, calendar_id, missing))
    for version in versions:
        master = series.get(version.series_id) if version.series_id else None
        people, length = version.people, None
        if master is not None:
            people = [*people, *_row_version(master).people]
            if master.start is not None and master.end is not None:
                length = master.end - master.start
        result.footprint.add(
            version.kind, version.start, version.end, people, original_start=version.original_start, length=length
        )


# Built once: they run for every increment. Stored rows are read and written as
# plain rows (Core), not ORM objects: an increment compares many and changes few.
_events = CalendarEvent.__table__
_ANY_ROW = select(_events.c.id).where(_events.c.calendar_id == bindparam("calendar_id")).limit(1)
_ROWS = select(_events).where(
    _events.c.calendar_id == bindparam("calendar_id"), _events.c.event_id.in_(bindparam("ids", expanding=True))
)
# SET clause: the columns named in the parameters (besides `row_id`).
_UPDATE = update(_events).where(_events.c.id == bindparam("row_id"))


async def _has_rows(session: AsyncSession, calendar_id: int) -> bool:
    return (await session.scalar(_ANY_ROW, {"calendar_id": calendar_id})) is not None


async def _rows(session: AsyncSession, calendar_id: int, ids: set[str]) -> list[Row]:
    found: list[Row] = []
    ordered = sorted(ids)
    for i in range(0, len(ordered), 500):  # keep IN lists bounded on both databases
        found += (await session.execute(_ROWS, {"calendar_id": calendar_id, "ids": ordered[i : i + 500]})).all()
    return found


async def _update(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Core executemany UPDATEs by row id, in chunks (every dict names the same columns)."""
    for i in range(0, len(rows), _CHUNK):
        await session.execute(_UPDATE, rows[i : i + _CHUNK])


async def _insert(session: AsyncSession, model: type, rows: list[dict[str, Any]]) -> None:
    """Core executemany INSERTs in chunks, in the given order (revision ids follow it)."""
    table = model.__table__
    for i in range(0, len(rows), _CHUNK):
        await session.execute(insert(table), rows[i : i + _CHUNK])


def _upsert(
    calendar_id: int,
    row: Row | None,
    new_rows: dict[str, dict[str, Any]],
    updates: dict[str, dict[str, Any]],
    revisions: list[dict[str, Any]],
    snapshot: EventSnapshot,
    observed_at: datetime,
    result: Applied,
) -> None:
    pending = new_rows.get(snapshot.event_id) or updates.get(snapshot.event_id)
    if pending is not None:  # listed twice in one increment: the later copy wins
        if values_match(pending, snapshot):
            return
        pending.update(row_values(snapshot))
    elif row is None:
        new_rows[snapshot.event_id] = dict(calendar_id=calendar_id, event_id=snapshot.event_id, **row_values(snapshot))
    else:
        if row_matches(row, snapshot):
            return
        updates[snapshot.event_id] = dict(row_id=row.id, **row_values(snapshot))
    revisions.append(revision(calendar_id, snapshot.event_id, snapshot.updated, observed_at, snapshot))
    result.changed += 1
    result.event_ids.add(snapshot.event_id)


async def _absent_from_baseline(session: AsyncSession, calendar_id: int, changes: ChangeSet) -> set[str]:
    """A baseline lists every non-series event in its window: stored ones it
    omits were deleted while we were not looking (e.g. behind an expired cursor).
    Series masters are checked through the provider instead (gone_series)."""
    present = {s.event_id for s in changes.upserts}
    stored = await session.scalars(select(CalendarEvent.event_id).where(*_live_in_window(calendar_id, changes)))
    return {event_id for event_id in stored if event_id not in present}


def _live_in_window(calendar_id: int, changes: ChangeSet) -> tuple:
    """Stored, not removed, non-series events overlapping the baseline's window (as
    `_within`: what a view over the window lists)."""
    window = changes.baseline
    end = func.coalesce(CalendarEvent.end, CalendarEvent.start)
    return (
        CalendarEvent.calendar_id == calendar_id,
        CalendarEvent.removed_at.is_(None),
        CalendarEvent.kind != Kind.series.value,
        CalendarEvent.start < window.end,
        or_(end > window.start, CalendarEvent.start >= window.start),
    )
