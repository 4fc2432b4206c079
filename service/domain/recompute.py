"""Run the detector over the stored calendar history and persist what it
concludes: each pair's cadence, its sync-created meetings (updated in place, so
agendas, notes and action items stay attached across reschedules and full
resyncs), its findings (stable keys: recomputing is idempotent; a finding that
stops being true is resolved, never duplicated) and when it must be looked at
again with no calendar change (`next_check_at`, see `schedule`).

On PostgreSQL the pairs recomputed are row-locked (in id order) for the
transaction, so two recomputations of one pair (a sync and the periodic pass)
run one after the other instead of both inserting the same findings."""

from __future__ import annotations

import gc
import heapq
from collections import OrderedDict
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from sqlalchemy import Text, and_, cast, exists, func, insert, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from service.db.models import (
    ActionItem,
    AgendaItem,
    Calendar,
    EventRevision,
    Feedback,
    Finding,
    Meeting,
    MeetingStatus,
    Pair,
    Person,
    PrivateNote,
    SharedNote,
)
from service.db.types import UTCDateTime
from service.domain import carryover, evidence, outbox
from service.domain.detection import (
    DetectedFinding,
    DetectedMeeting,
    Detection,
    PairDetection,
    detect_pairs,
    people_index,
)
from service.domain.detection.rules import earliest
from service.domain.event_codec import UNBOUNDED, from_json
from service.domain.events import CalendarHistory, EventChange, OrgPerson, Policy
from service.metrics import FINDINGS_OPENED, FINDINGS_RESOLVED, HISTORY_CACHED, HISTORY_READ

# Only occurrences this recent are re-judged: older meetings and findings keep
# the state they had when they left the detector's window.
WINDOW = timedelta(days=90)
# Statuses that make a meeting's open talking points move on to the next one.
FINISHED = (MeetingStatus.cancelled.value, MeetingStatus.held.value, MeetingStatus.declined.value)


PairRow = tuple[Pair, str, str]  # an active pair with its manager's and its report's emails


async def load_pairs(
    session: AsyncSession, person_ids: set[int] | None = None, pair_ids: set[int] | None = None
) -> list[PairRow]:
    """Active pairs: all, those involving `person_ids`, or those among `pair_ids`;
    row-locked on PostgreSQL."""
    manager = aliased(Person)
    query = (
        select(Pair, manager.email, Person.email)
        .join(manager, manager.id == Pair.manager_id)
        .join(Person, Person.id == Pair.report_id)
        .where(Pair.active.is_(True), Person.manager_id == Pair.manager_id)
        .order_by(Pair.id)
        # FOR NO KEY UPDATE: it keeps two recomputes of a pair apart, yet lets the rows
        # that reference the pair (findings, meetings, outbox events, deliveries) be
        # inserted meanwhile, whose foreign-key checks a FOR UPDATE would wait for.
        .with_for_update(of=Pair, key_share=True)
    )
    if person_ids is not None:
        query = query.where(Pair.manager_id.in_(person_ids) | Pair.report_id.in_(person_ids))
    if pair_ids is not None:
        query = query.where(Pair.id.in_(pair_ids))
    return [(row[0], row[1], row[2]) for row in (await session.execute(query)).all()]


async def load_people(session: AsyncSession, emails: set[str] | None = None) -> list[OrgPerson]:
    """Org members (all, or those among `emails`) with their manager's email."""
    manager = aliased(Person)
    query = select(Person.email, Person.name, Person.timezone, manager.email).outerjoin(
        manager, manager.id == Person.manager_id
    )
    if emails is not None:
        query = query.where(Person.email.in_(sorted(emails)))
    rows = (await session.execute(query)).all()
    return [OrgPerson(email=e, manager=m, timezone=tz, name=n) for e, n, tz, m in rows]


Revision = tuple[int, int, EventChange]  # (revision id, calendar id, the change)
_CALENDARS_PER_READ = 100
EventKey = tuple[str, str]  # (calendar email, event id)


@dataclass
class _Calendar:
    """One calendar's parsed history: each event's changes in revision order, and the
    events in the order of their first revision (the order `CalendarHistory` keeps)."""

    email: str
    last: int = 0  # highest revision id read
    count: int = 0  # revisions read
    changes: dict[EventKey, list[EventChange]] = field(default_factory=dict)
    first: list[tuple[int, EventKey]] = field(default_factory=list)  # (first revision id, event)

    def add(self, revision_id: int, change: EventChange) -> None:
        stream = self.changes.get(change.key)
        if stream is None:
            stream = self.changes[change.key] = []
            self.first.append((revision_id, change.key))
        stream.append(change)
        self.last = revision_id
        self.count += 1


class HistoryCache:
    """Parsed revisions per calendar, for a process that recomputes the same people
    over and over (a replay; a worker). Revisions are append-only, and a calendar's
    are committed in id order (inserted under its row lock, see SyncWorker._commit),
    so what was read stays valid and only newer revisions are read again, and a
    history is assembled from the calendars' event streams without re-reading or
    re-grouping their revisions. Before a calendar's cached revisions are used, their
    count and highest id are checked against the database: a calendar whose rows were
    deleted or replaced (ids can come back on SQLite) is read again from scratch.

    `max_revisions` bounds what is kept (a worker's memory): past it, the calendars
    least recently used are dropped, never one the history being assembled needs."""

    def __init__(self, max_revisions: int | None = None) -> None:
        self.max_revisions = max_revisions
        self.calendars: OrderedDict[int, _Calendar] = OrderedDict()  # least recently used first
        self.revisions = 0  # kept, over all calendars

    def take(self, calendar_id: int, email: str, count: int, last: int) -> _Calendar:
        """The calendar's cached revisions when they are still what the database holds up
        to the highest id read (`count` of them, the highest `last`); else a fresh entry."""
        known = self.calendars.get(calendar_id)
        if known is None or known.email != email or (known.count, known.last) != (count, last):
            if known is not None:
                self.revisions -= known.count
            known = self.calendars[calendar_id] = _Calendar(email)
        self.calendars.move_to_end(calendar_id)
        return known

    def grew(self, added: int, keep: Iterable[int]) -> None:
        """`added` revisions were read into the cache; drop the least recently used
        calendars, other than `keep`, while over the bound."""
        self.revisions += added
        if self.max_revisions is None or self.revisions <= self.max_revisions:
            return
        # `take` moved the calendars kept to the end: the oldest go from the front, one
        # at a time (copying the order to walk it cost 1 % of a worker at 10,000 calendars).
        needed = set(keep)
        while self.revisions > self.max_revisions and self.calendars:
            oldest = next(iter(self.calendars))
            if oldest in needed:  # only calendars this history needs are left
                break
            self.revisions -= self.calendars.pop(oldest).count


async def load_history(
    session: AsyncSession, emails: Iterable[str], cache: HistoryCache | None = None, since: datetime | None = None
) -> CalendarHistory:
    """Every revision of these people's calendars, in revision order. Snapshots come
    as text and are parsed here (orjson: the history is the bulk of a recompute).
    `since`: leave out the events none of whose states reach it (see `_reaching`); not
    with `cache`, which keeps every event (one left out now may change later and then
    need its earlier states)."""
    wanted = sorted(set(emails))
    if cache is not None:
        return await _cached_history(session, wanted, cache)
    history = CalendarHistory()
    for _id, _calendar_id, change in await _revisions(session, Person.email.in_(wanted), since=since):
        history.add(change)
    return history


def _joined(query, *where):
    return (
        query.join(Calendar, Calendar.id == EventRevision.calendar_id)
        .join(Person, Person.id == Calendar.person_id)
        .where(*where)
    )


def _reaching(since: datetime, *where):
    """The events (calendar id, event id) with a state reaching `since`: the others
    ended before anything the detector judges (a year of history is mostly such)."""
    reach = func.max(func.coalesce(EventRevision.horizon, literal(UNBOUNDED, UTCDateTime())))
    return (
        _joined(select(EventRevision.calendar_id, EventRevision.event_id), *where)
        .group_by(EventRevision.calendar_id, EventRevision.event_id)
        .having(reach >= since)
        .subquery()
    )


async def _revisions(session: AsyncSession, *where, since: datetime | None = None) -> list[Revision]:
    query = _joined(
        select(
            EventRevision.id,
            EventRevision.calendar_id,
            Person.email,
            EventRevision.event_id,
            EventRevision.changed_at,
            cast(EventRevision.snapshot, Text),
        ),
        *where,
    )
    if since is not None:
        events = _reaching(since, *where)
        query = query.join(
            events, and_(events.c.calendar_id == EventRevision.calendar_id, events.c.event_id == EventRevision.event_id)
        )
    # On the session's connection, as Core rows: the ORM's row handling costs more
    # than the database's work here. By partition: each async step is a greenlet
    # switch, too dear to take per row.
    connection = await session.connection()
    rows = await connection.stream(query.order_by(EventRevision.id).execution_options(yield_per=5000))
    out = []
    async for partition in rows.partitions():
        for revision_id, calendar_id, email, event_id, changed_at, text in partition:
            data = orjson.loads(text) if text else None
            change = EventChange(
                calendar=email, event_id=event_id, changed_at=changed_at, snapshot=from_json(data) if data else None
            )
            out.append((revision_id, calendar_id, change))
    return out


async def _cached_history(session: AsyncSession, emails: list[str], cache: HistoryCache) -> CalendarHistory:
    calendars = dict(
        (
            await session.execute(
                select(Calendar.id, Person.email)
                .join(Person, Person.id == Calendar.person_id)
                .where(Person.email.in_(emails))
            )
        ).all()
    )
    # What the database holds up to each cached calendar's highest id read, to check
    # the cache against (none read: (0, 0)); then what is new since.
    cached = [c for c in calendars if c in cache.calendars and cache.calendars[c].count]
    held: dict[int, tuple[int, int]] = {}
    for chunk in _chunks(cached):
        upto = or_(
            *(
                and_(EventRevision.calendar_id == calendar_id, EventRevision.id <= cache.calendars[calendar_id].last)
                for calendar_id in chunk
            )
        )
        rows = await session.execute(
            select(EventRevision.calendar_id, func.count(), func.max(EventRevision.id))
            .where(upto)
            .group_by(EventRevision.calendar_id)
        )
        held.update({calendar_id: (count, last) for calendar_id, count, last in rows})
    parsed: dict[int, _Calendar] = {}
    uncached: set[int] = set()  # read from scratch: not cached (first use, dropped under the bound, changed)
    for calendar_id, email in calendars.items():
        before = cache.calendars.get(calendar_id)
        parsed[calendar_id] = cache.take(calendar_id, email, *held.get(calendar_id, (0, 0)))
        if parsed[calendar_id] is not before:
            uncached.add(calendar_id)
    added = 0
    for chunk in _chunks(list(parsed)):
        newer = or_(
            *(
                and_(EventRevision.calendar_id == calendar_id, EventRevision.id > parsed[calendar_id].last)
                for calendar_id in chunk
            )
        )
        for revision_id, calendar_id, change in await _revisions(session, newer):
            parsed[calendar_id].add(revision_id, change)
            added += 1
    cold = sum(parsed[calendar_id].count for calendar_id in uncached)  # fresh entries hold only what was read
    cache.grew(added, parsed)
    HISTORY_READ.labels("uncached").inc(cold)
    HISTORY_READ.labels("new").inc(added - cold)
    HISTORY_CACHED.set(cache.revisions)
    # The events of all calendars in the order of their first revision, as
    # `CalendarHistory.add` over the merged revisions would have met them.
    streams: dict[EventKey, list[EventChange]] = {}
    for c in parsed.values():
        streams.update(c.changes)
    order = heapq.merge(*(c.first for c in parsed.values()))
    return CalendarHistory({key: streams[key] for _first, key in order})


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    """A few calendars per statement: SQLite bounds an expression's depth, and a
    first read can cover the whole org."""
    return (ids[i : i + _CALENDARS_PER_READ] for i in range(0, len(ids), _CALENDARS_PER_READ))


def participants(history: CalendarHistory) -> set[str]:
    """Everyone who organizes or attends an event of the history: the only org
    members the detector can need (to tell whether an event is a 1:1)."""
    found: set[str] = set()
    for changes in history.changes.values():
        for change in changes:
            snap = change.snapshot
            if snap is None:
                continue
            if snap.organizer:
                found.add(snap.organizer.lower())
            found.update(a.email.lower() for a in snap.attendees)
    return found


async def recompute(
    session: AsyncSession,
    now: datetime,
    person_ids: set[int] | None = None,
    *,
    pair_ids: set[int] | None = None,
    cache: HistoryCache | None = None,
) -> Detection:
    """Detect and persist for every active pair involving `person_ids` (all if None),
    or for the active pairs among `pair_ids`. The pairs are detected together
    (`detect_pairs`: one pass over their people's calendars) and persisted together.
    `cache` keeps parsed history between calls (see `HistoryCache`)."""
    with _collector_paused():
        pairs = await load_pairs(session, person_ids, pair_ids)
        if not pairs:
            return Detection.combine([])
        emails = {email for _, manager, report in pairs for email in (manager, report)}
        history = await load_history(session, emails, cache, None if cache else earliest(now))
        everyone = person_ids is None and pair_ids is None
        index = people_index(await load_people(session, None if everyone else emails | participants(history)))
        results = detect_pairs(
            history,
            [(m, r, Policy(m, r, pair.cadence_days) if pair.cadence_days else None) for pair, m, r in pairs],
            index,
            now,
        )
        await persist_all(session, [(pair, result) for (pair, _m, _r), result in zip(pairs, results)], now)
        return Detection.combine(results)


class _Pause:
    depth = 0  # recomputes running in this process (tasks of one event loop)
    restore = False  # whether the collector was on when the first began


@contextmanager
def _collector_paused():
    """A full recompute builds millions of objects that live until it ends, and the
    cyclic garbage collector would traverse them again and again as they pile up (a
    quarter of its time). What it drops is almost all acyclic, freed by reference
    counting as it goes, so the collector waits until the last recompute running in
    this process is done."""
    if _Pause.depth == 0:
        _Pause.restore = gc.isenabled()
        gc.disable()
    _Pause.depth += 1
    try:
        yield
    finally:
        _Pause.depth -= 1
        if _Pause.depth == 0 and _Pause.restore:
            gc.enable()


async def persist_all(session: AsyncSession, batch: list[tuple[Pair, PairDetection]], now: datetime) -> None:
    """Pairs' detections into their rows, a few statements for the whole batch."""
    ids = [pair.id for pair, _ in batch]
    meetings: dict[int, dict[tuple[str | None, datetime], Meeting]] = {pair_id: {} for pair_id in ids}
    # Only occurrences in the window are detected or can vanish (see _merge_meetings):
    # older rows are never touched, so they are not read.
    for row in (
        await session.scalars(
            select(Meeting).where(
                Meeting.pair_id.in_(ids), Meeting.source_uid.is_not(None), Meeting.original_start >= now - WINDOW
            )
        )
    ).all():
        meetings[row.pair_id][(row.source_uid, row.original_start)] = row
    findings: dict[int, dict[str, Finding]] = {pair_id: {} for pair_id in ids}
    for row in (await session.scalars(select(Finding).where(Finding.pair_id.in_(ids)))).all():
        findings[row.pair_id][row.key] = row
    finished: list[Meeting] = []
    vanished: list[Meeting] = []
    new: list[dict] = []
    events: list[outbox.Event] = []  # recorded in this transaction (service.domain.outbox)
    by_start: dict[int, dict[datetime, int | None]] = {}
    for pair, result in batch:
        _persist_pair(pair, result, now)
        by_start[pair.id] = _merge_meetings(
            pair, result.meetings, meetings[pair.id], now, finished, vanished, new, events
        )
    await _insert(session, Meeting, new)
    ids = await _inserted(session, new)
    for v in new:
        slots = by_start[v["pair_id"]]
        if slots[v["original_start"]] is None:
            slots[v["original_start"]] = ids[(v["pair_id"], v["source_uid"], v["original_start"])]
    await session.flush()
    # A slot the calendar no longer produces (series re-timed or ended, no longer a
    # 1:1): it is not an occurrence any more. A row holding nothing goes; one that
    # holds something (agenda, notes…) stays, as cancelled.
    empty = await _without_content(session, [row.id for row in vanished])
    pairs = {pair.id: pair for pair, _ in batch}
    for row in vanished:
        row.status, row.cancelled_at, row.updated_at = MeetingStatus.cancelled.value, now, now
        events.append(outbox.meeting_cancelled(pairs[row.pair_id], row, removed=row.id in empty))
        if row.id in empty:
            await session.delete(row)
        else:
            finished.append(row)
    new_findings: list[dict] = []
    for pair, result in batch:
        _merge_findings(pair, result.findings, by_start[pair.id], findings[pair.id], now, new_findings, events)
    await _insert(session, Finding, new_findings)
    await session.flush()
    events += await _opened(session, new_findings, pairs)
    await outbox.record(session, events, now)
    _count_findings(events)
    if finished:  # only meetings with talking points can carry any over
        with_items = set(
            (
                await session.scalars(
                    select(AgendaItem.meeting_id)
                    .where(AgendaItem.meeting_id.in_([row.id for row in finished]))
                    .distinct()
                )
            ).all()
        )
        for row in sorted(finished, key=lambda r: r.start):
            if row.id in with_items:
                await carryover.carry_over(session, row.id, now)


def _persist_pair(pair: Pair, result: PairDetection, now: datetime) -> None:
    summary = result.pair
    values = {
        "cadence": summary.cadence,
        "interval_days": summary.interval_days,
        "last_held": summary.last_held,
        "next_scheduled": summary.next_scheduled,
    }
    if any(getattr(pair, k) != v for k, v in values.items()):
        for key, value in values.items():
            setattr(pair, key, value)
        pair.updated_at = now
    pair.next_check_at = result.next_change


def _source(m: DetectedMeeting) -> str:
    return m.ical_uid or m.event_id or ""


def _merge_meetings(
    pair: Pair,
    detected: tuple[DetectedMeeting, ...],
    stored: dict[tuple[str | None, datetime], Meeting],
    now: datetime,
    finished: list[Meeting],
    vanished: list[Meeting],
    new: list[dict],
    events: list[outbox.Event],
) -> dict[datetime, int | None]:
    """Update the pair's calendar meetings in place and collect the new ones' rows
    (`new`), those that just finished (cancelled, held, declined) and those no
    longer produced. Returns the meetings' ids by original start (None: new, not
    inserted yet). A new meeting has nothing to carry over: it is not `finished`."""
    by_start: dict[datetime, int | None] = {}
    for m in detected:
        row = stored.pop((_source(m), m.original_start), None)
        if row is None:
            new.append(
                dict(
                    pair_id=pair.id,
                    source_uid=_source(m),
                    original_start=m.original_start,
                    title=m.title or "1:1",
                    start=m.start,
                    end=m.end,
                    status=m.status,
                    source_series_id=m.series_id,
                    cancelled_at=m.cancelled_at,
                    created_at=now,
                    updated_at=now,
                )
            )
            by_start[m.original_start] = None
            continue
        was, was_start, was_end = row.status, row.start, row.end
        changed = _assign(
            row,
            # A 1:1 marked private loses the title it had; one merely untitled keeps it.
            title=m.title or ("1:1" if m.private else row.title or "1:1"),
            start=m.start,
            end=m.end,
            status=m.status,
            source_series_id=m.series_id,
            cancelled_at=m.cancelled_at,
        )
        if changed:
            row.updated_at = now
        if m.status in FINISHED and was != m.status:
            finished.append(row)
        if m.status == MeetingStatus.cancelled.value and was != m.status:
            events.append(outbox.meeting_cancelled(pair, row))
        elif m.status == MeetingStatus.scheduled.value and was_start != row.start:
            events.append(outbox.meeting_rescheduled(pair, row, was_start, was_end))
        by_start[m.original_start] = row.id
    vanished += [
        row
        for (_uid, start), row in stored.items()
        if start >= now - WINDOW and row.status == MeetingStatus.scheduled.value
    ]
    return by_start


async def _without_content(session: AsyncSession, ids: list[int]) -> set[int]:
    """The meetings among `ids` with no agenda item, note, action item or rating."""
    if not ids:
        return set()
    held = [
        exists().where(model.meeting_id == Meeting.id)
        for model in (AgendaItem, SharedNote, PrivateNote, ActionItem, Feedback)
    ]
    query = select(Meeting.id).where(Meeting.id.in_(ids))
    for clause in held:
        query = query.where(~clause)
    return set((await session.scalars(query)).all())


def _assign(row: Meeting, **values) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


def _merge_findings(
    pair: Pair,
    detected: tuple[DetectedFinding, ...],
    meetings: dict[datetime, int | None],
    stored: dict[str, Finding],
    now: datetime,
    new: list[dict],
    events: list[outbox.Event],
) -> None:
    """Update, reopen or resolve the pair's stored findings; collect new ones' rows (`new`)
    and the events of those reopened and resolved."""
    for f in detected:
        details = {**f.details, **_key_fields(f), **evidence.stored(f)}
        row = stored.pop(f.key, None)
        if row is None:
            new.append(
                dict(
                    pair_id=pair.id,
                    meeting_id=meetings.get(f.occurrence_start) if f.occurrence_start else None,
                    type=f.type,
                    key=f.key,
                    details=details,
                    detected_at=now,
                )
            )
            continue
        if row.resolved_at is not None:  # true again: reopen rather than duplicate
            row.resolved_at = None
            events.append(_finding_event(outbox.EventType.finding_opened, pair, row))
        if row.details != details:
            row.details = details
    for row in stored.values():
        moment = _moment(row)
        if row.resolved_at is None and (moment is None or moment >= now - WINDOW):
            row.resolved_at = now
            events.append(_finding_event(outbox.EventType.finding_resolved, pair, row))


def _finding_event(kind: outbox.EventType, pair: Pair, row: Finding) -> outbox.Event:
    return outbox.finding_event(
        kind,
        pair,
        finding_id=row.id,
        finding_type=row.type,
        meeting_id=row.meeting_id,
        occurrence_start=(row.details or {}).get("occurrence_start"),
        detected_at=row.detected_at,
        resolved_at=row.resolved_at,
    )


async def _opened(session: AsyncSession, new: list[dict], pairs: dict[int, Pair]) -> list[outbox.Event]:
    """`finding.opened` for the findings just inserted (their ids read back by key)."""
    ids: dict[str, int] = {}
    keys = [v["key"] for v in new]
    for i in range(0, len(keys), _INSERT_CHUNK):
        chunk = keys[i : i + _INSERT_CHUNK]
        rows = await session.execute(select(Finding.key, Finding.id).where(Finding.key.in_(chunk)))
        ids.update(dict(rows.all()))
    return [
        outbox.finding_event(
            outbox.EventType.finding_opened,
            pairs[v["pair_id"]],
            finding_id=ids[v["key"]],
            finding_type=v["type"],
            meeting_id=v["meeting_id"],
            occurrence_start=v["details"].get("occurrence_start"),
            detected_at=v["detected_at"],
        )
        for v in new
    ]


def _count_findings(events: list[outbox.Event]) -> None:
    """Findings opened (new or reopened) and resolved, by type: counted once written
    (flushed); the caller commits."""
    for event in events:
        if event.type is outbox.EventType.finding_opened:
            FINDINGS_OPENED.labels(event.data["finding_type"]).inc()
        elif event.type is outbox.EventType.finding_resolved:
            FINDINGS_RESOLVED.labels(event.data["finding_type"]).inc()


_INSERT_CHUNK = 1000


async def _insert(session: AsyncSession, model: type, rows: list[dict]) -> None:
    """Core executemany INSERTs in chunks: tens of thousands of meetings on a first full
    recompute, where ORM objects cost several times as much. (No RETURNING: SQLite
    cannot promise its order, so SQLAlchemy would insert row by row.)"""
    for i in range(0, len(rows), _INSERT_CHUNK):
        await session.execute(insert(model.__table__), rows[i : i + _INSERT_CHUNK])


async def _inserted(session: AsyncSession, new: list[dict]) -> dict[tuple[int, str, datetime], int]:
    """The ids of the `new` meetings just inserted, by their unique key (pair id, source
    uid, original start): their pairs' meetings from the earliest new start on."""
    if not new:
        return {}
    rows = await session.execute(
        select(Meeting.pair_id, Meeting.source_uid, Meeting.original_start, Meeting.id).where(
            Meeting.pair_id.in_(sorted({v["pair_id"] for v in new})),
            Meeting.original_start >= min(v["original_start"] for v in new),
            Meeting.source_uid.is_not(None),
        )
    )
    return {(pair_id, uid, start): meeting_id for pair_id, uid, start, meeting_id in rows}


def _key_fields(f: DetectedFinding) -> dict[str, str]:
    out = {}
    for name in ("occurrence_start", "since", "by"):
        value = getattr(f, name)
        if value is not None:
            out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _moment(row: Finding) -> datetime | None:
    value = (row.details or {}).get("occurrence_start") or (row.details or {}).get("since")
    return datetime.fromisoformat(value) if value else None
