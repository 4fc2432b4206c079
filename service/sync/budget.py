"""A budget of provider calls shared by every worker process: token buckets in the
database, one per provider (the project's or app's quota) and one per user (each
mailbox's own), so that an organisation's first `connect-all` paces itself under
the providers' quotas instead of running into 403/429 answers.

Adapters spend one token of each before every API call. A process takes tokens
from the database a few at a time (`batch`) and spends them locally, so the
buckets cost one statement per batch of calls, not one per call: a bucket that
holds the batch gives it in one conditional UPDATE, its own transaction, so the
row is locked for that statement alone (every sync takes from its user's bucket,
and the provider's is shared by all). Only a bucket that is missing or short is
read and written in a transaction. When a bucket is empty the caller waits for
it to refill, up to `max_wait`; past that it is Throttled like a provider's own
429, and the calendar backs off.

Quotas are about wall-clock seconds at the provider, so buckets refill by the
wall clock (injected for tests), not by the service's clock, which a replay moves
by weeks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, bindparam, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.db.dialect import insert_if_absent, single_statement
from service.db.models import QuotaBucket
from service.settings import QuotaSettings
from service.sync.port import Throttled

_b = QuotaBucket.__table__.c
_READ = select(_b.tokens, _b.refreshed).where(_b.key == bindparam("k")).with_for_update()
_WRITE = update(QuotaBucket.__table__).where(_b.key == bindparam("k"))
# What the bucket holds at `now`: refilled since `refreshed` (never drained by a
# wall clock gone back), up to its capacity. CASE, not LEAST/GREATEST: SQLite has neither.
_now, _rate, _capacity, _want = (bindparam(name, type_=Float) for name in ("now", "rate", "capacity", "want"))
_refilled = _b.tokens + case((_now > _b.refreshed, _now - _b.refreshed), else_=0.0) * _rate
_available = case((_refilled > _capacity, _capacity), else_=_refilled)
_TAKE = (
    update(QuotaBucket.__table__)
    .where(_b.key == bindparam("k"), _available >= _want)
    .values(tokens=_available - _want, refreshed=_now)
)


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float
    capacity: float  # a burst: how many may be spent at once after a quiet spell

    @classmethod
    def per_minute(cls, calls: float, burst_seconds: float = 10.0) -> Rate:
        return cls(calls / 60, max(1.0, calls / 60 * burst_seconds))


class DatabaseBudget:
    """`rates[provider]` = (the provider-wide rate, the per-user rate)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rates: dict[str, tuple[Rate, Rate]],
        *,
        batch: int = 10,
        max_wait: float = 30.0,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._sessions = sessions
        self._rates = rates
        self._batch = batch
        self._max_wait = max_wait
        self._wall = wall
        self._sleep = sleep
        self._held: dict[str, float] = {}  # tokens taken from the database, not spent yet

    @classmethod
    def from_settings(
        cls, sessions: async_sessionmaker[AsyncSession], quota: QuotaSettings, **kwargs: Any
    ) -> DatabaseBudget:
        """`kwargs`: `wall`, `sleep` (tests)."""
        return cls(
            sessions,
            {
                "google": (Rate.per_minute(quota.google_per_minute), Rate.per_minute(quota.google_user_per_minute)),
                "microsoft": (
                    Rate.per_minute(quota.microsoft_per_minute),
                    Rate.per_minute(quota.microsoft_user_per_minute),
                ),
            },
            batch=quota.batch,
            max_wait=quota.max_wait_seconds,
            **kwargs,
        )

    async def spend(self, provider: str, account: str) -> None:
        rates = self._rates.get(provider)
        if rates is None:
            return
        overall, per_user = rates
        await self._one(provider, overall)
        await self._one(f"{provider}:{account.lower()}", per_user)

    async def _one(self, key: str, rate: Rate) -> None:
        waited = 0.0
        while True:
            if self._held.get(key, 0) >= 1:
                self._held[key] -= 1
                return
            granted, wait = await self._take(key, rate, self._batch)
            if granted:
                self._held[key] = self._held.get(key, 0) + granted
                continue
            if waited + wait > self._max_wait:
                raise Throttled(
                    f"quota budget {key.split(':')[0]}: empty for {wait:.1f} s more", status=429, retry_after=wait
                )
            await self._sleep(wait)
            waited += wait

    async def _take(self, key: str, rate: Rate, want: int) -> tuple[int, float]:
        """Up to `want` whole tokens from the bucket; else how long until one refills."""
        now = self._wall()
        params = {"k": key, "now": now, "rate": rate.per_second, "capacity": rate.capacity, "want": want}
        async with self._sessions() as session:
            await single_statement(session)
            if (await session.execute(_TAKE, params)).rowcount:
                await session.commit()
                return want, 0.0
        async with self._sessions() as session:
            row = (await session.execute(_READ, {"k": key})).one_or_none()
            if row is None:  # a bucket's first use (another process may be creating it too)
                await session.execute(
                    insert_if_absent(session, QuotaBucket.__table__).values(
                        key=key, tokens=rate.capacity, refreshed=now
                    )
                )
                row = (await session.execute(_READ, {"k": key})).one()
            tokens, refreshed = row
            available = min(rate.capacity, tokens + max(0.0, now - refreshed) * rate.per_second)
            granted = min(want, int(available))
            await session.execute(_WRITE, {"k": key, "tokens": available - granted, "refreshed": now})
            await session.commit()
        return granted, 0.0 if granted else (1 - available) / rate.per_second
