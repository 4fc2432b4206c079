"""The transactional outbox: domain events recorded in the transaction of the change
they report, so an event exists if and only if its change committed (no lost event,
no phantom one). Workers deliver them later (service.outbound), to every endpoint
subscribed when they fan them out.

Event types and what causes them:
- `finding.opened`: a finding is detected, or true again after it was resolved;
- `finding.resolved`: it stopped being true (recompute);
- `meeting.cancelled`: a 1:1 is cancelled (its calendar event, or through the API), or
  its calendar no longer produces it (`removed`: the meeting held nothing and is gone);
- `meeting.rescheduled`: a scheduled 1:1's start moved;
- `agenda.carried_over`: shared talking points moved on to the pair's next 1:1;
- `meeting.upcoming`: a scheduled 1:1 starts within the lead time (the workers'
  periodic pass; once per meeting and start), with `agenda_empty`.

Privacy: payloads hold ids, types, times and the pair's people ids only: never a
title, agenda text, note, rating or evidence. Private talking points count nowhere: a
carry-over of private points alone is no event (its existence would tell the other
participant they exist), and `agenda_empty` looks at shared points only."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, false, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import AgendaItem, Meeting, MeetingStatus, OutboxEvent, Pair, WebhookAttempt

WAKE = "oneonone.outbox_written"  # session.info flag: outbound workers in this process look at once after commit
UPCOMING_BATCH = 500


class EventType(str, enum.Enum):
    finding_opened = "finding.opened"
    finding_resolved = "finding.resolved"
    meeting_cancelled = "meeting.cancelled"
    meeting_rescheduled = "meeting.rescheduled"
    agenda_carried_over = "agenda.carried_over"
    meeting_upcoming = "meeting.upcoming"


EVENT_TYPES = tuple(t.value for t in EventType)


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    pair_id: int
    data: dict[str, Any]


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_event_id(now: datetime) -> str:
    """`evt_` and a ULID: 48 bits of milliseconds, 80 random bits, Crockford base32
    (26 characters, sortable by time)."""
    value = (int(now.timestamp() * 1000) & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return "evt_" + "".join(reversed(chars))


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a `Z`, as every payload writes times."""
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def record(session: AsyncSession, events: list[Event], now: datetime) -> None:
    """Add the events to the session's transaction, in order (their ids follow it)."""
    if not events:
        return
    rows = [
        dict(
            event_id=new_event_id(now),
            type=e.type.value,
            pair_id=e.pair_id,
            occurred_at=now,
            payload=e.data,
            dispatched_at=None,
        )
        for e in events
    ]
    for i in range(0, len(rows), 1000):
        await session.execute(insert(OutboxEvent.__table__), rows[i : i + 1000])
    session.sync_session.info[WAKE] = True


# -- payloads --------------------------------------------------------------------------------------
def _people(pair: Any) -> dict[str, int]:
    return {"pair_id": pair.id, "manager_id": pair.manager_id, "report_id": pair.report_id}


def finding_event(
    kind: EventType,
    pair: Any,
    *,
    finding_id: int,
    finding_type: str,
    meeting_id: int | None,
    occurrence_start: str | None,
    detected_at: datetime,
    resolved_at: datetime | None = None,
) -> Event:
    return Event(
        kind,
        pair.id,
        {
            "finding_id": finding_id,
            "finding_type": finding_type,
            **_people(pair),
            "meeting_id": meeting_id,
            "occurrence_start": timestamp(datetime.fromisoformat(occurrence_start)) if occurrence_start else None,
            "detected_at": timestamp(detected_at),
            "resolved_at": timestamp(resolved_at),
        },
    )


def _meeting(meeting: Any) -> dict[str, Any]:
    return {"meeting_id": meeting.id, "start": timestamp(meeting.start), "end": timestamp(meeting.end)}


def meeting_cancelled(pair: Any, meeting: Any, *, removed: bool = False) -> Event:
    data = {
        **_meeting(meeting),
        **_people(pair),
        "original_start": timestamp(meeting.original_start),
        "cancelled_at": timestamp(meeting.cancelled_at),
        "removed": removed,
    }
    return Event(EventType.meeting_cancelled, pair.id, data)


def meeting_rescheduled(pair: Any, meeting: Any, previous_start: datetime, previous_end: datetime) -> Event:
    data = {
        **_meeting(meeting),
        **_people(pair),
        "previous_start": timestamp(previous_start),
        "previous_end": timestamp(previous_end),
    }
    return Event(EventType.meeting_rescheduled, pair.id, data)


def carried_over(pair: Any, from_meeting_id: int, to_meeting_id: int, item_ids: list[int]) -> Event:
    data = {
        "from_meeting_id": from_meeting_id,
        "to_meeting_id": to_meeting_id,
        **_people(pair),
        "item_ids": item_ids,
    }
    return Event(EventType.agenda_carried_over, pair.id, data)


async def pair_of(session: AsyncSession, pair_id: int) -> Any:
    """The pair's id and people (for a payload), however the caller came by the pair."""
    return (await session.execute(select(Pair.id, Pair.manager_id, Pair.report_id).where(Pair.id == pair_id))).one()


# -- the periodic pass -----------------------------------------------------------------------------
async def emit_upcoming(session: AsyncSession, now: datetime, lead: timedelta, limit: int = UPCOMING_BATCH) -> int:
    """`meeting.upcoming` for the active pairs' scheduled 1:1s starting in (now, now + lead]
    not yet announced for their current start; returns how many (the caller commits and
    calls again while it is `limit`)."""
    query = (
        select(Meeting.id, Meeting.start, Meeting.end, Pair.id.label("pair_id"), Pair.manager_id, Pair.report_id)
        .join(Pair, Pair.id == Meeting.pair_id)
        .where(
            Pair.active.is_(True),
            Meeting.status == MeetingStatus.scheduled.value,
            Meeting.start > now,
            Meeting.start <= now + lead,
            or_(Meeting.upcoming_notified_start.is_(None), Meeting.upcoming_notified_start != Meeting.start),
        )
        .order_by(Meeting.start, Meeting.id)
        .limit(limit)
        .with_for_update(of=Meeting, skip_locked=True)
    )
    rows = (await session.execute(query)).all()
    if not rows:
        return 0
    ids = [row.id for row in rows]
    with_agenda = set(
        (
            await session.scalars(
                select(AgendaItem.meeting_id)
                .where(AgendaItem.meeting_id.in_(ids), AgendaItem.private == false())
                .distinct()
            )
        ).all()
    )
    events = []
    for row in rows:
        await session.execute(
            update(Meeting)
            .where(Meeting.id == row.id)
            .values(upcoming_notified_start=row.start)
            .execution_options(synchronize_session=False)
        )
        pair = PairIds(row.pair_id, row.manager_id, row.report_id)
        data = {**_meeting(row), **_people(pair), "agenda_empty": row.id not in with_agenda}
        events.append(Event(EventType.meeting_upcoming, row.pair_id, data))
    await record(session, events, now)
    return len(rows)


@dataclass(frozen=True, slots=True)
class PairIds:
    id: int
    manager_id: int
    report_id: int


async def prune(session: AsyncSession, now: datetime, retention: timedelta) -> None:
    """Forget events (and their deliveries) and attempts older than `retention`."""
    cutoff = now - retention
    await session.execute(delete(OutboxEvent).where(OutboxEvent.occurred_at < cutoff))
    await session.execute(delete(WebhookAttempt).where(WebhookAttempt.attempted_at < cutoff))
