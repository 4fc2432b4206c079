"""Workers wake when a webhook requests a sync, not when their idle wait
runs out: the marking transaction rings the process's doorbell after it commits
(SQLite, where the worker runs inside `serve`) and sends NOTIFY, delivered on
commit only, to worker processes LISTENing (PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from service.db.dialect import listen_dsn
from service.db.models import Calendar, CalendarEvent
from service.runtime import close_worker, run_worker
from service.sync import queue
from service.sync.doorbell import BELL, Doorbell, listen
from tests.conftest import T0
from tests.sync.runtime_world import running_world
from tests.sync.sync_factories import calendar
from tests.sync.test_runtime import connect_google_org

IDLE = 60.0  # far longer than any wait below: only a ring can wake the worker


async def _rings_within(bell: Doorbell, seconds: float) -> bool:
    stop = asyncio.Event()
    started = asyncio.get_running_loop().time()
    await bell.wait(stop, seconds)
    return asyncio.get_running_loop().time() - started < seconds


async def _mark(sessions, calendar_id: int, *, commit: bool) -> None:
    async with sessions() as s:
        await queue.request_sync(s, [calendar_id], T0)
        await (s.commit() if commit else s.rollback())


async def test_a_sync_request_rings_on_commit_only(factory, sessions, db_url):
    cal = await calendar(factory, await factory.person(email="bell@acme.test"))
    heard = Doorbell()  # what a worker process hears over LISTEN
    stop = asyncio.Event()
    dsn = listen_dsn(sessions.kw["bind"])
    listener = asyncio.create_task(listen(dsn, stop, heard)) if dsn else None
    try:
        if listener is not None:
            assert await _rings_within(heard, 5), "LISTEN rings once connected (it may have missed something)"
        await BELL.wait(asyncio.Event(), 0)  # a ring an earlier test left in this process is not this one's
        waiting = asyncio.create_task(_rings_within(BELL, 1.0))
        other = asyncio.create_task(_rings_within(heard, 1.0)) if listener else None
        await asyncio.sleep(0.05)
        await _mark(sessions, cal.id, commit=False)
        assert not await waiting, "a rolled-back mark rang the doorbell"
        if other is not None:
            assert not await other, "a rolled-back mark was NOTIFYed"

        waiting = asyncio.create_task(_rings_within(BELL, 5.0))
        other = asyncio.create_task(_rings_within(heard, 5.0)) if listener else None
        await asyncio.sleep(0.05)
        await _mark(sessions, cal.id, commit=True)
        assert await waiting
        if other is not None:
            assert await other
    finally:
        stop.set()
        if listener is not None:
            await asyncio.wait_for(listener, 5)


async def test_a_notification_wakes_an_idle_worker_at_once(db_url, sessions, clock, factory):
    async with running_world(db_url, clock) as world:  # the webhooks on their own thread and engine
        person = await factory.person(email=world.add("idle@acme.test", "google"))
        await connect_google_org(world, sessions)
        worker = world.worker(sessions)
        running = asyncio.create_task(run_worker(worker, idle_seconds=IDLE))
        loop = asyncio.get_running_loop()
        try:

            async def count(model, *where) -> int:
                async with sessions() as s:
                    return await s.scalar(select(func.count()).select_from(model).where(*where))

            deadline = loop.time() + 10
            while not await count(Calendar, Calendar.last_synced_at.is_not(None)):  # the first round
                assert loop.time() < deadline and not running.done()
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)  # now idle
            start = T0 + timedelta(days=1)
            world.sandbox.apply(
                {
                    "at": "2026-03-02T09:00:00Z",
                    "op": "create",
                    "provider": "google",
                    "calendars": [person.email],
                    "event": {
                        "id": "wake1",
                        "status": "confirmed",
                        "summary": "planning",
                        "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "timeZone": "UTC"},
                        "end": {
                            "dateTime": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "timeZone": "UTC",
                        },
                        "organizer": {"email": person.email},
                        "creator": {"email": person.email},
                    },
                }
            )
            delivered = await world.sandbox.flush()
            assert delivered and {r.status for r in delivered} == {200}
            notified = loop.time()
            while not await count(CalendarEvent):
                assert loop.time() - notified < 5, "the worker slept through the notification"
                await asyncio.sleep(0.02)
        finally:
            worker.stopping.set()
            await asyncio.wait_for(running, 10)
            await close_worker(worker)
