"""Rows for sync tests: a connection, calendars and push channels."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from service.db.models import Calendar, CalendarConnection, Person, PushChannel, SyncRequest
from service.sync.webhooks import secret_hash


async def calendar(factory, person: Person, *, provider: str = "google", requested: bool = False, **kw) -> Calendar:
    """A synced-looking calendar (due at its next poll); `requested`: with a sync request."""
    now = factory.clock.now()
    connection = await factory._add(
        CalendarConnection(provider=provider, kind="org", status="active", scopes="", created_at=now, updated_at=now)
    )
    cal = await factory._add(
        Calendar(
            person_id=person.id,
            connection_id=connection.id,
            provider=provider,
            external_id=person.email,
            status=kw.pop("status", "active"),
            next_poll_at=kw.pop("next_poll_at", now + timedelta(minutes=15)),
            failures=0,
            created_at=now,
            updated_at=now,
            **kw,
        )
    )
    if requested:
        await factory._add(SyncRequest(calendar_id=cal.id, requested_at=now))
    return cal


async def requests(sessions, calendar_id: int | None = None) -> int:
    """How many sync requests are pending (for one calendar, or all)."""
    query = select(func.count()).select_from(SyncRequest)
    if calendar_id is not None:
        query = query.where(SyncRequest.calendar_id == calendar_id)
    async with sessions() as s:
        return await s.scalar(query)


async def channel(factory, cal: Calendar, secret: str, *, channel_id: str, **kw) -> PushChannel:
    now = factory.clock.now()
    return await factory._add(
        PushChannel(
            calendar_id=cal.id,
            provider=cal.provider,
            channel_id=channel_id,
            resource_id=kw.pop("resource_id", None),
            secret_hash=secret_hash(secret),
            expires_at=now + timedelta(days=7),
            created_at=now,
            **kw,
        )
    )
