"""Stored grants as adapters need them: calendars read with their decrypted
credentials (CalendarRef), Entra's rotated refresh tokens stored back, and the
access tokens minted from grants, shared by the worker processes (SharedTokens).

Grants and tokens are Fernet-encrypted at rest (service.security.crypto.Vault) and
never logged; a CalendarRef's `credentials` live only in memory, for one call."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import structlog
from sqlalchemy import Row, bindparam, delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.clock import Clock
from service.db import dialect
from service.db.models import AccessToken, Calendar, CalendarConnection, Person
from service.metrics import SHARED_TOKENS
from service.security.crypto import SecretKeyMissing, Vault
from service.sync.port import CalendarRef, RefreshTokenHook

log = structlog.get_logger(__name__)

# Built once, as Core over the columns a sync needs: this runs for every sync.
_calendar = Calendar.__table__.c
_connection = CalendarConnection.__table__.c
_person = Person.__table__.c
_READ = (
    select(
        _calendar.id,
        _calendar.provider,
        _calendar.external_id,
        _calendar.provider_user_id,
        _calendar.time_zone,
        _calendar.cursor,
        _calendar.window_start,
        _connection.kind,
        _connection.secret_encrypted,
        _person.email,
    )
    .join_from(Calendar.__table__, CalendarConnection.__table__, _connection.id == _calendar.connection_id)
    .join(Person.__table__, _person.id == _calendar.person_id)
    .where(_calendar.id.in_(bindparam("ids", expanding=True)))
)


async def read_calendars(
    session: AsyncSession, calendar_ids: Iterable[int], vault: Vault | None
) -> list[tuple[Row, CalendarRef]]:
    """Each calendar's row (provider, cursor, window…) and what a provider call needs."""
    rows = (await session.execute(_READ, {"ids": list(calendar_ids)})).all()
    return [(row, calendar_ref(row, vault)) for row in rows]


def calendar_ref(row: Row, vault: Vault | None) -> CalendarRef:
    secret = vault.decrypt(row.secret_encrypted) if row.secret_encrypted and vault else ""
    return CalendarRef(
        calendar_id=row.id,
        email=row.email,
        external_id=row.external_id,
        credentials=secret,
        connection_kind=row.kind,
        time_zone=row.time_zone,
        provider_user_id=row.provider_user_id,
    )


def store_rotated_refresh_tokens(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, clock: Clock
) -> RefreshTokenHook:
    """Entra rotates a delegated grant's refresh token on every redemption: keep the
    newest, encrypted, on the calendar's connection. Compare-and-swap on the token
    the sync used, so a reconnect that happened meanwhile is never overwritten."""

    async def store(ref: CalendarRef, rotated: str) -> None:
        async with sessions() as session:
            connection_id = await session.scalar(select(Calendar.connection_id).where(Calendar.id == ref.calendar_id))
            connection = (
                await session.get(CalendarConnection, connection_id, with_for_update=True)
                if connection_id is not None
                else None
            )
            if connection is None or connection.kind != "user" or not connection.secret_encrypted:
                return
            if vault.decrypt(connection.secret_encrypted) != ref.credentials:
                log.info("refresh_token_superseded", calendar_id=ref.calendar_id)
                return
            connection.secret_encrypted, connection.updated_at = vault.encrypt(rotated), clock.now()
            await session.commit()
        log.info("refresh_token_rotated", calendar_id=ref.calendar_id, connection_id=connection_id)

    return store


class SharedTokens:
    """TokenCache (service.sync.port) in the database. A cache: a token it cannot give
    (absent, expired, encrypted under a key no longer configured, the database not
    answering) is minted by the caller, and one it cannot keep is only logged."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], vault: Vault, clock: Clock) -> None:
        self._sessions, self._vault, self._clock = sessions, vault, clock

    async def get(self, key: str) -> tuple[str, datetime] | None:
        token = await self._read(key)
        SHARED_TOKENS.labels("miss" if token is None else "hit").inc()
        return token

    async def _read(self, key: str) -> tuple[str, datetime] | None:
        try:
            async with self._sessions() as session:
                row = await session.get(AccessToken, key)
        except SQLAlchemyError as exc:
            log.warning("access_token_unread", error=type(exc).__name__)
            return None
        if row is None or row.expires_at <= self._clock.now():
            return None
        try:
            return self._vault.decrypt(row.token_encrypted), row.expires_at
        except SecretKeyMissing:
            return None

    async def put(self, key: str, token: str, expires_at: datetime) -> None:
        values = {"key": key, "token_encrypted": self._vault.encrypt(token), "expires_at": expires_at}
        try:
            async with self._sessions() as session:
                await session.execute(dialect.insert_or_replace(session, AccessToken.__table__, values))
                # Tokens of calendars gone or grants changed are never asked for again.
                await session.execute(delete(AccessToken).where(AccessToken.expires_at < self._clock.now()))
                await session.commit()
        except SQLAlchemyError as exc:
            SHARED_TOKENS.labels("failed").inc()
            log.warning("access_token_unshared", error=type(exc).__name__)
            return
        SHARED_TOKENS.labels("stored").inc()
