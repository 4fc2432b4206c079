"""service.runtime: the production wiring (the worker with its adapters, vault,
channels, detector and refresh-token store, the graceful loop, the app with its
in-process worker), exercised against the sandbox fakes on both databases."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from service.db.models import Calendar, CalendarConnection, CalendarEvent, Meeting, PushChannel
from service.domain.connections import connect_org, connect_user
from service.runtime import build_app, build_worker, close_worker, run_worker
from service.security.crypto import SecretKeyMissing, Vault
from service.settings import Settings
from service.sync import queue
from service.sync.grants import store_rotated_refresh_tokens
from service.sync.port import CalendarRef
from service.sync.providers.microsoft.consent import GraphConnect
from tests.conftest import T0
from tests.sync.runtime_world import World, running_world
from tests.sync.sync_factories import requests

REDIRECT = "http://127.0.0.1:8000/v1/calendars/microsoft/callback"


@pytest.fixture
async def world(db_url, sessions, clock):
    async with running_world(db_url, clock) as w:
        yield w


async def connect_google_org(world: World, sessions) -> None:
    """As `oneonone calendars connect-all` leaves it: the Google org grant, every person's calendar due."""
    async with sessions() as s:
        await connect_org(
            s,
            Vault(world.settings.secret_key.get_secret_value()),
            provider="google",
            secret=_org_secrets(world)["google"][0],
            now=T0,
        )
        await s.commit()


def _org_secrets(world: World) -> dict[str, tuple[str, str | None]]:
    """What `oneonone calendars connect-all` stores for each provider, and its tenant."""
    google, microsoft = world.sandbox.google_connection(), world.sandbox.microsoft_connection()
    return {
        "google": (json.dumps(dict(google.service_account_info)), None),
        "microsoft": (
            json.dumps(
                {
                    "tenant_id": microsoft.tenant_id,
                    "client_id": microsoft.client_id,
                    "client_secret": microsoft.client_secret,
                }
            ),
            microsoft.tenant_id,
        ),
    }


async def _count(sessions, model, *where) -> int:
    async with sessions() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where))


# -- wiring ---------------------------------------------------------------------------------------------
async def test_a_worker_needs_the_secret_key(sessions, clock):
    with pytest.raises(SecretKeyMissing):
        build_worker(Settings(_env_file=None, secret_key=""), sessions, clock)


# -- org-wide grants, then a drain --------------------------------------------------------------------------
async def test_connect_all_for_both_providers_then_a_drain_syncs_everyone(world, factory, sessions):
    people = {}
    for provider in ("google", "microsoft"):
        manager = await factory.person(email=world.add(f"boss.{provider}@acme.test", provider))
        report = await factory.person(manager=manager, email=world.add(f"dev.{provider}@acme.test", provider))
        await factory.pair(manager, report)
        world.one_on_one(provider, manager.email, report.email, T0 - timedelta(days=3), event_id=f"1on1{provider}")
        people[provider] = [manager.email, report.email]
    vault = Vault(world.settings.secret_key.get_secret_value())
    async with sessions() as s:
        for provider, (secret, tenant) in _org_secrets(world).items():
            result = await connect_org(
                s, vault, provider=provider, secret=secret, tenant=tenant, now=T0, emails=people[provider]
            )
            assert (result.matched, result.created, result.already) == (2, 2, 0)
        await s.commit()

    worker = world.worker(sessions)
    try:
        assert await worker.drain() == 4
        assert await worker.drain() == 0  # nothing left due
    finally:
        await close_worker(worker)
    async with sessions() as s:
        calendars = (await s.scalars(select(Calendar).order_by(Calendar.id))).all()
        assert all(c.last_synced_at == T0 and c.cursor and c.status == "active" for c in calendars)
        assert await s.scalar(select(func.count()).select_from(CalendarEvent)) == 4
        assert await s.scalar(select(func.count()).select_from(Meeting)) == 2  # one per pair: detector ran
    # Every calendar got its push channel: Google watch channels, Graph subscriptions
    # (whose validation handshake reached our webhooks over loopback).
    assert {c.calendar for c in world.sandbox.google.channels.channels()} == set(people["google"])
    assert {s.mailbox for s in world.sandbox.graph.subscriptions.all()} == set(people["microsoft"])


async def test_worker_processes_share_the_google_tokens_they_mint(world, factory, sessions):
    """Domain-wide delegation mints a token per user: a second worker process syncing
    the same people takes the first one's tokens (stored encrypted) instead of minting."""
    manager = await factory.person(email=world.add("boss@acme.test", "google"))
    await factory.person(manager=manager, email=world.add("dev@acme.test", "google"))
    await connect_google_org(world, sessions)
    issuer = world.sandbox.issuer
    first, second = world.worker(sessions), world.worker(sessions)
    try:
        assert await first.drain() == 2
        minted = issuer.issued("google")
        assert minted == 2  # one per person
        async with sessions() as s:
            await queue.request_sync(s, (await s.scalars(select(Calendar.id))).all(), T0)
            await s.commit()
        assert await second.drain() == 2
    finally:
        await close_worker(first)
        await close_worker(second)
    assert issuer.issued("google") == minted


async def test_connect_all_again_reuses_the_grant_and_skips_the_connected(world, factory, sessions):
    for n in range(3):
        await factory.person(email=f"p{n}@acme.test")
    await factory.person(email="x@other.test")
    vault = Vault(world.settings.secret_key.get_secret_value())
    async with sessions() as s:
        first = await connect_org(
            s,
            vault,
            provider="google",
            secret="{}",
            now=T0,
            domain="acme.test",
            emails=["p0@acme.test", "P1@acme.test", "ghost@acme.test"],
        )
        again = await connect_org(s, vault, provider="google", secret='{"v": 2}', now=T0, domain="ACME.test")
        await s.commit()
    assert (first.matched, first.created, first.unknown) == (2, 2, ["ghost@acme.test"])
    assert (again.connection_id, again.connection_created) == (first.connection_id, False)
    assert (again.matched, again.created, again.already) == (3, 1, 2)
    async with sessions() as s:
        [connection] = (await s.scalars(select(CalendarConnection))).all()
    assert vault.decrypt(connection.secret_encrypted) == '{"v": 2}'
    assert await _count(sessions, Calendar) == 3


# -- delegated grants: rotated refresh tokens are stored -----------------------------------------------
async def test_rotated_refresh_tokens_are_stored_unless_the_grant_changed(world, factory, sessions):
    person = await factory.person(email=world.add("ada@acme.test", "microsoft"))
    entra = world.sandbox.graph.entra
    code = entra.issue_code(world.settings.microsoft.client_id, person.email, REDIRECT, ["Calendars.Read", "User.Read"])
    token = (
        await GraphConnect(world.settings.microsoft, http_client=world.login).exchange_code(code, REDIRECT)
    ).refresh_token
    vault = Vault(world.settings.secret_key.get_secret_value())
    async with sessions() as s:
        calendar = await connect_user(
            s,
            vault,
            person=person,
            provider="microsoft",
            account=person.email,
            refresh_token=token,
            scopes="Calendars.Read",
            now=T0,
        )
        await s.commit()

    async def stored() -> str:
        async with sessions() as s:
            return vault.decrypt((await s.scalars(select(CalendarConnection.secret_encrypted))).one())

    worker = world.worker(sessions)
    try:
        assert await worker.drain() == 1
    finally:
        await close_worker(worker)
    rotated = await stored()
    assert rotated != token
    # A reconnect happened meanwhile: a late rotation of the old grant must not overwrite it.
    hook = store_rotated_refresh_tokens(sessions, vault, world.clock)
    ref = CalendarRef(
        calendar_id=calendar.id, email=person.email, external_id=person.email, credentials=token, connection_kind="user"
    )
    await hook(ref, "0.fake-rt.stale-rotation")
    assert await stored() == rotated
    await hook(dataclasses.replace(ref, credentials=rotated), "0.fake-rt.next")
    assert await stored() == "0.fake-rt.next"


# -- the loop -----------------------------------------------------------------------------------------------
async def test_stopping_finishes_the_calendar_in_hand_and_leaves_the_rest_unleased(world, factory, sessions):
    emails = [world.add(f"batch{n}@acme.test", "google") for n in range(3)]
    for email in emails:
        await factory.person(email=email)
    vault = Vault(world.settings.secret_key.get_secret_value())
    async with sessions() as s:
        await connect_org(s, vault, provider="google", secret=_org_secrets(world)["google"][0], now=T0)
        await s.commit()
    worker = world.worker(sessions)
    google = worker.providers["google"]
    fetch = google.fetch_changes

    async def fetch_then_stop(*args, **kwargs):  # SIGTERM arrives while the first calendar syncs
        worker.stopping.set()
        return await fetch(*args, **kwargs)

    google.fetch_changes = fetch_then_stop
    released: list[int] = []
    release = worker._release

    async def record_release(calendar_id: int) -> None:
        released.append(calendar_id)
        await release(calendar_id)

    worker._release = record_release
    try:
        await asyncio.wait_for(run_worker(worker), 30)
    finally:
        await close_worker(worker)
    async with sessions() as s:
        calendars = (await s.scalars(select(Calendar).order_by(Calendar.id))).all()
    synced = [c for c in calendars if c.last_synced_at is not None]
    assert len(synced) == 1 and synced[0].next_poll_at is not None
    # The other two were not begun: claimed beside it (concurrent syncs, PostgreSQL) and handed back,
    # or never claimed (SQLite syncs one at a time). Either way no lease holds them: the next worker
    # takes them at once.
    assert all(c.lease_owner is None and c.lease_expires_at is None for c in calendars)
    others = sorted(c.id for c in calendars if c not in synced)
    assert sorted(released) == (others if worker.settings.concurrency > 1 else [])
    assert sum(c.next_poll_at is None for c in calendars) == 2  # still due


async def test_a_worker_syncs_calendars_side_by_side_on_postgresql_one_at_a_time_on_sqlite(
    world, factory, sessions, engine
):
    emails = [world.add(f"side{n}@acme.test", "google") for n in range(3)]
    for email in emails:
        await factory.person(email=email)
    await connect_google_org(world, sessions)
    worker = world.worker(sessions)
    google = worker.providers["google"]
    fetch = google.fetch_changes
    in_flight, most = [0], [0]
    all_in = asyncio.Event()

    async def fetch_together(*args, **kwargs):  # each fetch waits (2 s at most) for the other two to start
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        if in_flight[0] == len(emails):
            all_in.set()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_in.wait(), 2)
            return await fetch(*args, **kwargs)
        finally:
            in_flight[0] -= 1

    google.fetch_changes = fetch_together

    async def synced() -> int:
        async with sessions() as s:
            return await s.scalar(select(func.count()).where(Calendar.last_synced_at.is_not(None)))

    running = asyncio.create_task(run_worker(worker))
    try:
        async with asyncio.timeout(30):
            while await synced() < len(emails):
                await asyncio.sleep(0.05)
    finally:
        worker.stopping.set()
        await running
        await close_worker(worker)
    assert most[0] == (len(emails) if engine.dialect.name == "postgresql" else 1)


async def test_syncs_that_end_during_a_slow_round_do_not_stop_the_worker(world, factory, sessions):
    """With every slot busy when a round begins and the syncs over by the time its upkeep
    ends, the worker counts its slots again rather than waiting on no sync at all."""
    for n in range(3):
        await factory.person(email=world.add(f"slow{n}@acme.test", "google"))
    await connect_google_org(world, sessions)
    worker = world.worker(sessions)
    worker.settings = worker.settings.model_copy(update={"concurrency": 1})

    async def slow_tick() -> None:  # the periodic pass, taking longer than a sync
        await asyncio.sleep(0.3)

    worker.on_tick = slow_tick

    async def synced() -> int:
        async with sessions() as s:
            return await s.scalar(select(func.count()).where(Calendar.last_synced_at.is_not(None)))

    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop, idle_seconds=0.05, maintain_seconds=0))
    try:
        async with asyncio.timeout(30):
            while await synced() < 3:
                assert not running.done(), running.exception()
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
        await close_worker(worker)


async def test_run_once_keeps_channels_and_drains(world, factory, sessions):
    for n in range(2):
        await factory.person(email=world.add(f"once{n}@acme.test", "google"))
    await connect_google_org(world, sessions)
    worker = world.worker(sessions)
    try:
        assert await run_worker(worker, once=True) == 2
        assert await run_worker(worker, once=True) == 0
    finally:
        await close_worker(worker)


async def test_a_drain_syncs_again_a_calendar_notified_while_it_synced_then_stops_after_a_short_round(
    world, factory, sessions, clock
):
    await factory.person(email=world.add("again@acme.test", "google"))
    await connect_google_org(world, sessions)
    worker = world.worker(sessions)
    google = worker.providers["google"]
    fetch = google.fetch_changes
    fetched: list[int] = []

    async def notified_while_fetching(ref, *args, **kwargs):
        fetched.append(ref.calendar_id)
        if len(fetched) == 1:  # a webhook requests a sync while the first sync is under way
            async with sessions() as s:
                await queue.request_sync(s, [ref.calendar_id], clock.now())
                await s.commit()
        return await fetch(ref, *args, **kwargs)

    google.fetch_changes = notified_while_fetching
    rounds: list[int] = []
    run_once = worker.run_once

    async def counted_round() -> int:
        rounds.append(await run_once())
        return rounds[-1]

    worker.run_once = counted_round
    try:
        assert await worker.drain() == 2
        assert len(fetched) == 2 and len(set(fetched)) == 1
        # Both rounds were short of a batch; the second left nothing notified meanwhile,
        # so the drain ended without a claim that would have found nothing.
        assert rounds == [1, 1]
        assert await requests(sessions) == 0
        assert await worker.drain() == 0 and rounds == [1, 1, 0]
    finally:
        await close_worker(worker)


async def test_the_first_sync_opens_a_channel_and_later_upkeep_is_the_periodic_pass(world, factory, sessions, clock):
    await factory.person(email=world.add("upkeep@acme.test", "google"))
    await connect_google_org(world, sessions)

    async def live_channel_ids() -> list[str]:
        async with sessions() as s:
            return list(await s.scalars(select(PushChannel.channel_id).where(PushChannel.stopped_at.is_(None))))

    worker = world.worker(sessions)
    try:
        assert await worker.drain() == 1
        opened = await live_channel_ids()
        assert len(opened) == 1, "open right after the first sync, before any upkeep round"
        # Past half the channel's lifetime, a sync leaves it alone; the upkeep round replaces it.
        clock.set(T0 + timedelta(hours=world.settings.sync.google_channel_ttl_hours * 0.6))
        async with sessions() as s:
            await queue.request_sync(s, (await s.scalars(select(Calendar.id))).all(), clock.now())
            await s.commit()
        assert await worker.drain() == 1
        assert await live_channel_ids() == opened
        assert await worker.maintain() == 1
        renewed = await live_channel_ids()
        assert len(renewed) == 1 and renewed != opened
    finally:
        await close_worker(worker)


# -- `oneonone serve`: the in-process worker --------------------------------------------------------------------
def test_serve_runs_a_worker_in_process_on_sqlite_only(db_url):
    settings = Settings(_env_file=None, database_url=db_url)
    for flag, expected in ((None, db_url.startswith("sqlite")), (True, True), (False, False)):
        assert build_app(settings, worker=flag).state.embedded_worker is expected, flag


async def test_the_in_process_worker_picks_up_a_new_calendar(db_url, sessions, clock, factory):
    # On SQLite the in-process worker is the default; on PostgreSQL `--worker` asks for it.
    worker = None if db_url.startswith("sqlite") else True
    async with running_world(db_url, clock, worker=worker) as world:
        person = await factory.person(email=world.add("live@acme.test", "google"))
        world.one_on_one("google", person.email, "guest@acme.test", T0 - timedelta(days=1), event_id="live1")
        await connect_google_org(world, sessions)
        for _ in range(500):  # the worker idles a second between empty rounds
            if await _count(sessions, Calendar, Calendar.last_synced_at.is_not(None)):
                break
            await asyncio.sleep(0.02)
        assert world.app.state.worker is not None
    assert await _count(sessions, CalendarEvent) == 1
    async with sessions() as s:
        calendar = (await s.scalars(select(Calendar))).one()
    assert calendar.lease_owner is None and calendar.next_poll_at is not None


async def test_without_a_secret_key_serve_still_serves(db_url, sessions, clock):
    async with running_world(db_url, clock, worker=True, secret_key="") as world:
        async with world.api() as api:
            assert (await api.get("/healthz")).status_code == 200
        assert world.app.state.worker is None


async def test_worker_tick_runs_the_time_driven_pass(sessions, clock, settings, factory):
    """The worker's periodic step closes ended API meetings (held) with no calendar change."""
    from datetime import timedelta

    from service.db.models import Meeting
    from service.runtime import time_driven_pass

    manager = await factory.person()
    report = await factory.person(manager=manager)
    pair = await factory.pair(manager, report)
    meeting = await factory.meeting(pair, start=clock.now() - timedelta(hours=2))
    assert await time_driven_pass(sessions, clock)() >= 1
    async with sessions() as s:
        assert (await s.get(Meeting, meeting.id)).status == "held"
