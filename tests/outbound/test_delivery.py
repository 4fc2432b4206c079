"""Delivering the outbox to a real receiver on loopback: signatures verify; a receiver
that fails, times out, answers 429 with Retry-After or is down gets every event once
per id after it recovers; order holds per endpoint and pair; a slow endpoint holds up
its own lanes only; a dead worker's lease
expires and another delivers; disabled endpoints get nothing; an endpoint failing for
the whole retry window is disabled and, re-enabled, gets what it missed; SSRF
addresses are refused at delivery."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import standardwebhooks
from sqlalchemy import select

from service.clock import FixedClock
from service.db.models import WebhookDelivery, WebhookEndpoint
from service.domain import outbox
from service.domain import webhook_endpoints as endpoints
from service.outbound import queue
from service.outbound.worker import OutboundWorker
from service.security.addresses import networks
from service.security.crypto import Vault, generate_key
from service.settings import OutboundWebhookSettings
from tests.outbound.receiver import HookReceiver, Step

LOOPBACK = OutboundWebhookSettings(allow_networks=["127.0.0.0/8"], allow_http_loopback=True, timeout_seconds=1.0)
RULES = endpoints.UrlRules(True, tuple(networks(["127.0.0.0/8"])))


@pytest.fixture
def clock() -> FixedClock:
    # The wall clock's time: standardwebhooks checks the timestamp against it.
    return FixedClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def vault() -> Vault:
    return Vault(generate_key())


@pytest.fixture
def receiver():
    r = HookReceiver().start()
    yield r
    r.stop()


def signed_by(secret: str, hit) -> bool:
    """The package's own signature at the hit's timestamp (the test clock moved past the
    tolerance `verify` allows around the wall clock) is among the hit's signatures."""
    stamp = datetime.fromtimestamp(int(hit.headers["webhook-timestamp"]), UTC)
    expected = standardwebhooks.Webhook(secret).sign(hit.headers["webhook-id"], stamp, hit.body.decode())
    return expected in hit.headers["webhook-signature"].split(" ")


class Outbound:
    def __init__(self, sessions, clock, vault, settings=LOOPBACK) -> None:
        self.sessions, self.clock, self.vault = sessions, clock, vault
        self.worker = OutboundWorker(sessions, vault, clock, settings, owner="worker-a")

    async def endpoint(self, url: str, types=outbox.EVENT_TYPES, *, enabled=True, rules=RULES) -> tuple[int, str]:
        async with self.sessions() as s:
            row, secret = await endpoints.create(
                s,
                self.vault,
                rules,
                url=url,
                event_types=list(types),
                description="",
                enabled=enabled,
                created_by=None,
                now=self.clock.now(),
            )
            await s.commit()
        return row.id, secret

    async def emit(self, pair_id: int, n: int = 1, kind=outbox.EventType.finding_opened) -> list[str]:
        async with self.sessions() as s:
            await outbox.record(
                s, [outbox.Event(kind, pair_id, {"pair_id": pair_id, "n": i}) for i in range(n)], self.clock.now()
            )
            await s.commit()
            rows = await s.scalars(select(outbox.OutboxEvent.event_id).order_by(outbox.OutboxEvent.id.desc()).limit(n))
            return list(reversed(rows.all()))

    async def rounds(self, step: timedelta = timedelta(0), count: int = 1) -> None:
        for _ in range(count):
            self.clock.set(self.clock.now() + step)
            await self.worker.run_once()

    async def pending(self) -> list[WebhookDelivery]:
        async with self.sessions() as s:
            return list((await s.scalars(select(WebhookDelivery).where(WebhookDelivery.state == "pending"))).all())

    async def endpoint_row(self, endpoint_id: int) -> WebhookEndpoint:
        async with self.sessions() as s:
            return await s.get(WebhookEndpoint, endpoint_id)


@pytest.fixture
async def out(sessions, clock, vault):
    o = Outbound(sessions, clock, vault)
    yield o
    await o.worker.close()


async def test_a_delivery_is_signed_and_verifies(out, receiver, sessions):
    endpoint_id, secret = await out.endpoint(receiver.url)
    [event_id] = await out.emit(pair_id=7)
    await out.rounds()
    [hit] = receiver.hits
    assert hit.headers["webhook-id"] == event_id
    assert hit.headers["content-type"] == "application/json"
    assert standardwebhooks.Webhook(secret).verify(hit.body, hit.headers) == hit.event
    assert hit.event == {
        "id": event_id,
        "type": "finding.opened",
        "timestamp": outbox.timestamp(out.clock.now()),
        "data": {"pair_id": 7, "n": 0},
    }
    async with sessions() as s:
        [attempt] = await endpoints.attempts(s, endpoint_id, before_id=None, limit=10)
    assert (attempt.event_id, attempt.status_code, attempt.error, attempt.response_excerpt) == (
        event_id,
        200,
        None,
        "ok",
    )
    assert await out.pending() == []
    await out.rounds(timedelta(hours=1))
    assert len(receiver.hits) == 1  # delivered once, never again


async def test_a_rotation_signs_with_both_secrets(out, receiver, sessions):
    endpoint_id, old = await out.endpoint(receiver.url)
    async with sessions() as s:
        _row, new = await endpoints.rotate_secret(s, out.vault, endpoint_id, timedelta(hours=24), out.clock.now())
        await s.commit()
    await out.emit(pair_id=1)
    await out.rounds()
    [hit] = receiver.hits
    assert len(hit.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        standardwebhooks.Webhook(secret).verify(hit.body, hit.headers)


async def test_a_failing_receiver_gets_every_event_once_per_id_after_it_recovers(out, receiver, sessions):
    endpoint_id, secret = await out.endpoint(receiver.url)
    ids = await out.emit(pair_id=1, n=2) + await out.emit(pair_id=2, n=2)
    # pair 1's first event: 500, then 429 with Retry-After 120 s, then a timeout; pair 2's go through.
    receiver.script = [Step(500, pair=1), Step(429, {"Retry-After": "120"}, pair=1), Step(200, delay=3, pair=1)]
    await out.rounds()
    assert receiver.delivered() == [ids[2]]
    await out.rounds(timedelta(seconds=10))  # first retry: 429, Retry-After 120
    assert receiver.delivered() == [ids[2], ids[3]]
    await out.rounds(timedelta(seconds=60))  # inside Retry-After: nothing is sent
    assert len(receiver.hits) == 4
    await out.rounds(timedelta(seconds=90))  # past it: times out (the receiver answers too late)
    async with sessions() as s:
        log = await endpoints.attempts(s, endpoint_id, before_id=None, limit=10)
    assert sorted((a.status_code or 0, a.error is not None) for a in log) == [
        (0, True),
        (200, False),
        (200, False),
        (429, False),
        (500, False),
    ]
    assert "timed out" in log[0].error
    excerpt = next(a.response_excerpt for a in log if a.status_code == 500)
    assert excerpt.startswith("nope") and len(excerpt) == 1024  # capped
    # The receiver goes down, then comes back on the same port.
    port = receiver.server.port
    receiver.stop()
    await out.rounds(timedelta(minutes=5))
    back = HookReceiver(port=port).start()
    try:
        for _ in range(6):
            await out.rounds(timedelta(minutes=30))
        assert back.delivered() == ids[:2]  # in order, after the recovery
    finally:
        back.stop()
    assert set(receiver.delivered() + back.delivered()) == set(ids)
    for hit in receiver.hits + back.hits:  # every copy on the wire is signed with its event's id
        assert signed_by(secret, hit) and hit.event["id"] == hit.headers["webhook-id"]
    assert await out.pending() == []
    assert (await out.endpoint_row(endpoint_id)).failing_since is None


async def test_a_later_event_of_a_pair_waits_for_the_earlier_one(out, receiver):
    await out.endpoint(receiver.url)
    a1, a2 = await out.emit(pair_id=1, n=2)
    [b1] = await out.emit(pair_id=2)
    receiver.script = [Step(503, pair=1)]
    await out.rounds()
    assert receiver.delivered() == [b1]
    await out.rounds(timedelta(seconds=1))  # a1 is backing off: a2 must wait for it
    assert receiver.delivered() == [b1]
    await out.rounds(timedelta(seconds=30), count=2)
    assert receiver.delivered() == [b1, a1, a2]


async def test_an_endpoint_slow_to_answer_holds_up_its_own_lane_only(out, receiver):
    """The running worker keeps deliveries in flight side by side: while one waits for a
    slow answer, the events of other lanes are claimed and delivered."""
    await out.endpoint(receiver.url)
    receiver.script = [Step(delay=0.8, pair=1)]  # under LOOPBACK's 1 s timeout
    stop = asyncio.Event()
    running = asyncio.create_task(out.worker.run(stop))
    try:
        async with asyncio.timeout(10):
            [slow] = await out.emit(pair_id=1)
            while slow not in receiver.arrived:  # its answer is on its way
                await asyncio.sleep(0.01)
            [fast] = await out.emit(pair_id=2)
            while fast not in receiver.delivered():
                await asyncio.sleep(0.01)
            assert slow not in receiver.delivered()
            while slow not in receiver.delivered():
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await running
    assert await out.pending() == []


async def test_a_dead_workers_lease_expires_and_another_delivers(out, receiver, sessions):
    await out.endpoint(receiver.url)
    [event_id] = await out.emit(pair_id=1)
    async with sessions() as s:  # worker B fans out and claims, then dies (SIGKILL) before sending
        await queue.fan_out(s, out.clock.now())
        now = out.clock.now()
        [claimed] = await queue.claim(s, owner="worker-b", now=now, lease_until=now + timedelta(seconds=60), limit=10)
        await s.commit()
    await out.rounds()
    assert receiver.hits == []  # its lease holds
    await out.rounds(timedelta(seconds=61))
    assert receiver.delivered() == [event_id]
    # B's late outcome does not count: the delivery is another's now.
    async with sessions() as s:
        failed = queue.Attempt(at=out.clock.now(), ok=False, status_code=None, latency_ms=1, excerpt=None, error="x")
        await queue.record(s, claimed, "worker-b", failed, timedelta(hours=24))
        await s.commit()
    assert await out.pending() == []


async def test_disabled_endpoints_receive_nothing(out, receiver):
    await out.endpoint(receiver.url, enabled=False)
    await out.endpoint(receiver.url, types=["meeting.cancelled"])  # not subscribed to what happens
    await out.emit(pair_id=1, n=3)
    await out.rounds(timedelta(minutes=1), count=3)
    assert receiver.hits == []


async def test_an_endpoint_failing_for_the_window_is_disabled_and_resumes_once_enabled(out, receiver, sessions):
    endpoint_id, _ = await out.endpoint(receiver.url)
    ids = await out.emit(pair_id=1, n=2)
    receiver.script = [Step(500)] * 1000
    start = out.clock.now()
    while out.clock.now() - start < timedelta(hours=27):
        await out.rounds(timedelta(minutes=30))
    row = await out.endpoint_row(endpoint_id)
    assert not row.enabled and row.disabled_reason.startswith("failing since") and "HTTP 500" in row.disabled_reason
    tries = len(receiver.hits)
    assert 15 <= tries <= 60  # exponential backoff capped at an hour, not a retry per round
    later = await out.emit(pair_id=1)
    await out.rounds(timedelta(hours=2), count=2)
    assert len(receiver.hits) == tries  # disabled: nothing is sent
    receiver.script.clear()
    async with sessions() as s:
        await endpoints.change(s, endpoint_id, {"enabled": True}, RULES, out.clock.now())
        await s.commit()
    await out.rounds(count=3)
    assert receiver.delivered() == ids  # what it missed while failing, in order...
    assert later[0] not in receiver.delivered()  # ...but not what happened while it was disabled


async def test_private_addresses_are_refused_at_delivery(sessions, clock, vault, receiver):
    # A name (not checked when the endpoint is made) that resolves to loopback, not allowed.
    strict = Outbound(sessions, clock, vault, OutboundWebhookSettings(allow_http_loopback=True, timeout_seconds=1.0))
    try:
        endpoint_id, _ = await strict.endpoint(
            receiver.url.replace("127.0.0.1", "localhost"), rules=endpoints.UrlRules(True, ())
        )
        await strict.emit(pair_id=1)
        await strict.rounds()
        assert receiver.hits == []
        async with sessions() as s:
            [attempt] = await endpoints.attempts(s, endpoint_id, before_id=None, limit=10)
        assert attempt.status_code is None and attempt.error.startswith("refused: localhost resolves to")
        assert "loopback" in attempt.error
    finally:
        await strict.worker.close()


async def test_redelivery_sends_the_same_id_again(out, receiver, sessions):
    endpoint_id, _ = await out.endpoint(receiver.url)
    [event_id] = await out.emit(pair_id=1)
    await out.rounds()
    async with sessions() as s:
        await endpoints.redeliver(s, endpoint_id, event_id, out.clock.now())
        await s.commit()
    await out.rounds()
    assert [h.headers["webhook-id"] for h in receiver.hits] == [event_id, event_id]


async def test_a_success_does_not_queue_on_the_endpoints_row(out, receiver, sessions, db_url):
    """Every delivery to an endpoint, in every worker, ends with its record: a success
    that wrote the endpoint's row would wait for every other one in flight."""
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks: SQLite has one writer anyway")
    endpoint_id, _ = await out.endpoint(receiver.url)
    await out.emit(pair_id=7)
    async with sessions() as holder:  # holding the row as an UPDATE of it would (not its key)
        endpoint_row = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
        await holder.execute(endpoint_row.with_for_update(key_share=True))
        await asyncio.wait_for(out.rounds(), 5)
        await holder.rollback()
    assert len(receiver.hits) == 1 and await out.pending() == []
