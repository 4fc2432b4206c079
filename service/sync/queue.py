"""The sync work queue on the `calendars` table: webhooks mark calendars dirty,
workers claim due ones with a lease.

On PostgreSQL the claim is `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
LOCKED)`: concurrent workers never block on, or take, each other's calendars.
SQLite has one writer at a time (BEGIN IMMEDIATE), which serializes claims."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import Calendar
from service.sync import doorbell


@dataclass(frozen=True, slots=True)
class Claim:
    calendar_id: int
    generation: int   # dirty_generation when claimed: later notifications keep it dirty


def _due(now: datetime):
    return (
        Calendar.status == "active",
        or_(Calendar.dirty.is_(True), Calendar.next_poll_at.is_(None), Calendar.next_poll_at <= now),
        or_(Calendar.lease_expires_at.is_(None), Calendar.lease_expires_at < now),
        or_(Calendar.backoff_until.is_(None), Calendar.backoff_until <= now),
    )


async def claim(session: AsyncSession, *, owner: str, now: datetime, lease_until: datetime,
                limit: int) -> list[Claim]:
    due = select(Calendar.id).where(*_due(now)).order_by(Calendar.dirty.desc(), Calendar.id).limit(limit)
    if session.bind.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    rows = await session.execute(
        update(Calendar).where(Calendar.id.in_(due.scalar_subquery()))
        .values(lease_owner=owner, lease_expires_at=lease_until)
        .returning(Calendar.id, Calendar.dirty_generation)
        .execution_options(synchronize_session=False))
    return [Claim(r.id, r.dirty_generation) for r in rows]


async def extend(session: AsyncSession, calendar_id: int, owner: str, lease_until: datetime) -> bool:
    """Heartbeat for a long sync; False if the lease was lost (expired and re-claimed)."""
    result = await session.execute(
        update(Calendar).where(Calendar.id == calendar_id, Calendar.lease_owner == owner)
        .values(lease_expires_at=lease_until).execution_options(synchronize_session=False))
    return result.rowcount == 1


async def lease(session: AsyncSession, calendar_ids: list[int], *, owner: str, now: datetime,
                lease_until: datetime) -> list[int]:
    """Lease calendars, due or not, for work besides a sync (their channel upkeep);
    those under another worker's live lease are left out."""
    rows = await session.execute(
        update(Calendar).where(Calendar.id.in_(calendar_ids),
                               or_(Calendar.lease_expires_at.is_(None), Calendar.lease_expires_at < now))
        .values(lease_owner=owner, lease_expires_at=lease_until)
        .returning(Calendar.id).execution_options(synchronize_session=False))
    return sorted(rows.scalars())


async def release(session: AsyncSession, calendar_ids: list[int], owner: str) -> None:
    """Give leases back (no-op for those no longer ours)."""
    await session.execute(
        update(Calendar).where(Calendar.id.in_(calendar_ids), Calendar.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None).execution_options(synchronize_session=False))


async def mark_dirty(session: AsyncSession, calendar_ids: Iterable[int], now: datetime) -> None:
    ids = list(calendar_ids)
    if not ids:
        return
    await session.execute(
        update(Calendar).where(Calendar.id.in_(ids))
        .values(dirty=True, dirty_generation=Calendar.dirty_generation + 1, last_notified_at=now)
        .execution_options(synchronize_session=False))
    await doorbell.announce(session)


async def has_due(session: AsyncSession, now: datetime) -> bool:
    return (await session.scalar(select(Calendar.id).where(*_due(now)).limit(1))) is not None
