"""A calendar's state machine, driven by what the fake providers answer (both databases):
active ⇄ backing_off / needs_reconnect, recovery without a person where it can
heal, no resync storm when a channel cannot be opened, a webhook that never
waits for a worker, and a detection hand-off that survives a failed recompute."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, update

from service.db.models import Calendar, Finding, Pair, PushChannel, SyncRequest
from service.domain import connections
from service.domain.calendar_states import STALLED_AFTER
from service.domain.connections import connect_org, connect_user
from service.runtime import close_worker, time_driven_pass
from service.security.crypto import Vault
from service.sync import queue
from service.sync.webhooks import secret_hash
from tests.conftest import T0
from tests.sync.runtime_world import World, running_world
from tests.sync.test_runtime import _org_secrets, connect_google_org

HOUR = timedelta(hours=1)


@pytest.fixture
async def world(db_url, sessions, clock):
    async with running_world(db_url, clock) as w:
        yield w


async def _connected(world: World, sessions, *emails: str) -> list[int]:
    """Google calendars for these people on the org grant, synced once (a live channel each)."""
    async with sessions() as s:
        await connect_org(
            s,
            Vault(world.settings.secret_key.get_secret_value()),
            provider="google",
            secret=_org_secrets(world)["google"][0],
            now=world.clock.now(),
        )
        await s.commit()
        ids = list((await s.scalars(select(Calendar.id).order_by(Calendar.id))).all())
    worker = world.worker(sessions)
    try:
        assert await worker.drain() == len(emails)
    finally:
        await close_worker(worker)
    return ids


async def _calendar(sessions, calendar_id: int) -> Calendar:
    async with sessions() as s:
        return await s.get(Calendar, calendar_id)


async def _sync(world: World, sessions, calendar_id: int | None = None) -> int:
    """Ask for a sync (of one calendar, or none) and let a worker drain."""
    if calendar_id is not None:
        async with sessions() as s:
            await queue.request_sync(s, [calendar_id], world.clock.now())
            await s.commit()
    worker = world.worker(sessions)
    try:
        return await worker.drain()
    finally:
        await close_worker(worker)


async def _live_channels(sessions, calendar_id: int) -> int:
    async with sessions() as s:
        return await s.scalar(
            select(func.count())
            .select_from(PushChannel)
            .where(PushChannel.calendar_id == calendar_id, PushChannel.stopped_at.is_(None))
        )


async def test_a_refusal_needs_a_reconnect_and_an_org_grant_heals_by_itself(world, factory, sessions, clock):
    email = (await factory.person(email=world.add("heal@acme.test", "google"))).email
    [calendar_id] = await _connected(world, sessions, email)
    assert await _live_channels(sessions, calendar_id) == 1

    world.sandbox.faults.fail_next(1, 403, reason="forbidden", target="google")
    assert await _sync(world, sessions, calendar_id) == 1
    failed = await _calendar(sessions, calendar_id)
    assert (failed.status, failed.status_reason) == ("needs_reconnect", "forbidden")
    assert T0 + 0.8 * HOUR < failed.backoff_until < T0 + 1.2 * HOUR  # an org grant may heal: probed
    assert await _live_channels(sessions, calendar_id) == 0  # nothing to listen to meanwhile
    assert not [c for c in world.sandbox.google.channels.channels(email) if not c.stopped]

    assert await _sync(world, sessions) == 0  # not before the probe
    clock.set(failed.backoff_until)
    assert await _sync(world, sessions) == 1  # the probe: fixed at the provider meanwhile
    healed = await _calendar(sessions, calendar_id)
    assert (healed.status, healed.status_reason, healed.failures, healed.backoff_until) == ("active", None, 0, None)
    worker = world.worker(sessions)
    try:
        assert await worker.maintain() == 1  # listening again
    finally:
        await close_worker(worker)
    assert await _live_channels(sessions, calendar_id) == 1


async def test_a_persons_withdrawn_consent_waits_for_them_or_a_retry(world, factory, sessions, clock):
    person = await factory.person(email=world.add("gone@acme.test", "google"))
    async with sessions() as s:
        vault = Vault(world.settings.secret_key.get_secret_value())
        calendar = await connect_user(
            s, vault, person=person, provider="google", account=person.email, refresh_token="revoked", scopes="", now=T0
        )
        await s.commit()
    assert await _sync(world, sessions) == 1
    failed = await _calendar(sessions, calendar.id)
    assert (failed.status, failed.status_reason, failed.backoff_until) == ("needs_reconnect", "consent_withdrawn", None)
    clock.set(T0 + 30 * 24 * HOUR)
    assert await _sync(world, sessions) == 0  # never probed: only a person can fix it
    async with world.api(await factory.token(person)) as api:
        [listed] = (await api.get("/v1/calendars")).json()["items"]
    assert listed["status"] == "needs_reconnect" and listed["retry_at"] is None
    assert listed["reason"] == "access was withdrawn or has expired: connect the calendar again"

    async with sessions() as s:  # `oneonone calendars retry --email …`
        assert await connections.retry(s, clock.now(), person_ids=[person.id]) == 1
        await s.commit()
    assert await _sync(world, sessions) == 1  # tried again (and refused again: the token is still revoked)
    assert (await _calendar(sessions, calendar.id)).status_reason == "consent_withdrawn"


async def test_passing_failures_back_off_and_a_day_of_them_is_flagged(world, factory, sessions, clock):
    email = (await factory.person(email=world.add("flaky@acme.test", "google"))).email
    [calendar_id] = await _connected(world, sessions, email)
    admin = await factory.token(await factory.person(role="admin"))
    retries = []
    for _ in range(60):  # until failing for over a day
        world.sandbox.faults.fail_next(1, 400, reason="badRequest", target="google")  # no in-call retry
        assert await _sync(world, sessions, calendar_id) == 1
        calendar = await _calendar(sessions, calendar_id)
        assert calendar.status == "backing_off" and calendar.status_reason is None
        retries.append(calendar.backoff_until - clock.now())
        clock.set(calendar.backoff_until)
        if clock.now() - calendar.failing_since > STALLED_AFTER:
            break
    assert retries[-1] > retries[0] and max(retries) <= timedelta(seconds=world.settings.sync.max_backoff_seconds)
    assert clock.now() - calendar.failing_since > STALLED_AFTER
    async with world.api(admin) as api:
        [stalled] = (await api.get("/v1/calendars", params={"stalled": "true"})).json()["items"]
    assert stalled["id"] == calendar_id and stalled["stalled"] and stalled["retry_at"] is not None
    assert await _sync(world, sessions) == 1  # still retried; this time it works
    assert (await _calendar(sessions, calendar_id)).status == "active"
    async with world.api(admin) as api:
        assert (await api.get("/v1/calendars", params={"stalled": "true"})).json()["items"] == []


async def test_connect_all_moves_failing_calendars_to_the_org_grant(world, factory, sessions):
    person = await factory.person(email=world.add("moved@acme.test", "google"))
    vault = Vault(world.settings.secret_key.get_secret_value())
    async with sessions() as s:
        await connect_user(
            s, vault, person=person, provider="google", account=person.email, refresh_token="revoked", scopes="", now=T0
        )
        await s.commit()
    assert await _sync(world, sessions) == 1
    async with sessions() as s:
        result = await connect_org(
            s, vault, provider="google", secret=_org_secrets(world)["google"][0], now=world.clock.now()
        )
        await s.commit()
    assert (result.created, result.already, result.revived) == (0, 1, 1)
    assert await _sync(world, sessions) == 1
    [calendar] = await _all(sessions)
    assert calendar.status == "active" and calendar.connection_id == result.connection_id


async def _all(sessions) -> list[Calendar]:
    async with sessions() as s:
        return list((await s.scalars(select(Calendar).order_by(Calendar.id))).all())


async def test_a_channel_that_cannot_be_opened_causes_no_resync_storm(world, factory, sessions, clock):
    """An http webhook address, a failed handshake, a quota: the watch call fails. The
    calendar is polled meanwhile and the channel tried again after growing delays."""
    email = (await factory.person(email=world.add("storm@acme.test", "google"))).email
    faults = world.sandbox.faults
    watch = f"/calendar/v3/calendars/{email}/events/watch"
    faults.fail_next(1000, 400, reason="push.webhookUrlNotHttps", path_prefix=watch)
    [calendar_id] = await _connected(world, sessions, email)
    assert faults.served == 1 and await _live_channels(sessions, calendar_id) == 0
    worker = world.worker(sessions)
    attempts = []
    try:
        for _ in range(30):  # half an hour of upkeep rounds, one a minute
            clock.set(clock.now() + timedelta(minutes=1))
            await worker.maintain()
            assert await worker.drain() <= 1  # at most the 15-minute poll, never a resync per round
            attempts.append(faults.served)
    finally:
        await close_worker(worker)
    assert attempts[-1] - attempts[0] <= 3  # 5, 10, 20 minutes apart: not 2 calls a minute
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(SyncRequest)) == 0
    calendar = await _calendar(sessions, calendar_id)
    assert calendar.channel_failures >= 2 and calendar.channel_retry_at > clock.now()


async def test_the_first_channel_is_opened_under_the_lease(world, factory, sessions):
    email = (await factory.person(email=world.add("first@acme.test", "google"))).email
    world.sandbox.faults.delay(1.0, path_prefix=f"/calendar/v3/calendars/{email}/events/watch")
    await connect_google_org(world, sessions)
    first, upkeep = world.worker(sessions), world.worker(sessions)
    try:
        syncing = asyncio.create_task(first.drain())
        for _ in range(200):  # until the first sync is committed and its channel is being opened
            if (await _all(sessions))[0].last_synced_at is not None:
                break
            await asyncio.sleep(0.01)
        assert await upkeep.maintain() == 0  # the calendar is still leased: no second channel
        assert await syncing == 1
    finally:
        await close_worker(first)
        await close_worker(upkeep)
    assert [c.stopped for c in world.sandbox.google.channels.channels(email)] == [False]


async def test_a_webhook_never_waits_for_a_worker_holding_the_calendar(world, factory, sessions, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer: the embedded server's webhook waits for its own worker's commit")
    email = (await factory.person(email=world.add("busy@acme.test", "google"))).email
    [calendar_id] = await _connected(world, sessions, email)
    async with sessions() as s:
        channel = (await s.scalars(select(PushChannel).where(PushChannel.calendar_id == calendar_id))).one()
        channel.secret_hash = secret_hash("token")
        await s.commit()
    headers = {
        "X-Goog-Channel-ID": channel.channel_id,
        "X-Goog-Channel-Token": "token",
        "X-Goog-Resource-State": "exists",
    }
    async with sessions() as held:  # what a worker holds while it reconciles a long re-baseline
        await held.execute(select(Calendar.id).where(Calendar.id == calendar_id).with_for_update(key_share=True))
        await held.execute(update(Calendar).where(Calendar.id == calendar_id).values(cursor="being-written"))
        timings = []
        async with httpx.AsyncClient(base_url=world.base_url) as client:
            for _ in range(5):  # the fastest of five: a loaded CI machine adds its own delays
                started = time.perf_counter()
                r = await client.post("/webhooks/google", headers=headers)
                timings.append(time.perf_counter() - started)
                assert r.status_code == 200
        await held.rollback()
    assert min(timings) < 0.05, timings
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(SyncRequest)) == 5


async def test_a_failed_recompute_is_caught_up_by_the_periodic_pass(world, factory, sessions, clock):
    """The sync committed, and its pairs with it as due: a recompute failing after it
    is no crashed sync (its outcome is ok), it is counted, and the periodic pass redoes it."""
    manager = await factory.person(email=world.add("maya@acme.test", "google"))
    report = await factory.person(email=world.add("li@acme.test", "google"), manager=manager)
    await factory.pair(manager, report)
    world.one_on_one("google", manager.email, report.email, T0 - timedelta(days=2), event_id="handoff1")
    async with sessions() as s:
        await s.execute(update(Pair).values(next_check_at=T0 + 24 * HOUR))  # not due by the clock
        await s.commit()
    await connect_google_org(world, sessions)

    async def crash(pair_ids: set[int]) -> None:
        raise RuntimeError("the recompute after the sync failed")

    deferred = REGISTRY.get_sample_value("oneonone_recomputes_deferred_total") or 0.0
    synced = REGISTRY.get_sample_value("oneonone_syncs_total", {"provider": "google", "outcome": "ok"}) or 0.0
    worker = world.worker(sessions, on_changed=crash)
    try:
        await worker.drain()
    finally:
        await close_worker(worker)
    assert REGISTRY.get_sample_value("oneonone_recomputes_deferred_total") > deferred
    assert REGISTRY.get_sample_value("oneonone_syncs_total", {"provider": "google", "outcome": "ok"}) > synced
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Finding)) == 0
        assert (await s.scalars(select(Pair.next_check_at))).one() <= clock.now()  # the sync marked it due
    await time_driven_pass(sessions, clock)()
    async with sessions() as s:
        pair = (await s.scalars(select(Pair))).one()
        assert pair.last_held is not None and pair.next_check_at > clock.now()
