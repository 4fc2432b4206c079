"""Rows for sync tests: a connection, calendars and push channels."""

from __future__ import annotations

from datetime import timedelta

from service.db.models import Calendar, CalendarConnection, Person, PushChannel
from service.sync.webhooks import secret_hash


async def calendar(factory, person: Person, *, provider: str = "google", **kw) -> Calendar:
    now = factory.clock.now()
    connection = await factory._add(
        CalendarConnection(provider=provider, kind="org", status="active", scopes="", created_at=now, updated_at=now)
    )
    return await factory._add(
        Calendar(
            person_id=person.id,
            connection_id=connection.id,
            provider=provider,
            external_id=person.email,
            status=kw.pop("status", "active"),
            dirty=kw.pop("dirty", False),
            dirty_generation=0,
            next_poll_at=kw.pop("next_poll_at", now + timedelta(minutes=15)),
            failures=0,
            created_at=now,
            updated_at=now,
            **kw,
        )
    )


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
