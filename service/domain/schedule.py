"""The periodic, time-driven pass: what changes with no calendar change.

A pair's findings can appear or go away just because time passes: a 1:1 ends
(held), a gap grows past 1.5 × the interval, the no_upcoming horizon moves on,
occurrences enter or leave the 90-day window. Each recomputation stores the
pair's next such instant (`Pair.next_check_at`, from the detector's
`next_change`), so this pass recomputes only the pairs that are due
(`next_check_at <= now`) and never looks at the others. New pairs and pairs
whose intended cadence changed are due at once, and so are the pairs of a person
an increment concerns (`mark_due`, in the sync's own transaction): the sync
recomputes them at once, and if that fails nothing is lost, this pass does it.

The pass also closes meetings created through the API (no calendar source):
once scheduled and ended, they are `held`, and their open talking points are
carried over to the pair's next meeting (`carryover.carry_over`).

Due-ness is stored, so a pass that was missed or failed is simply caught up by
the next one; running it twice at the same `now` changes nothing. On PostgreSQL
due pairs are claimed with `FOR UPDATE SKIP LOCKED`: concurrent passes (several
workers) share the work; SQLite serialises writers."""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import Meeting, MeetingStatus, Pair
from service.domain import carryover
from service.domain.recompute import recompute

log = structlog.get_logger(__name__)

# Pairs recomputed per call: one call is one transaction; the caller commits and
# calls again while there is work (the first pass after an upgrade has every pair due).
DEFAULT_LIMIT = 200


async def recompute_due(
    session: AsyncSession, now: datetime, *, last_run: datetime | None = None, limit: int = DEFAULT_LIMIT
) -> int:
    """Close ended API-created meetings and recompute up to `limit` due pairs at `now`.
    Returns how many meetings and pairs it handled (0: nothing was due). `last_run`,
    the previous pass's `now` (None on a process's first pass), is only logged: what
    is due does not depend on it."""
    closed = await close_ended_meetings(session, now)
    pair_ids = await due_pairs(session, now, limit)
    if pair_ids:
        await recompute(session, now, pair_ids=set(pair_ids))
    if closed or pair_ids:
        log.info(
            "time_driven_pass",
            pairs=len(pair_ids),
            meetings_closed=closed,
            last_run=last_run.isoformat() if last_run else None,
        )
    return closed + len(pair_ids)


async def mark_due(session: AsyncSession, pair_ids: set[int], now: datetime) -> None:
    """These pairs must be recomputed (until a recompute says when next). Their rows
    are locked in id order, as `recompute.load_pairs` locks them: an UPDATE alone
    locks in the order it meets rows (the heap's), and a sync holding one pair while
    a recompute held another waited on each other until PostgreSQL broke the deadlock."""
    if not pair_ids:
        return
    locked = select(Pair.id).where(Pair.id.in_(sorted(pair_ids))).order_by(Pair.id).with_for_update(key_share=True)
    await session.execute(
        update(Pair)
        .where(Pair.id.in_(locked.scalar_subquery()))
        .values(next_check_at=now)
        .execution_options(synchronize_session=False)
    )


async def due_pairs(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Active pairs whose next boundary has passed, most overdue first."""
    query = (
        select(Pair.id)
        .where(Pair.active.is_(True), Pair.next_check_at <= now)
        .order_by(Pair.next_check_at, Pair.id)
        .limit(limit)
        .with_for_update(skip_locked=True, key_share=True)  # see recompute.load_pairs
    )
    return list((await session.scalars(query)).all())


async def close_ended_meetings(session: AsyncSession, now: datetime) -> int:
    """API-created meetings still `scheduled` whose end has passed become `held`,
    oldest first, each then carrying its open talking points over."""
    ids = (
        await session.scalars(
            select(Meeting.id)
            .where(Meeting.source_uid.is_(None), Meeting.status == MeetingStatus.scheduled.value, Meeting.end <= now)
            .order_by(Meeting.end, Meeting.id)
        )
    ).all()
    closed = 0
    for meeting_id in ids:
        # Conditional: a meeting cancelled meanwhile stays cancelled.
        result = await session.execute(
            update(Meeting)
            .where(Meeting.id == meeting_id, Meeting.status == MeetingStatus.scheduled.value)
            .values(status=MeetingStatus.held.value, updated_at=now)
            .execution_options(synchronize_session="fetch")
        )
        if result.rowcount:
            closed += 1
            await carryover.carry_over(session, meeting_id, now)
    return closed
