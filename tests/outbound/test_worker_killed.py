"""A worker process killed with SIGKILL in the middle of a delivery loses nothing
(PostgreSQL only: claims across processes are `FOR UPDATE SKIP LOCKED`; on SQLite the
one worker runs inside the server).

Four events wait in the outbox of a throw-away database: two of pair 1 (one lane:
the second must wait for the first), one each of pairs 2 and 3. A real `oneonone
worker` process fans them out and claims the head of each lane; the receiver answers
pairs 2 and 3 at once but holds pair 1's request open. While it is held, the worker
gets SIGKILL: its claim on pair 1's first event stays leased, recorded nowhere else.
A second `oneonone worker` takes it over once the lease (11 s, the shortest the
settings allow) has expired, delivers it with the same webhook-id, then the event
behind it. The receiver ends with every event id, each answered once by a live worker;
the only id seen twice on the wire is the one the dead worker had sent."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from service.db.dialect import throwaway_database
from service.db.engine import create_engine, session_factory
from service.db.migrate import upgrade_async
from service.db.models import OutboxEvent, WebhookAttempt, WebhookDelivery
from service.domain import outbox
from service.domain import webhook_endpoints as endpoints
from service.security.addresses import networks
from service.security.crypto import Vault, generate_key
from tests.conftest import BACKENDS, PG_URL, ROOT
from tests.outbound.receiver import HookReceiver, Step

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="workers in separate processes need PostgreSQL"),
]

LEASE_SECONDS = 11  # ONEONONE_OUTBOUND__LEASE_SECONDS must be over 10
PATIENCE = 25.0  # real seconds for the whole story


def _worker(url: str, key: str, log) -> subprocess.Popen:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ONEONONE_")},
        "ONEONONE_DATABASE_URL": url,
        "ONEONONE_SECRET_KEY": key,
        "ONEONONE_LOG_LEVEL": "WARNING",
        "ONEONONE_DB_POOL_SIZE": "4",
        "ONEONONE_OUTBOUND__ALLOW_NETWORKS": "127.0.0.0/8",
        "ONEONONE_OUTBOUND__ALLOW_HTTP_LOOPBACK": "true",
        "ONEONONE_OUTBOUND__LEASE_SECONDS": str(LEASE_SECONDS),
        "ONEONONE_OUTBOUND__IDLE_SECONDS": "0.2",
        "ONEONONE_OUTBOUND__TIMEOUT_SECONDS": "30",  # the held request must outlive the kill, not time out first
    }
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "oneonone"), "worker"], cwd=ROOT, env=env, stdout=log, stderr=log
    )


async def _until(what: str, probe, deadline: float, every: float = 0.05) -> None:
    while not await probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(every)


@pytest.mark.slow
async def test_a_worker_killed_mid_delivery_loses_nothing(tmp_path):
    url, drop = await throwaway_database(PG_URL)
    engine = create_engine(url, pool_size=2)
    sessions = session_factory(engine)
    receiver = HookReceiver().start()
    key = generate_key()
    vault = Vault(key)
    workers: list[subprocess.Popen] = []
    try:
        await upgrade_async(url)
        now = datetime.now(UTC)
        async with sessions() as s:
            await endpoints.create(
                s,
                vault,
                endpoints.UrlRules(True, tuple(networks(["127.0.0.0/8"]))),
                url=receiver.url,
                event_types=list(outbox.EVENT_TYPES),
                description="kill test",
                enabled=True,
                created_by=None,
                now=now,
            )
            events = [outbox.Event(outbox.EventType.finding_opened, pair, {"pair_id": pair}) for pair in (1, 1, 2, 3)]
            await outbox.record(s, events, now)
            await s.commit()
            ids = (await s.scalars(select(OutboxEvent.event_id).order_by(OutboxEvent.id))).all()
        held, behind = ids[0], ids[1]
        receiver.script = [Step(delay=60.0, pair=1)]  # pair 1's first request: held open, never answered in time
        deadline = time.monotonic() + PATIENCE

        with open(tmp_path / "worker-a.log", "w") as log_a, open(tmp_path / "worker-b.log", "w") as log_b:
            workers.append(_worker(url, key, log_a))

            async def in_flight() -> bool:
                """Pair 1's head held at the receiver, pairs 2 and 3 answered and recorded."""
                assert workers[0].poll() is None, (tmp_path / "worker-a.log").read_text()[-3000:]
                if held not in receiver.arrived:
                    return False
                async with sessions() as s:
                    done = await s.scalars(select(WebhookDelivery.pair_id).where(WebhookDelivery.state == "delivered"))
                    return sorted(done.all()) == [2, 3]

            await _until("worker a holding pair 1's delivery", in_flight, deadline)
            workers[0].send_signal(signal.SIGKILL)
            assert workers[0].wait(5) == -signal.SIGKILL
            async with sessions() as s:
                lane = (
                    await s.scalars(select(WebhookDelivery).where(WebhookDelivery.pair_id == 1).order_by("id"))
                ).all()
            assert [(d.state, d.lease_owner is not None) for d in lane] == [("pending", True), ("pending", False)]
            lease_expired = lane[0].lease_expires_at
            assert held not in receiver.delivered() and behind not in receiver.arrived

            workers.append(_worker(url, key, log_b))

            async def all_delivered() -> bool:
                assert workers[1].poll() is None, (tmp_path / "worker-b.log").read_text()[-3000:]
                if not set(receiver.delivered()) >= set(ids):
                    return False
                async with sessions() as s:
                    return set((await s.scalars(select(WebhookDelivery.state))).all()) == {"delivered"}

            await _until("worker b delivering the rest", all_delivered, deadline)

        delivered = receiver.delivered()
        assert sorted(set(delivered)) == sorted(ids)  # every event, and nothing else
        assert len(delivered) == len(ids)  # each answered 2xx once (the dead worker's copy was never answered)
        assert receiver.arrived.count(held) == 2 and all(receiver.arrived.count(i) == 1 for i in ids[1:])
        assert delivered.index(held) < delivered.index(behind)  # the lane's order held across the takeover
        async with sessions() as s:
            taken_over = await s.scalar(select(WebhookDelivery.delivered_at).where(WebhookDelivery.id == lane[0].id))
            states = (await s.scalars(select(WebhookDelivery.state))).all()
            attempts = (await s.scalars(select(WebhookAttempt.event_id))).all()
        assert states == ["delivered"] * len(ids)
        assert sorted(attempts) == sorted(ids)  # the killed attempt left no record; one attempt per event
        assert taken_over >= lease_expired  # not before the dead worker's lease had expired
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(10)
                except subprocess.TimeoutExpired:
                    worker.kill()
        receiver.stop()
        await engine.dispose()
        await drop()
