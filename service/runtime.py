"""The production wiring, built from Settings: the sync worker (adapters from the
registry, vault, channel manager, detector on change, rotated refresh tokens
stored back), the worker loop `oneonone worker` runs, and the app `oneonone
serve` runs, with its in-process worker on SQLite. Imported by entry points only
(the CLI, the replay harness); the replay harness and the tests build the very
same pieces, so what they exercise is what production runs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from typing import Any

import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service.api.app import create_app
from service.clock import Clock
from service.db import dialect
from service.domain.outbox import UPCOMING_BATCH, emit_upcoming
from service.domain.ratings import freeze_due
from service.domain.recompute import HistoryCache, recompute
from service.domain.schedule import recompute_due
from service.logging import configure
from service.outbound.worker import OutboundWorker
from service.security.crypto import SecretKeyMissing, Vault
from service.settings import Settings, get_settings
from service.sync import doorbell, queue
from service.sync.budget import DatabaseBudget
from service.sync.channels import ChannelManager
from service.sync.coalesce import Coalescer
from service.sync.grants import SharedTokens, store_rotated_refresh_tokens
from service.sync.port import UNLIMITED, CalendarProvider
from service.sync.registry import ProviderSet, close_providers
from service.sync.worker import Loaded, OnChanged, SyncWorker

log = structlog.get_logger(__name__)
SHUTDOWN_GRACE_SECONDS = 60.0  # the embedded worker's last calendar, before the server gives up on it


# -- the hooks a worker needs --------------------------------------------------------------------------
def recompute_on_change(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, history: HistoryCache | None = None
) -> OnChanged:
    """After an increment changed someone's events: detect and persist the pairs it
    concerns, in a transaction of its own (the increment is already committed), with
    those of the increments committed meanwhile (service.sync.coalesce). `history`:
    the calendars' parsed revisions kept between recomputes (see HistoryCache)."""

    async def recompute_pairs(pair_ids: set[int]) -> None:
        async with sessions() as session:
            await recompute(session, clock.now(), pair_ids=pair_ids, cache=history)
            await session.commit()

    return Coalescer(recompute_pairs)


def time_driven_pass(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, upcoming_lead: timedelta = timedelta(hours=24)
) -> Callable[[], Awaitable[int]]:
    """What changes with time alone: findings that appear with no calendar change (a
    1:1 ended, a gap grew, the no_upcoming horizon moved: the pairs whose next
    boundary passed are recomputed), rating months that may now be frozen, and the
    `meeting.upcoming` events of 1:1s now within `upcoming_lead` of their start."""

    async def tick() -> int:
        async with sessions() as session:
            handled = await recompute_due(session, clock.now())
            await session.commit()
        async with sessions() as session:
            handled += await freeze_due(session, clock.now())
            await session.commit()
        announced = UPCOMING_BATCH
        while announced == UPCOMING_BATCH:  # one transaction per batch
            async with sessions() as session:
                announced = await emit_upcoming(session, clock.now(), upcoming_lead)
                await session.commit()
            handled += announced
        return handled

    return tick


# -- the worker ------------------------------------------------------------------------------------------
class StoppableWorker(SyncWorker):
    """A SyncWorker that stops between calendars: once `stopping` is set, the syncs in
    progress finish and the calendars claimed but not begun are handed back at once,
    rather than left leased until their leases expire. `outbound`: the
    webhook delivery worker running beside it (None: outbound delivery is off)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stopping = asyncio.Event()
        self.outbound: OutboundWorker | None = None

    async def sync(self, claim: queue.Claim, loaded: Loaded | None) -> None:
        if self.stopping.is_set():
            await self._release(claim.calendar_id)
            return
        await super().sync(claim, loaded)

    async def _release(self, calendar_id: int) -> None:
        async with self.sessions() as session:
            await queue.release(session, [calendar_id], self.owner)
            await session.commit()


def build_worker(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    msal_http_client: Any = None,
    owner: str | None = None,
    providers: Mapping[str, CalendarProvider] | None = None,
    on_changed: OnChanged | None = None,
) -> StoppableWorker:
    """Raises SecretKeyMissing without ONEONONE_SECRET_KEY: grants cannot be read.
    Close with `close_worker`."""
    vault = Vault(settings.secret_key.get_secret_value())
    if providers is None:
        providers = ProviderSet(
            settings,
            clock,
            msal_http_client=msal_http_client,
            on_refresh_token=store_rotated_refresh_tokens(sessions, vault, clock),
            tokens=SharedTokens(sessions, vault, clock),
            budget=DatabaseBudget.from_settings(sessions, settings.sync.quota)
            if settings.sync.quota.enabled
            else UNLIMITED,
        )
    worker = StoppableWorker(
        sessions=sessions,
        providers=providers,
        vault=vault,
        clock=clock,
        settings=settings.sync
        if dialect.concurrent_writers(sessions.kw["bind"])
        else settings.sync.model_copy(update={"concurrency": 1}),
        owner=owner,
        on_changed=on_changed or recompute_on_change(sessions, clock, _history_cache(settings)),
        channels=ChannelManager(sessions, clock, settings),
        on_tick=time_driven_pass(sessions, clock, timedelta(hours=settings.outbound.upcoming_lead_hours)),
    )
    if settings.outbound.enabled:
        worker.outbound = OutboundWorker(sessions, vault, clock, settings.outbound, owner=worker.owner)
    return worker


def _history_cache(settings: Settings) -> HistoryCache | None:
    kept = settings.sync.history_cache_revisions
    return HistoryCache(max_revisions=kept) if kept else None


async def close_worker(worker: SyncWorker) -> None:
    await close_providers(worker.providers)
    if getattr(worker, "outbound", None) is not None:
        await worker.outbound.close()


async def run_worker(worker: StoppableWorker, *, once: bool = False, idle_seconds: float = 1.0) -> int:
    """Until `worker.stopping` is set; `once`: keep channels alive, sync everything due,
    return how many syncs ran."""
    if not once:
        dsn = dialect.listen_dsn(worker.sessions.kw["bind"])
        listening = None
        if dsn is not None:  # webhooks in other processes NOTIFY
            listening = asyncio.create_task(doorbell.listen(dsn, worker.stopping), name="oneonone-doorbell")
        delivering = None
        if worker.outbound is not None:
            delivering = asyncio.create_task(worker.outbound.run(worker.stopping), name="oneonone-outbound")
        try:
            await worker.run(worker.stopping, idle_seconds=idle_seconds)
        finally:
            for task in (listening, delivering):
                if task is not None:
                    task.cancel()
                    with suppress(asyncio.CancelledError):
                        await task
        return 0
    await worker.maintain()
    total = 0
    while not worker.stopping.is_set():
        done = await worker.run_once()
        if not done:
            break
        total += done
    # Each round sends one event per (endpoint, pair) lane: round again while any was sent
    # (those that failed are not due again at once, so this ends).
    while worker.outbound is not None and not worker.stopping.is_set() and await worker.outbound.run_once():
        pass
    return total


# -- the app ------------------------------------------------------------------------------------------------------
def build_app(
    settings: Settings,
    *,
    worker: bool | None = None,
    clock: Clock | None = None,
    engine: AsyncEngine | None = None,
    msal_http_client: Any = None,
) -> FastAPI:
    """The API; with `worker` (default: on SQLite only), one sync worker runs inside
    the server's lifespan. On PostgreSQL workers are their own processes
    (`oneonone worker`), scaled apart from the API."""
    app = create_app(settings, engine=engine, clock=clock, msal_http_client=msal_http_client)
    app.state.worker = None  # the embedded worker, once started
    app.state.embedded_worker = dialect.is_sqlite(settings.database_url) if worker is None else worker
    if app.state.embedded_worker:
        _embed_worker(app, settings, msal_http_client)
    return app


def app_factory() -> FastAPI:
    """What each process of `oneonone serve --workers N` runs (`uvicorn --factory
    service.runtime:app_factory`): the API from the environment's settings; its lifespan
    opens the process's own engine and pool. Never a sync worker: with several API
    processes, workers are `oneonone worker` processes."""
    settings = get_settings()
    configure(settings.log_level, settings.log_json)
    return build_app(settings, worker=False)


def _embed_worker(app: FastAPI, settings: Settings, msal_http_client: Any) -> None:
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI):
        async with inner(a) as state:
            try:
                worker = build_worker(settings, a.state.sessions, a.state.clock, msal_http_client=msal_http_client)
            except SecretKeyMissing as exc:
                log.warning("embedded_worker_disabled", reason=exc.detail)
                yield state
                return
            a.state.worker = worker
            task = asyncio.create_task(run_worker(worker), name="oneonone-embedded-worker")
            log.info("embedded_worker_started", owner=worker.owner)
            try:
                yield state
            finally:
                worker.stopping.set()
                try:
                    await asyncio.wait_for(task, SHUTDOWN_GRACE_SECONDS)
                except TimeoutError:  # wait_for cancelled it: its lease expires, another worker redoes it
                    log.warning("embedded_worker_cancelled", owner=worker.owner)
                except Exception:  # the loop died earlier; the server's shutdown must still complete
                    log.exception("embedded_worker_failed", owner=worker.owner)
                await close_worker(worker)

    app.router.lifespan_context = lifespan
