"""The sync work queue on the `calendars` table: webhooks mark calendars dirty,
workers claim due ones with a lease.

On PostgreSQL the claim is `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
LOCKED)`: concurrent workers never block on, or take, each other's calendars.
SQLite has one writer at a time (BEGIN IMMEDIATE), which serializes claims."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import Calendar
from service.sync import doorbell


@dataclass(frozen=True, slots=True)
class Claim:
    calendar_id: int
    generation: int  # dirty_generation when claimed: later notifications keep it dirty


# Built once (bound parameters, no per-call construction): these run several
# times per sync, and building a statement costs about as much as executing it.
_calendars = Calendar.__table__
_c = _calendars.c


def _due_now():
    now = bindparam("now")
    return (
        _c.status == "active",
        or_(_c.dirty.is_(True), _c.next_poll_at.is_(None), _c.next_poll_at <= now),
        or_(_c.lease_expires_at.is_(None), _c.lease_expires_at < now),
        or_(_c.backoff_until.is_(None), _c.backoff_until <= now),
    )


_DUE = (
    select(_c.id)
    .where(*_due_now())
    .order_by(_c.dirty.desc(), _c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    update(_calendars)
    .where(_c.id.in_(_DUE.scalar_subquery()))
    .values(lease_owner=bindparam("owner"), lease_expires_at=bindparam("lease_until"))
    .returning(_c.id, _c.dirty_generation)
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
_MARK_DIRTY = (
    update(_calendars)
    .where(_c.id.in_(bindparam("ids", expanding=True)))
    .values(dirty=True, dirty_generation=_c.dirty_generation + 1, last_notified_at=bindparam("now"))
)


async def claim(session: AsyncSession, *, owner: str, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
    rows = await session.execute(_CLAIM, {"now": now, "limit": limit, "owner": owner, "lease_until": lease_until})
    return [Claim(r.id, r.dirty_generation) for r in rows]


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


async def mark_dirty(session: AsyncSession, calendar_ids: Iterable[int], now: datetime) -> None:
    ids = list(calendar_ids)
    if not ids:
        return
    await session.execute(_MARK_DIRTY, {"ids": ids, "now": now})
    await doorbell.announce(session)
