"""Leased workers in separate OS processes, one of them killed with SIGKILL in the
middle of a sync, end in exactly the state of a fault-free run (PostgreSQL only:
the work queue's cross-process claim is `FOR UPDATE SKIP LOCKED`; SQLite has one
writer and production runs the worker inside the server there).

The story (e2e_helpers.all_ops_scenario) is applied to the fake providers with
notifications delivered but no sync in between; at T the channels are renewed
and every calendar is due. The fault-free run drains that with the in-process
worker. The tested run drains it with worker processes (tests/sync/worker_process,
i.e. `oneonone worker --once` on a file clock) talking HTTP to the same kind of
fakes served by this process:

1. two workers start together (batch size 1, so they interleave). Both start
   with channel upkeep, and ola's subscription has lapsed; its renewal is slowed
   down by the fake (2.5 s), so the other worker's upkeep runs into it: exactly
   one of them must renew it (both renewing would open two subscriptions, which is
   what the workers did before channel upkeep took the calendar's lease). The first
   events.list of maya's calendar, always the first claimed, is held 30 s by the
   fake's delay knob, so whichever worker claimed it is mid-request; it gets
   SIGKILL. The other drains every other calendar and exits: maya's calendar stays
   leased by the dead worker, untouched;
2. the file clock moves past the lease (120 s); a third worker takes the
   calendar over, redoes the increment from the same cursor and exits.

Then rows, revision history and the replay document must equal the fault-free
run's, each calendar must have been synced exactly once (by the JSON `synced`
logs, which carry the lease owner), and no lease may have been lost."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from service.db.models import Calendar, SyncRequest
from service.domain.detection import to_replay_json
from service.replay.harness import Harness
from service.sync import queue
from tests.conftest import BACKENDS, ROOT
from tests.sync.e2e_helpers import (
    CLEAN,
    MAYA,
    OLA,
    RecordingSleep,
    State,
    adapters,
    all_ops_scenario,
    assert_same_state,
    at,
    database_url,
    health,
    stored_rows,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        "postgres" not in BACKENDS,
        reason="cross-process leases need PostgreSQL (FOR UPDATE SKIP LOCKED); "
        "SQLite runs its single worker inside the server",
    ),
]

SCENARIO = all_ops_scenario()
T = at("2026-04-15T10:00:00Z")  # after the last entry, before `now` (2026-04-20T10:00Z)
HOLD_SECONDS = 30.0  # how long the fake holds the request the victim is killed in
RENEWAL_SECONDS = 2.5  # how long it takes the lapsed subscription's renewal
WAIT_SECONDS = 60.0  # real-time patience for the worker processes


async def _story(harness: Harness, *, leave_channel: str | None = None) -> None:
    """Connect at `start`, apply every entry with its notifications, and at T renew the
    channels (a lapsed one means a resync; `leave_channel`'s is left to the workers)
    and make every calendar due."""
    await harness.connect()
    for entry in SCENARIO["timeline"]:
        harness.clock.set(at(entry["at"]))
        harness.sandbox.apply(entry)
        await harness.sandbox.flush()
    harness.clock.set(T)
    calendars = await _calendars(harness)
    await harness.worker.maintain({c.id for c in calendars.values() if c.external_id != leave_channel})
    async with harness.sessions() as session:
        await queue.request_sync(session, [c.id for c in calendars.values()], T)
        await session.commit()


async def _finish(harness: Harness) -> State:
    detection = await harness.finish()
    return State(to_replay_json(detection, harness.now), await stored_rows(harness), await health(harness))


class Workers:
    """Worker processes sharing one file clock."""

    def __init__(self, harness: Harness, folder: Path) -> None:
        self.h = harness
        self.clock_file = folder / "clock"
        self.logs: dict[str, list[dict]] = {}
        self.started: list[asyncio.subprocess.Process] = []
        google, microsoft, sandbox = harness.settings.google, harness.settings.microsoft, harness.sandbox
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ONEONONE_")},
            "PYTHONPATH": str(ROOT),
            "ONEONONE_DATABASE_URL": harness.url,
            "ONEONONE_SECRET_KEY": harness.settings.secret_key.get_secret_value(),
            "ONEONONE_PUBLIC_BASE_URL": harness.settings.public_base_url,
            "ONEONONE_SYNC__POLL_MINUTES": str(harness.settings.sync.poll_minutes),
            "ONEONONE_SYNC__BATCH_SIZE": "1",
            "ONEONONE_GOOGLE__CLIENT_ID": google.client_id,
            "ONEONONE_GOOGLE__CLIENT_SECRET": google.client_secret.get_secret_value(),
            "ONEONONE_GOOGLE__API_ENDPOINT": google.api_endpoint,
            "ONEONONE_GOOGLE__TOKEN_URI": google.token_uri,
            "ONEONONE_MICROSOFT__TENANT_ID": microsoft.tenant_id,
            "ONEONONE_MICROSOFT__CLIENT_ID": microsoft.client_id,
            "ONEONONE_MICROSOFT__CLIENT_SECRET": microsoft.client_secret.get_secret_value(),
            "ONEONONE_MICROSOFT__AUTHORITY_HOST": microsoft.authority_host,
            "ONEONONE_MICROSOFT__GRAPH_ENDPOINT": microsoft.graph_endpoint,
            "ONEONONE_E2E_CLOCK_FILE": str(self.clock_file),
            "ONEONONE_E2E_LOGIN_URL": sandbox.microsoft_connection().login_base_url,
        }
        self.set_clock(harness.clock.now())

    def set_clock(self, moment) -> None:
        self.h.clock.set(moment)  # the fakes' clock too
        self.clock_file.write_text(moment.isoformat())

    async def start(self, owner: str) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.sync.worker_process",
            cwd=str(ROOT),
            env={**self.env, "ONEONONE_E2E_OWNER": owner},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self.started.append(process)
        return process

    async def kill_leftovers(self) -> None:
        """After a failure: no worker of this test outlives it."""
        for process in self.started:
            if process.returncode is None:
                process.kill()
                await process.wait()

    async def finished(self, owner: str, process: asyncio.subprocess.Process, *, killed: bool = False) -> None:
        _, err = await asyncio.wait_for(process.communicate(), WAIT_SECONDS)
        text = err.decode()
        self.logs[owner] = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert process.returncode == (-9 if killed else 0), f"{owner} ended with {process.returncode}: {text[-3000:]}"

    def events(self, name: str) -> list[dict]:
        return [e for lines in self.logs.values() for e in lines if e.get("event") == name]


async def _calendars(harness: Harness) -> dict[int, Calendar]:
    async with harness.sessions() as session:
        return {c.id: c for c in (await session.scalars(select(Calendar))).all()}


async def _requested(harness: Harness) -> set[int]:
    """The calendars with a sync request still pending."""
    async with harness.sessions() as session:
        return set((await session.scalars(select(SyncRequest.calendar_id))).all())


@pytest.mark.slow
async def test_worker_processes_with_one_killed_mid_sync_end_in_the_fault_free_state(tmp_path):
    url = database_url("postgres")
    async with Harness(SCENARIO, database_url=url, providers=adapters(RecordingSleep())) as harness:
        await _story(harness)
        await harness.sync()
        want = await _finish(harness)

    async with Harness(SCENARIO, database_url=url, providers=adapters(RecordingSleep())) as harness:
        await _story(harness, leave_channel=OLA)
        calendars = await _calendars(harness)
        maya = next(c for c in calendars.values() if c.external_id == MAYA)
        assert maya.id == min(calendars), "maya's calendar is the first a worker claims"
        before = {c.id: (c.cursor, c.last_synced_at) for c in calendars.values()}
        workers = Workers(harness, tmp_path)
        faults = harness.sandbox.faults
        # The renewal of ola's lapsed subscription is slow, so both workers' upkeep meets it
        # in flight; maya's first events.list is held until the worker holding it is killed.
        faults.delay(RENEWAL_SECONDS, path_prefix="/v1.0/subscriptions", target="graph")
        faults.delay(HOLD_SECONDS, path_prefix=f"/calendar/v3/calendars/{MAYA}/events")

        try:
            # 1. Two workers at once; the one holding maya's calendar is killed inside events.list.
            running = {owner: await workers.start(owner) for owner in ("worker-a", "worker-b")}
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT_SECONDS
            while faults.pending_rules():
                assert loop.time() < deadline, "no worker reached maya's events.list"
                for owner, process in running.items():
                    assert process.returncode is None, f"{owner} exited early"
                await asyncio.sleep(0.05)
            victim = (await _calendars(harness))[maya.id].lease_owner
            assert victim in running, victim
            running[victim].kill()  # SIGKILL, mid-request
            survivor = next(o for o in running if o != victim)
            await workers.finished(victim, running[victim], killed=True)
            await workers.finished(survivor, running[survivor])

            after_first = await _calendars(harness)
            stuck = after_first[maya.id]
            assert stuck.lease_owner == victim
            assert await _requested(harness) == {maya.id}, "only the dead worker's sync is still requested"
            assert (stuck.cursor, stuck.last_synced_at) == before[maya.id], "the dead worker's sync left no trace"
            assert stuck.lease_expires_at == T + timedelta(seconds=harness.settings.sync.lease_seconds)
            for cid, calendar in after_first.items():
                if cid != maya.id:
                    assert (calendar.lease_owner, calendar.last_synced_at) == (None, T)

            # 2. Past the lease, a third worker takes maya's calendar over and finishes.
            workers.set_clock(stuck.lease_expires_at + timedelta(seconds=1))
            await workers.finished("worker-c", await workers.start("worker-c"))
        finally:
            await workers.kill_leftovers()
        got = await _finish(harness)

    synced = workers.events("synced")
    assert sorted(e["calendar_id"] for e in synced) == sorted(calendars), "each calendar synced exactly once"
    assert {e["owner"] for e in synced if e["calendar_id"] == maya.id} == {"worker-c"}
    assert {e["owner"] for e in synced if e["calendar_id"] != maya.id} == {survivor}
    assert not workers.events("lease_lost") and not workers.events("sync_failed")
    ola = next(c.id for c in calendars.values() if c.external_id == OLA)
    assert [e["calendar_id"] for e in workers.events("channel_opened")] == [ola], "one renewal, by one worker"
    assert want.health == dict.fromkeys(want.health, CLEAN)
    assert_same_state(got, want)
