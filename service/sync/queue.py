"""The sync work queue: webhooks (and connects, and channel gaps) request syncs,
workers claim due calendars with a lease.

A request is a `sync_requests` row, not a flag on the calendar: inserting one
never waits for the calendar row, which a worker holds while it reconciles
(the worker's row locks are FOR NO KEY UPDATE, which a foreign-key check does
not wait for). A claim notes the newest request it saw (its watermark); the sync
deletes the requests up to it, so those that arrive meanwhile make one
follow-up increment, however many there are.

On PostgreSQL the claim is `UPDATE … WHERE id IN (SELECT …)` over the due calendars
in order, each locked `FOR NO KEY UPDATE SKIP LOCKED` as it is reached: concurrent
workers never block on, or take, each other's calendars.
SQLite has one writer at a time (BEGIN IMMEDIATE), which serializes claims."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, delete, exists, func, insert, null, or_, select, true, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db import dialect
from service.db.models import Calendar, SyncRequest
from service.domain.calendar_states import CalendarState
from service.sync import doorbell


@dataclass(frozen=True, slots=True)
class Claim:
    calendar_id: int
    watermark: int  # the newest request when claimed (0: none); newer ones ask for another sync


# Built once (bound parameters, no per-call construction): these run several
# times per sync, and building a statement costs about as much as executing it.
_calendars = Calendar.__table__
_c = _calendars.c
_r = SyncRequest.__table__.c
_ACTIVE, _BACKING_OFF, _NEEDS_RECONNECT = (
    CalendarState.active.value,
    CalendarState.backing_off.value,
    CalendarState.needs_reconnect.value,
)

# The calendars that can be due, each set found by index, with its oldest request:
# those requested (the requests, by calendar), those whose poll is due
# (ix_calendars_due), those backing off or to be probed. Filtering the whole org,
# every claim weighed every calendar, its requests looked up one by one (3 ms at
# 2,000 calendars, growing with the org); looking each candidate's requests up
# again (to filter, then to order) cost 5,000 buffer reads a claim under a backlog.
_now = bindparam("now")
_candidates = union_all(
    select(_r.calendar_id.label("id"), func.min(_r.id).label("first")).group_by(_r.calendar_id),
    select(_c.id, null()).where(
        _c.status.in_([_ACTIVE, _BACKING_OFF]), or_(_c.next_poll_at.is_(None), _c.next_poll_at <= _now)
    ),
    select(_c.id, null()).where(_c.status.in_([_BACKING_OFF, _NEEDS_RECONNECT])),
).subquery()
_first = select(_candidates.c.id, func.min(_candidates.c.first).label("first")).group_by(_candidates.c.id)


def _longest_waiting_first(first, calendar_id) -> tuple:
    """Requested calendars first, the longest waiting first (its oldest request), then
    those due by their poll or backoff: by id, a backlog would starve the high ids."""
    return first.asc().nulls_last(), calendar_id


# Each candidate is requested, due by its poll, or not active: due unless held back.
_held = (
    # needs_reconnect is probed only when a probe is set (see calendar_states)
    or_(
        _c.status.in_([_ACTIVE, _BACKING_OFF]),
        and_(_c.status == _NEEDS_RECONNECT, _c.backoff_until.is_not(None)),
    ),
    or_(_c.backoff_until.is_(None), _c.backoff_until <= _now),
    or_(_c.lease_expires_at.is_(None), _c.lease_expires_at < _now),
)
# PostgreSQL: the candidates in order, each calendar then looked up by its key and
# locked, until `limit` are taken (sorted inside, the candidates are walked in order and
# the walk stops there; the outer ORDER BY is what guarantees the order). Joined instead,
# the planner guessed the candidates (grouped from a union, and requests are a queue
# whose statistics are always stale) at 200 rows and scanned every calendar of the org
# for each claim: 6.3 ms at 10,000 calendars under the bench's load, 0.5 ms this way.
_ordered = _first.order_by(
    *_longest_waiting_first(_first.selected_columns.first, _first.selected_columns.id)
).subquery()
_probe = select(_c.id).where(_c.id == _ordered.c.id, *_held).with_for_update(skip_locked=True, key_share=True).lateral()
_DUE_LATERAL = (
    select(_probe.c.id)
    .select_from(_ordered)
    .join(_probe, true())
    .order_by(*_longest_waiting_first(_ordered.c.first, _ordered.c.id))
    .limit(bindparam("limit"))
)
# SQLite: joined; its single writer takes the place of the locks.
_listed = _first.subquery()
_DUE_JOINED = (
    select(_c.id)
    .join(_listed, _listed.c.id == _c.id)
    .where(*_held)
    .order_by(*_longest_waiting_first(_listed.c.first, _c.id))
    .limit(bindparam("limit"))
)
_CLAIM_LATERAL, _CLAIM_JOINED = (
    update(_calendars)
    .where(_c.id.in_(due.scalar_subquery()))
    .values(lease_owner=bindparam("owner"), lease_expires_at=bindparam("lease_until"))
    .returning(_c.id)
    for due in (_DUE_LATERAL, _DUE_JOINED)
)
_WATERMARKS = (
    select(_r.calendar_id, func.max(_r.id))
    .where(_r.calendar_id.in_(bindparam("ids", expanding=True)))
    .group_by(_r.calendar_id)
)
_EXTEND = (
    update(_calendars)
    .where(_c.id == bindparam("calendar_id"), _c.lease_owner == bindparam("owner"))
    .values(lease_expires_at=bindparam("lease_until"))
)
_LEASE = (
    update(_calendars)
    .where(
        _c.id.in_(bindparam("ids", expanding=True)),
        or_(_c.lease_expires_at.is_(None), _c.lease_expires_at < bindparam("now")),
    )
    .values(lease_owner=bindparam("owner"), lease_expires_at=bindparam("lease_until"))
    .returning(_c.id)
)
RELEASED = {"lease_owner": None, "lease_expires_at": None}  # a lease handed back
_RELEASE = (
    update(_calendars)
    .where(_c.id.in_(bindparam("ids", expanding=True)), _c.lease_owner == bindparam("owner"))
    .values(**RELEASED)
)
_REQUEST = insert(SyncRequest.__table__)
_SEEN = delete(SyncRequest.__table__).where(_r.calendar_id == bindparam("calendar_id"), _r.id <= bindparam("watermark"))
_NEWER = select(exists().where(_r.calendar_id == bindparam("calendar_id"), _r.id > bindparam("watermark")))


async def claim(session: AsyncSession, *, owner: str, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
    statement = _CLAIM_LATERAL if dialect.lateral_joins(session) else _CLAIM_JOINED
    rows = await session.execute(statement, {"now": now, "limit": limit, "owner": owner, "lease_until": lease_until})
    ids = sorted(rows.scalars())
    if not ids:
        return []
    # Read after the claim, before any fetch: every request up to a watermark is
    # older than the fetch that follows, so that fetch covers it.
    watermarks = dict((await session.execute(_WATERMARKS, {"ids": ids})).all())
    return [Claim(calendar_id, watermarks.get(calendar_id, 0)) for calendar_id in ids]


async def extend(session: AsyncSession, calendar_id: int, owner: str, lease_until: datetime) -> bool:
    """Heartbeat for a long sync; False if the lease was lost (expired and re-claimed)."""
    result = await session.execute(_EXTEND, {"calendar_id": calendar_id, "owner": owner, "lease_until": lease_until})
    return result.rowcount == 1


async def lease(
    session: AsyncSession, calendar_ids: list[int], *, owner: str, now: datetime, lease_until: datetime
) -> list[int]:
    """Lease calendars, due or not, for work besides a sync (their channel upkeep);
    those under another worker's live lease are left out."""
    rows = await session.execute(
        _LEASE, {"ids": list(calendar_ids), "now": now, "owner": owner, "lease_until": lease_until}
    )
    return sorted(rows.scalars())


async def release(session: AsyncSession, calendar_ids: list[int], owner: str) -> None:
    """Give leases back (no-op for those no longer ours)."""
    await session.execute(_RELEASE, {"ids": list(calendar_ids), "owner": owner})


async def request_sync(session: AsyncSession, calendar_ids: Iterable[int], now: datetime) -> None:
    """Ask for a sync of these calendars: workers hear of it when (and only if) the
    session's transaction commits."""
    ids = sorted(set(calendar_ids))
    if not ids:
        return
    await session.execute(_REQUEST, [{"calendar_id": i, "requested_at": now} for i in ids])
    await doorbell.announce(session)


async def done(session: AsyncSession, claimed: Claim) -> bool:
    """The sync of `claimed` is being committed: forget the requests it covered.
    Returns whether newer ones arrived meanwhile (they ask for another sync)."""
    params = {"calendar_id": claimed.calendar_id, "watermark": claimed.watermark}
    if claimed.watermark:
        await session.execute(_SEEN, params)
    return bool(await session.scalar(_NEWER, params))
