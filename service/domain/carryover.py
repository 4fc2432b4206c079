"""Carry-over: talking points not dealt with move on to the pair's next meeting.

Definitions (`now` is the injected clock, never the wall clock):

- A meeting is *finished* when it is cancelled, or when it has ended (`end <= now`),
  whatever its other status (held, declined, still "scheduled").
- A meeting is *live* unless it is cancelled or declined.
- The *next meeting* of a finished meeting M is the pair's live meeting with the
  smallest (start, id) among those with `start > M.start` and `start >= now`.
  A meeting under way or in the past never receives items; a meeting starting
  exactly now does (back-to-back 1:1s).
- An item of M is *pending* when it is not done and it has not been carried yet:
  no agenda item of the pair has `carried_from_id` = its id.

`carry_over(M)`: if M is finished and has a next meeting N, every pending item of M
is copied to N, in M's agenda order, keeping author, body, private and minutes,
with `carried_from_id` = the item on M (the immediate source, so A→B→C chains link
C's copy to B's, not A's); copies are appended per the agenda ordering rules
(`agenda` module). The source stays on M as history. A second run finds nothing
pending, so it is idempotent. If M is not finished, or has no next meeting yet,
nothing moves and M's items stay pending.

`collect_pending(pair, N)`: called when a meeting N is created. It runs `carry_over`
for every finished meeting of the pair that still has pending items, oldest first,
so pending items reach their next meeting, which is N unless an earlier upcoming
meeting exists that the items are already due for. Returns the copies made on N.

Deleting a carried copy marks its source done (`agenda.delete_item`), so a dropped
point is never carried again. Both functions take ids and no HTTP concern: the
calendar sync engine calls them when a cancellation arrives or a meeting ends.
Each carry-over that moves shared points records an `agenda.carried_over` event
(service.domain.outbox) in the same transaction. `carry_over` locks the source
meeting row (PostgreSQL `FOR UPDATE`; SQLite serialises writers), so concurrent
runs cannot both copy an item."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from service.db.models import AgendaItem, Meeting, MeetingStatus, Pair
from service.domain import outbox
from service.domain.agenda import next_position, ordering

NOT_LIVE = (MeetingStatus.cancelled.value, MeetingStatus.declined.value)


def is_finished(meeting: Meeting, now: datetime) -> bool:
    return meeting.status == MeetingStatus.cancelled.value or meeting.end <= now


def _finished(now: datetime) -> Any:
    return or_(Meeting.status == MeetingStatus.cancelled.value, Meeting.end <= now)


def _pending(pair_id: int) -> Any:
    """SQL filter on AgendaItem: not done and not carried yet (copies stay within the pair)."""
    copy, host = aliased(AgendaItem), aliased(Meeting)
    carried = (
        select(copy.carried_from_id)
        .join(host, host.id == copy.meeting_id)
        .where(host.pair_id == pair_id, copy.carried_from_id.is_not(None))
    )
    return and_(AgendaItem.done == false(), AgendaItem.id.not_in(carried))


async def next_meeting(session: AsyncSession, meeting: Meeting, now: datetime) -> Meeting | None:
    """The meeting `meeting`'s pending items go to (see the module docstring)."""
    return await session.scalar(
        select(Meeting)
        .where(
            Meeting.pair_id == meeting.pair_id,
            Meeting.start > meeting.start,
            Meeting.start >= now,
            Meeting.status.not_in(NOT_LIVE),
        )
        .order_by(Meeting.start, Meeting.id)
        .limit(1)
    )


async def carry_over(session: AsyncSession, meeting_id: int, now: datetime) -> list[AgendaItem]:
    """Copy meeting `meeting_id`'s pending items to its next meeting; returns the copies
    (empty if the meeting is unknown, not finished, has nothing pending or no next meeting)."""
    row = (
        await session.execute(
            select(Meeting, Pair.report_id, Pair.manager_id)
            .join(Pair, Pair.id == Meeting.pair_id)
            .where(Meeting.id == meeting_id)
            .with_for_update(of=Meeting)
        )
    ).first()
    if row is None or not is_finished(row.Meeting, now):
        return []
    source = row.Meeting
    pending = list(
        (
            await session.scalars(
                select(AgendaItem)
                .where(AgendaItem.meeting_id == source.id, _pending(source.pair_id))
                .order_by(*ordering(row.report_id))
            )
        ).all()
    )
    if not pending:
        return []
    target = await next_meeting(session, source, now)
    if target is None:
        return []
    position = await next_position(session, target.id)
    copies = []
    for item in pending:
        copies.append(
            AgendaItem(
                meeting_id=target.id,
                author_id=item.author_id,
                body=item.body,
                private=item.private,
                minutes=item.minutes,
                done=False,
                position=position,
                carried_from_id=item.id,
                created_at=now,
                updated_at=now,
            )
        )
        if position:  # an explicitly ordered agenda: append one after the other
            position += 1
    session.add_all(copies)
    await session.flush()
    shared = [c.id for c in copies if not c.private]
    if shared:  # private points alone make no event: it would tell the other participant they exist
        pair = outbox.PairIds(source.pair_id, row.manager_id, row.report_id)
        await outbox.record(session, [outbox.carried_over(pair, source.id, target.id, shared)], now)
    return copies


async def collect_pending(session: AsyncSession, pair_id: int, new_meeting_id: int, now: datetime) -> list[AgendaItem]:
    """Carry every pending item of the pair's finished meetings; returns those that
    landed on `new_meeting_id`."""
    sources = (
        await session.scalars(
            select(Meeting.id)
            .where(
                Meeting.pair_id == pair_id,
                _finished(now),
                exists().where(AgendaItem.meeting_id == Meeting.id, _pending(pair_id)),
            )
            .order_by(Meeting.start, Meeting.id)
        )
    ).all()
    landed: list[AgendaItem] = []
    for source_id in sources:
        landed += [c for c in await carry_over(session, source_id, now) if c.meeting_id == new_meeting_id]
    return landed
