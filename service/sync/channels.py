"""Push channel lifecycle: every active calendar keeps one live channel.

A channel is refreshed at half its lifetime: Graph subscriptions are renewed in
place (PATCH); Google channels cannot be renewed, so a new one is opened first and
the old one stopped after, leaving no gap. Late notifications for the stopped
channel are acknowledged and ignored by the webhooks.

When opening a channel fails (an http webhook address, a failed validation
handshake, a quota or subscription cap), the calendar is polled every
`poll_minutes` meanwhile and the channel is tried again after growing delays
(`channel_retry_at`), not on every upkeep round: a failure costs one provider
call per delay, not two per minute, and is not a gap to resync.

A channel the provider asked to reauthorize (Graph's reauthorizationRequired,
recorded by the webhook in `reauthorize_requested_at`) is due at once: it is
reauthorized in place, or renewed if it is past half its lifetime anyway (a
renewal answers the challenge too); only a channel gone at the provider is
replaced. A new subscription per challenge would leak the old one, which Graph
keeps until it expires, against the mailbox's cap."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Row, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.clock import Clock
from service.db.models import Calendar, PushChannel
from service.domain.calendar_states import CalendarState
from service.settings import Settings
from service.sync.port import CalendarProvider, CalendarRef, Channel, ProviderError
from service.sync.webhooks import secret_hash

log = structlog.get_logger(__name__)


# Built once, as Core: they run in every upkeep round (a replay has one per instant);
# channels are read and written as plain rows.
_channels = PushChannel.__table__
_c = _channels.c
_LIVE = (
    select(
        _c.id, _c.calendar_id, _c.channel_id, _c.resource_id, _c.expires_at, _c.created_at, _c.reauthorize_requested_at
    )
    .where(_c.calendar_id.in_(bindparam("ids", expanding=True)), _c.stopped_at.is_(None))
    .order_by(_c.created_at.desc(), _c.id.desc())
)
_INSERT = insert(_channels)
_STOP = update(_channels).where(_c.id.in_(bindparam("ids", expanding=True))).values(stopped_at=bindparam("now"))
# created_at starts the current lifetime: the next refresh is at its half. A renewal
# answers a reauthorization challenge too.
_RENEWED = (
    update(_channels)
    .where(_c.id == bindparam("row_id"))
    .values(expires_at=bindparam("expires_at"), created_at=bindparam("now"), reauthorize_requested_at=None)
)
_REAUTHORIZED = (  # only the challenge answered: one raised meanwhile stays open
    update(_channels)
    .where(_c.id == bindparam("row_id"), _c.reauthorize_requested_at == bindparam("requested_at"))
    .values(reauthorize_requested_at=None)
)
_calendar = Calendar.__table__.c
# Synced calendars with their live channels' lifetimes (none: NULLs), for `due`.
_SYNCED = (
    select(_calendar.id, _c.created_at, _c.expires_at, _c.reauthorize_requested_at)
    .join_from(Calendar.__table__, _channels, (_c.calendar_id == _calendar.id) & _c.stopped_at.is_(None), isouter=True)
    .where(
        _calendar.status == CalendarState.active.value,
        _calendar.last_synced_at.is_not(None),
        or_(_calendar.channel_retry_at.is_(None), _calendar.channel_retry_at <= bindparam("now")),
    )
)
_CHANNEL_STATE = update(Calendar.__table__).where(_calendar.id == bindparam("calendar_id"))
_CALENDAR_STOP = (
    update(_channels)
    .where(_c.calendar_id == bindparam("cal"), _c.stopped_at.is_(None))
    .values(stopped_at=bindparam("now"))
    .returning(_c.channel_id, _c.resource_id, _c.expires_at)
)
RETRY_FIRST = timedelta(minutes=5)
RETRY_LONGEST = timedelta(hours=6)
_SYNCED_AMONG = _SYNCED.where(_calendar.id.in_(bindparam("ids", expanding=True)))


def past_half_life(channel: Row, now: datetime) -> bool:
    """Past half its lifetime (a channel's row: its created_at and expires_at)."""
    return now >= channel.created_at + (channel.expires_at - channel.created_at) / 2


def due_for_refresh(channel: Row, now: datetime) -> bool:
    """Past half its lifetime, or asked to be reauthorized."""
    return channel.reauthorize_requested_at is not None or past_half_life(channel, now)


class ChannelManager:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, settings: Settings) -> None:
        self.sessions = sessions
        self.clock = clock
        self.settings = settings

    def _ttl_seconds(self, provider: str) -> int:
        sync = self.settings.sync
        if provider == "google":
            return sync.google_channel_ttl_hours * 3600
        return sync.graph_subscription_minutes * 60

    def _addresses(self, provider: str) -> tuple[str, str]:
        base = self.settings.public_base_url.rstrip("/")
        return f"{base}/webhooks/{provider}", f"{base}/webhooks/{provider}/lifecycle"

    @staticmethod
    async def live(session: AsyncSession, calendar_ids: Iterable[int]) -> dict[int, list[Row]]:
        """Each calendar's channels not stopped, newest first (calendars without any: absent)."""
        found: dict[int, list[Row]] = {}
        for row in (await session.execute(_LIVE, {"ids": list(calendar_ids)})).all():
            found.setdefault(row.calendar_id, []).append(row)
        return found

    async def ensure(self, provider: CalendarProvider, ref: CalendarRef, live: list[Row] | None = None) -> bool:
        """Open, renew or replace this calendar's channel as its age requires.
        Returns True when there was a gap in coverage (no unexpired channel): changes
        made meanwhile were never notified, so the caller resyncs. Provider errors
        are logged, not raised: fallback polling covers the gap. `live`: the
        calendar's channels as `live` returns them, when the caller has just read
        them in a transaction of its own (one fewer per call)."""
        if live is None:
            async with self.sessions() as session:
                live = (await self.live(session, [ref.calendar_id])).get(ref.calendar_id, [])
        now = self.clock.now()
        current = live[0] if live else None
        gap = current is None or current.expires_at <= now
        try:
            if current is not None and not due_for_refresh(current, now):
                return False
            if current is not None and not gap and await self._keep(provider, ref, current, now):
                return False
            await self._replace(provider, ref, live, now)
        except ProviderError as err:
            await self._failed(ref, err, now)
            return False  # no new coverage, so nothing to catch up on yet: polling goes on
        return gap

    async def retire(self, provider: CalendarProvider, ref: CalendarRef) -> None:
        """The calendar will not be synced for now: its channels are stopped here (the
        webhooks ignore them from now on) and, best effort, at the provider."""
        now = self.clock.now()
        async with self.sessions() as session:
            stopped = (await session.execute(_CALENDAR_STOP, {"cal": ref.calendar_id, "now": now})).all()
            await session.commit()
        for row in stopped:
            if row.expires_at > now:
                await self._stop(provider, ref, row)

    async def _failed(self, ref: CalendarRef, err: ProviderError, now: datetime) -> None:
        async with self.sessions() as session:
            failures = (
                await session.scalar(select(_calendar.channel_failures).where(_calendar.id == ref.calendar_id)) or 0
            ) + 1
            retry = now + min(RETRY_LONGEST, RETRY_FIRST * 2 ** min(failures - 1, 10))
            await session.execute(
                _CHANNEL_STATE,
                {"calendar_id": ref.calendar_id, "channel_failures": failures, "channel_retry_at": retry},
            )
            await session.commit()
        log.warning(
            "channel_refresh_failed",
            calendar_id=ref.calendar_id,
            error=type(err).__name__,
            status=err.status,
            failures=failures,
            retry_at=retry.isoformat(),
        )

    async def _keep(self, provider: CalendarProvider, ref: CalendarRef, current: Row, now: datetime) -> bool:
        """Renew or reauthorize the live channel in place; False when the provider
        cannot (gone, or Google: no renewal), so a new one must be opened."""
        if past_half_life(current, now):
            renewed = await provider.renew(ref, _as_channel(current), self._ttl_seconds(provider.name))
            if renewed is not None:
                await self._save(_RENEWED, {"row_id": current.id, "expires_at": renewed.expires_at, "now": now})
            return renewed is not None
        if await provider.reauthorize(ref, _as_channel(current)) is None:
            return False
        await self._save(_REAUTHORIZED, {"row_id": current.id, "requested_at": current.reauthorize_requested_at})
        log.info("channel_reauthorized", calendar_id=ref.calendar_id, provider=provider.name)
        return True

    async def due(self, calendar_ids: set[int] | None = None) -> list[int]:
        """Active calendars whose channel is missing, past half its lifetime or asked
        to be reauthorized."""
        now = self.clock.now()
        async with self.sessions() as session:
            if calendar_ids is None:
                rows = (await session.execute(_SYNCED, {"now": now})).all()
            else:
                rows = (await session.execute(_SYNCED_AMONG, {"ids": list(calendar_ids), "now": now})).all()
        healthy = {row.id for row in rows if row.created_at is not None and not due_for_refresh(row, now)}
        return sorted({row.id for row in rows} - healthy)

    async def _replace(self, provider: CalendarProvider, ref: CalendarRef, old: list[Row], now: datetime) -> None:
        """A new channel first (no gap); recorded, the old ones marked stopped in the
        same transaction (their late notifications are then acknowledged and ignored),
        then stopped at the provider."""
        secret = secrets.token_urlsafe(48)  # ≤ 128 chars: Graph's clientState limit
        address, lifecycle = self._addresses(provider.name)
        channel = await provider.watch(ref, address, lifecycle, secret, self._ttl_seconds(provider.name))
        async with self.sessions() as session:
            await session.execute(
                _INSERT,
                dict(
                    calendar_id=ref.calendar_id,
                    provider=provider.name,
                    channel_id=channel.channel_id,
                    resource_id=channel.resource_id,
                    secret_hash=secret_hash(secret),
                    expires_at=channel.expires_at,
                    created_at=now,
                ),
            )
            if old:
                await session.execute(_STOP, {"ids": [row.id for row in old], "now": now})
            await session.execute(
                _CHANNEL_STATE, {"calendar_id": ref.calendar_id, "channel_failures": 0, "channel_retry_at": None}
            )
            await session.commit()
        log.info(
            "channel_opened",
            calendar_id=ref.calendar_id,
            provider=provider.name,
            expires_at=channel.expires_at.isoformat(),
        )
        for row in old:
            if row.expires_at > now:  # expired: the provider has already dropped it, there is nothing to stop
                await self._stop(provider, ref, row)

    @staticmethod
    async def _stop(provider: CalendarProvider, ref: CalendarRef, row: Row) -> None:
        try:
            await provider.stop(ref, _as_channel(row))
        except ProviderError as err:  # already gone at the provider, or not ours to stop any more
            log.info("channel_stop_failed", channel_id=row.channel_id, status=err.status)

    async def _save(self, statement: Any, values: dict[str, Any]) -> None:
        async with self.sessions() as session:
            await session.execute(statement, values)
            await session.commit()


def _as_channel(row: Row) -> Channel:
    return Channel(channel_id=row.channel_id, resource_id=row.resource_id, expires_at=row.expires_at)
