"""Pairs (a manager and one report) and the loaders every pair/meeting use case
starts from, so access is decided in one place.

Who gets what (see `access`):
- seeing a pair and its meeting schedule: participants and admins; anyone else 404;
- acting on a pair or a meeting's schedule (create, reschedule, cancel): participants;
  an admin, who can see it, gets 403;
- meeting content (agenda, notes, detail): participants only; anyone else, admins
  included, 404."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import Meeting, MeetingStatus, Pair
from service.domain.access import Access, Principal, can_view_pair, content_access, is_participant
from service.domain.content import READ_ONLY, require
from service.errors import Forbidden, NotFound


def days_since_last_held(pair: Pair, now: datetime) -> int | None:
    """Whole days from the pair's last held 1:1 (`last_held`, kept by the detector) to `now`."""
    if pair.last_held is None:
        return None
    return max(0, (now - pair.last_held).days)


# A held 1:1 extends a pair's streak; a cancelled or declined one ends it.
STREAK_BREAKERS = (MeetingStatus.cancelled.value, MeetingStatus.declined.value)


async def current_streaks(session: AsyncSession, pair_ids: list[int], now: datetime) -> dict[int, int]:
    """Per pair: how many consecutive held 1:1s up to the last one, counting back from
    `now` until a cancelled or declined one (0 if the latest is one). Meetings still
    `scheduled` (upcoming, or just ended and not settled yet) neither count nor break.
    Calendar and API meetings alike; one query for a page of pairs."""
    if not pair_ids:
        return {}
    last_break = (
        select(Meeting.pair_id, func.max(Meeting.start).label("at"))
        .where(Meeting.pair_id.in_(pair_ids), Meeting.status.in_(STREAK_BREAKERS), Meeting.start <= now)
        .group_by(Meeting.pair_id)
        .subquery()
    )
    rows = await session.execute(
        select(Meeting.pair_id, func.count())
        .outerjoin(last_break, last_break.c.pair_id == Meeting.pair_id)
        .where(
            Meeting.pair_id.in_(pair_ids),
            Meeting.status == MeetingStatus.held.value,
            Meeting.start <= now,
            or_(last_break.c.at.is_(None), Meeting.start > last_break.c.at),
        )
        .group_by(Meeting.pair_id)
    )
    streaks = dict.fromkeys(pair_ids, 0)
    streaks.update(rows.all())
    return streaks


async def load_pair(session: AsyncSession, principal: Principal, pair_id: int, *, act: bool = False) -> Pair:
    """The pair if the caller may see it (404 otherwise); with `act`, only its participants
    may go on (an admin gets 403)."""
    pair = await session.get(Pair, pair_id)
    if pair is None or not can_view_pair(principal, pair.manager_id, pair.report_id):
        raise NotFound(f"pair {pair_id} not found")
    if act and not is_participant(principal, pair.manager_id, pair.report_id):
        raise Forbidden("only the pair's manager and report may do this")
    return pair


async def load_meeting(
    session: AsyncSession,
    principal: Principal,
    meeting_id: int,
    *,
    content: bool,
    lock: bool = False,
    change: bool = False,
) -> tuple[Meeting, Pair]:
    """The meeting and its pair, for a participant.

    `content=True`: anyone but a participant gets 404 (admins too: content is private).
    `content=False` (schedule actions): a non-participant who can see the pair (an admin)
    gets 403, anyone else 404. `change`: a participant who may only read it (a former
    manager) gets 403. `lock` takes the meeting row's write lock (PostgreSQL `FOR
    UPDATE`; SQLite's write transaction already serialises) for read-modify-write."""
    query = select(Meeting, Pair).join(Pair, Pair.id == Meeting.pair_id).where(Meeting.id == meeting_id)
    if lock:
        query = query.with_for_update(of=Meeting)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(f"meeting {meeting_id} not found")
    meeting, pair = row.Meeting, row.Pair
    if not is_participant(principal, pair.manager_id, pair.report_id):
        if content or not can_view_pair(principal, pair.manager_id, pair.report_id):
            raise NotFound(f"meeting {meeting_id} not found")
        raise Forbidden("only the pair's manager and report may do this")
    require(content_access(principal, pair, meeting.start), change, f"meeting {meeting_id} not found")
    return meeting, pair


@dataclass(frozen=True)
class PairFilter:
    role: str | None = None  # "manager" | "report": the caller's role in the pair
    active: bool | None = None
    manager_id: int | None = None
    report_id: int | None = None


async def list_pairs(
    session: AsyncSession, principal: Principal, filters: PairFilter, *, after_id: int | None, limit: int
) -> list[Pair]:
    """Pairs the caller may see, ordered by id, at most `limit` after `after_id`."""
    query = select(Pair).order_by(Pair.id).limit(limit)
    me = principal.person_id
    if not principal.is_admin:
        query = query.where(or_(Pair.manager_id == me, Pair.report_id == me))
    if filters.role == "manager":
        query = query.where(Pair.manager_id == me)
    elif filters.role == "report":
        query = query.where(Pair.report_id == me)
    if filters.active is not None:
        query = query.where(Pair.active == filters.active)
    if filters.manager_id is not None:
        query = query.where(Pair.manager_id == filters.manager_id)
    if filters.report_id is not None:
        query = query.where(Pair.report_id == filters.report_id)
    if after_id is not None:
        query = query.where(Pair.id > after_id)
    return list((await session.scalars(query)).all())


async def set_cadence(
    session: AsyncSession, principal: Principal, pair_id: int, cadence_days: int | None, now: datetime
) -> Pair:
    """Set (or clear, with None) the pair's intended cadence. Participants and admins.
    The detector looks at the pair again on its next periodic pass (`schedule`)."""
    pair = await load_pair(session, principal, pair_id)
    if content_access(principal, pair) is Access.read:
        raise Forbidden(READ_ONLY)
    if pair.cadence_days != cadence_days:
        pair.cadence_days = cadence_days
        pair.updated_at = now
        pair.next_check_at = now
        await session.flush()
    return pair
