"""Sync workers: claim due calendars, pull an increment from the provider, and
commit events, revisions and the new cursor in one short transaction.

Provider I/O happens outside any transaction. A worker that dies mid-sync loses
nothing: its lease expires, another worker claims the calendar and redoes the
same increment from the same cursor, which the reconciler applies idempotently."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.clock import Clock
from service.db.models import Calendar
from service.domain import schedule
from service.domain.calendar_states import RECOVERED, CalendarState, Failure, after_failure
from service.domain.footprint import affected_pairs
from service.metrics import (
    EVENTS_CHANGED,
    LEASES_HELD,
    RECOMPUTES_DEFERRED,
    SYNC_ERRORS,
    SYNC_LAG,
    SYNC_SECONDS,
    SYNCS,
)
from service.security.crypto import Vault
from service.settings import SyncSettings
from service.sync import grants, orphans, queue, reconciler
from service.sync.channels import ChannelManager
from service.sync.doorbell import BELL, Doorbell
from service.sync.port import (
    AuthorizationFailed,
    CalendarProvider,
    CalendarRef,
    ChangeSet,
    FullResyncRequired,
    ProviderError,
    SyncWindow,
)

log = structlog.get_logger(__name__)
OnChanged = Callable[[set[int]], Awaitable[None]]  # the pairs an increment concerns (service.domain.footprint)
# A calendar (as grants.read_calendars reads it), its adapter, and what a call needs.
Loaded = tuple[Row, CalendarProvider, CalendarRef]


_calendar = Calendar.__table__.c
# A sync's outcome is written under the calendar's row lock, as plain values.
# FOR NO KEY UPDATE: a webhook's sync request (a foreign key to this row) never waits for it.
_LOCK = (
    select(
        _calendar.lease_owner,
        _calendar.status,
        _calendar.person_id,
        _calendar.last_synced_at,
        _calendar.failures,
        _calendar.failing_since,
    )
    .where(_calendar.id == bindparam("id"))
    .with_for_update(key_share=True)
)
# SET clause: the columns named in the parameters (besides `calendar_id`).
_SET = update(Calendar.__table__).where(_calendar.id == bindparam("calendar_id"))


@dataclass(frozen=True)
class Job:
    claim: queue.Claim
    ref: CalendarRef
    provider: CalendarProvider
    cursor: str | None
    window: SyncWindow
    provider_name: str  # "google" | "microsoft": the metrics' label


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(24):06x}"


class SyncWorker:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        providers: Mapping[str, CalendarProvider],
        vault: Vault | None,
        clock: Clock,
        settings: SyncSettings,
        owner: str | None = None,
        on_changed: OnChanged | None = None,
        channels: ChannelManager | None = None,
        on_tick: Callable[[], Awaitable[object]] | None = None,
        rng: random.Random | None = None,
        bell: Doorbell = BELL,
    ) -> None:
        self.sessions = sessions
        self.providers = providers
        self.vault = vault
        self.clock = clock
        self.settings = settings
        self.owner = owner or default_owner()
        self.on_changed = on_changed
        self.channels = channels
        self.on_tick = on_tick  # the periodic time-driven detection pass, beside channel upkeep
        self.rng = rng or random.Random()
        self.doorbell = bell
        self._requested_again = False  # a calendar synced in this round was notified again meanwhile (see drain)
        self.beat: float | None = None  # loop.time() when `run` last went round (the worker's readiness)

    # -- the loop ---------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, idle_seconds: float = 1.0, maintain_seconds: float = 60.0) -> None:
        """Until `stop`: up to `settings.concurrency` syncs in flight at once, a slot
        refilled as soon as a sync ends. A sync is mostly waiting on the provider, so
        one at a time leaves a worker idle; the calendars' leases keep two syncs of
        one calendar apart, whatever the concurrency."""
        log.info("worker_started", owner=self.owner, concurrency=self.settings.concurrency)
        loop = asyncio.get_running_loop()
        next_maintenance = loop.time()
        syncing: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                self.beat = loop.time()
                asked = claimed = 0
                try:
                    if loop.time() >= next_maintenance:
                        await self.maintain()
                        if self.on_tick is not None:
                            await self.on_tick()
                        next_maintenance = loop.time() + maintain_seconds
                    asked = min(self.settings.concurrency - len(syncing), self.settings.batch_size)
                    if asked > 0:
                        claimed = await self._start(asked, syncing)
                except Exception:  # a bad round must not kill the worker; it is logged
                    log.exception("worker_round_failed")
                    asked, claimed = 1, 0  # rest until a ring or idle_seconds (below)
                # Syncs end while the round awaits: count the slots now, not before it.
                if len(syncing) >= self.settings.concurrency:  # every slot busy: until one frees
                    await asyncio.wait(set(syncing), timeout=idle_seconds, return_when=asyncio.FIRST_COMPLETED)
                elif claimed < asked:  # nothing more is due: until a webhook rings
                    await self.doorbell.wait(stop, idle_seconds)
        finally:
            if syncing:  # the syncs in hand finish (StoppableWorker's give back what they had not begun)
                await asyncio.gather(*syncing, return_exceptions=True)

    async def _start(self, limit: int, syncing: set[asyncio.Task[None]]) -> int:
        """Claim up to `limit` due calendars and start a sync of each; returns how many."""
        claims, loaded = await self._claim(limit)
        LEASES_HELD.inc(len(claims))
        for claim in claims:
            task = asyncio.create_task(self._sync_released(claim, loaded.get(claim.calendar_id)))
            syncing.add(task)
            task.add_done_callback(syncing.discard)
        return len(claims)

    async def _sync_released(self, claim: queue.Claim, loaded: Loaded | None) -> None:
        try:
            await self.sync(claim, loaded)
        except Exception:  # the lease expires and another round redoes it; the others go on
            log.exception("sync_crashed", calendar_id=claim.calendar_id)
        finally:
            LEASES_HELD.dec()

    async def run_once(self) -> int:
        """Claim a batch of due calendars and sync them one after the other, in claim
        order (replays and `worker --once` are exact); returns how many."""
        claims, loaded = await self._claim(self.settings.batch_size)
        held = len(claims)
        LEASES_HELD.inc(held)
        try:
            for claim in claims:
                await self.sync(claim, loaded.get(claim.calendar_id))
                LEASES_HELD.dec()  # released by the sync, or lost
                held -= 1
        finally:
            LEASES_HELD.dec(held)  # a sync raised: these leases expire
        return len(claims)

    async def _claim(self, limit: int) -> tuple[list[queue.Claim], dict[int, Loaded]]:
        now = self.clock.now()
        async with self.sessions() as session:  # the claim and what the syncs need: one transaction
            claims = await queue.claim(
                session,
                owner=self.owner,
                now=now,
                limit=limit,
                lease_until=now + timedelta(seconds=self.settings.lease_seconds),
            )
            loaded = await self._read(session, [c.calendar_id for c in claims]) if claims else {}
            await session.commit()
        return claims, loaded

    async def drain(self, max_rounds: int = 1000) -> int:
        """Sync until nothing is due (replays, tests, the embedded server's start).
        A round that claimed fewer than a batch took everything then due; unless one
        of its calendars was notified again while it synced, nothing is due after it,
        and the claim that would find nothing is not made."""
        total = 0
        for _ in range(max_rounds):
            self._requested_again = False
            done = await self.run_once()
            total += done
            if done < self.settings.batch_size and not self._requested_again:
                return total
        raise RuntimeError("sync queue did not drain")

    # -- one calendar -----------------------------------------------------------------
    async def sync(self, claim: queue.Claim, loaded: Loaded | None) -> None:
        """`loaded`: the calendar as `_read` gives it when claimed (the lease keeps its
        cursor ours meanwhile); None: its provider is not configured here."""
        if loaded is None:
            return
        calendar, provider, ref = loaded
        cursor, window = self._cursor_and_window(calendar, provider)
        job = Job(claim, ref, provider, cursor, window, calendar.provider)
        started, outcome = time.perf_counter(), "crashed"
        try:
            heartbeat = asyncio.create_task(self._heartbeat(claim.calendar_id))
            try:
                changes, gone = await self._fetch(job)
            except ProviderError as err:
                outcome = await self._failed(job, err)
                return
            finally:
                heartbeat.cancel()
            outcome = await self._commit(job, changes, gone)
        finally:
            SYNCS.labels(job.provider_name, outcome).inc()
            SYNC_SECONDS.labels(job.provider_name).observe(time.perf_counter() - started)

    async def _read(self, session: AsyncSession, calendar_ids: list[int]) -> dict[int, Loaded]:
        """Calendars with what a provider call needs: the adapter and a CalendarRef
        (credentials decrypted). Calendars whose provider is not configured: absent."""
        loaded = {}
        for calendar, ref in await grants.read_calendars(session, calendar_ids, self.vault):
            provider = self.providers.get(calendar.provider)
            if provider is None:
                log.warning("no_provider_configured", calendar_id=calendar.id, provider=calendar.provider)
                continue
            loaded[calendar.id] = calendar, provider, ref
        return loaded

    async def maintain(self, calendar_ids: set[int] | None = None) -> int:
        """Keep push channels alive (the run loop calls this periodically). A calendar
        whose channel had lapsed is marked for a resync: its changes meanwhile were
        not notified. Returns how many calendars' channels were looked after."""
        if self.channels is None:
            return 0
        if calendar_ids is None:  # the periodic pass: also delete Graph subscriptions that are not ours
            await orphans.reap(self.sessions, self.providers, self.vault, self.clock)
        due = await self.channels.due(calendar_ids)
        size = self.settings.batch_size
        return sum([await self._maintain_batch(due[i : i + size]) for i in range(0, len(due), size)])

    async def _maintain_batch(self, calendar_ids: list[int]) -> int:
        # Under the calendars' leases, as a sync: two workers renewing one channel at
        # once would each open one. A calendar leased elsewhere (being synced) is left
        # for the next round: a channel is refreshed at half its lifetime, days ahead.
        now = self.clock.now()
        async with self.sessions() as session:  # one transaction: leases, calendars, channels
            leased = await queue.lease(
                session,
                calendar_ids,
                owner=self.owner,
                now=now,
                lease_until=now + timedelta(seconds=self.settings.lease_seconds),
            )
            loaded = await self._read(session, leased) if leased else {}
            live = await self.channels.live(session, loaded) if loaded else {}
            await session.commit()
        LEASES_HELD.inc(len(leased))
        gaps: set[int] = set()
        try:
            for calendar_id, (_calendar, provider, ref) in loaded.items():
                if await self.channels.ensure(provider, ref, live.get(calendar_id, [])):
                    gaps.add(calendar_id)
        finally:
            LEASES_HELD.dec(len(leased))  # handed back just below (or left to expire)
            if leased:
                async with self.sessions() as session:
                    await queue.release(session, leased, self.owner)
                    await queue.request_sync(session, gaps, self.clock.now())
                    await session.commit()
        return len(loaded)

    def _cursor_and_window(self, calendar: Row, provider: CalendarProvider) -> tuple[str | None, SyncWindow]:
        now = self.clock.now()
        window = SyncWindow(
            start=now - timedelta(days=self.settings.lookback_days),
            end=now + timedelta(days=self.settings.lookahead_days),
        )
        stale = (
            provider.windowed
            and calendar.window_start is not None
            and now - calendar.window_start - timedelta(days=self.settings.lookback_days)
            >= timedelta(days=self.settings.rebaseline_days)
        )
        if stale:  # the delta window has drifted: take a new baseline
            return None, window
        return calendar.cursor, window

    async def _fetch(self, job: Job) -> tuple[ChangeSet, set[str]]:
        try:
            changes = await job.provider.fetch_changes(job.ref, job.cursor, job.window)
        except FullResyncRequired:
            log.info("full_resync", calendar_id=job.ref.calendar_id)
            changes = await job.provider.fetch_changes(job.ref, None, job.window)
        return await reconciler.confirm_removals(self.sessions, job.provider, job.ref, changes)

    async def _commit(self, job: Job, changes: ChangeSet, gone: set[str]) -> str:
        """Returns the outcome (`oneonone_syncs_total`): ok, lease_lost or dropped."""
        now = self.clock.now()
        calendar_id = job.ref.calendar_id
        async with self.sessions() as session:
            locked = await self._lock_ours(session, calendar_id)
            if locked is None:
                log.warning("lease_lost", calendar_id=calendar_id)  # another worker redoes it
                return "lease_lost"
            if locked.status == CalendarState.disabled.value:  # disconnected meanwhile: drop the increment
                await queue.release(session, [calendar_id], self.owner)
                await session.commit()
                return "dropped"
            first = locked.last_synced_at is None
            applied = await reconciler.apply(
                session, calendar_id, changes, gone_series=gone, observed_at=now, first_sync=first
            )
            again = await queue.done(session, job.claim)
            concerned: set[int] = set()
            if applied.changed or applied.removed:
                concerned = await affected_pairs(session, locked.person_id, applied.footprint)
                # Durable hand-off: if the recompute below fails, the periodic pass does it.
                await schedule.mark_due(session, concerned, now)
            # A first sync keeps its lease until its first channel is open (see below).
            keep_lease = first and self.channels is not None
            values = {
                "cursor": changes.cursor,
                "next_poll_at": now + timedelta(minutes=self.settings.poll_minutes),
                "last_synced_at": now,
                **RECOVERED,
                **({} if keep_lease else queue.RELEASED),
            }
            if changes.baseline is not None:
                values.update(window_start=changes.baseline.start, window_end=changes.baseline.end)
            if changes.time_zone:
                values["time_zone"] = changes.time_zone
            if changes.provider_user_id:
                values["provider_user_id"] = changes.provider_user_id
            await session.execute(_SET, {"calendar_id": calendar_id, **values})
            await session.commit()
        EVENTS_CHANGED.labels(job.provider_name).inc(applied.changed + applied.removed)
        if not first:  # how stale the calendar had become: its previous successful sync, on the injected clock
            SYNC_LAG.labels(job.provider_name).observe((now - locked.last_synced_at).total_seconds())
        log.info(
            "synced",
            calendar_id=job.ref.calendar_id,
            seen=applied.seen,
            changed=applied.changed,
            removed=applied.removed,
            full=changes.baseline is not None,
        )
        if keep_lease:
            # Its first channel at once, still under the lease (an upkeep round cannot
            # open a second meanwhile), so that notifications flow from now on; keeping
            # channels alive afterwards is `maintain`'s (periodic, batched, under leases).
            try:
                await self.channels.ensure(job.provider, job.ref)
            finally:
                async with self.sessions() as session:
                    await queue.release(session, [calendar_id], self.owner)
                    await session.commit()
        if again:  # notified while it synced: due again now that its lease is back
            self._requested_again = True
            self.doorbell.ring()
        if concerned and self.on_changed is not None:
            await self._hand_over(concerned, calendar_id)
        return "ok"

    async def _hand_over(self, pair_ids: set[int], calendar_id: int) -> None:
        """Recompute the pairs a committed increment concerns. A failure does not undo
        the sync, which committed them as due: the periodic pass recomputes them."""
        try:
            await self.on_changed(pair_ids)
        except Exception:
            RECOMPUTES_DEFERRED.inc()
            log.exception("recompute_deferred", calendar_id=calendar_id, pairs=len(pair_ids))

    async def _failed(self, job: Job, err: ProviderError) -> str:
        """Back off, or mark the calendar as needing a reconnect (calendar_states).
        Returns the outcome: failed, or lease_lost."""
        SYNC_ERRORS.labels(job.provider_name, type(err).__name__).inc()
        now = self.clock.now()
        calendar_id = job.ref.calendar_id
        reason = err.reason if isinstance(err, AuthorizationFailed) else None
        failure = Failure(f"{type(err).__name__}: {err}", reason=reason, retry_after=err.retry_after)
        async with self.sessions() as session:
            locked = await self._lock_ours(session, calendar_id)
            if locked is None:
                return "lease_lost"
            values = after_failure(
                failure,
                failures=locked.failures + 1,
                failing_since=locked.failing_since,
                connection_kind=job.ref.connection_kind,
                now=now,
                max_backoff=self.settings.max_backoff_seconds,
                rng=self.rng,
            )
            await session.execute(_SET, {"calendar_id": calendar_id, **values, **queue.RELEASED})
            await session.commit()
        log.warning(
            "sync_failed",
            calendar_id=calendar_id,
            error=type(err).__name__,
            status=err.status,
            failures=values["failures"],
            state=values["status"],
            reason=values["status_reason"],
        )
        if reason is not None and self.channels is not None:
            # Nothing will be synced until it is fixed: stop listening (best effort).
            await self.channels.retire(job.provider, job.ref)
        return "failed"

    async def _lock_ours(self, session: AsyncSession, calendar_id: int) -> Row | None:
        """The calendar's row, locked, while our lease holds; None once it is lost."""
        locked = (await session.execute(_LOCK, {"id": calendar_id})).one_or_none()
        return locked if locked is not None and locked.lease_owner == self.owner else None

    async def _heartbeat(self, calendar_id: int) -> None:
        """Keep the lease while a long sync pages through the provider."""
        period = self.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            async with self.sessions() as session:
                lease_until = self.clock.now() + timedelta(seconds=self.settings.lease_seconds)
                kept = await queue.extend(session, calendar_id, self.owner, lease_until)
                await session.commit()
            if not kept:
                return
