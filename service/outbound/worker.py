"""The delivery worker: it fans new events out to the endpoints, claims due
deliveries with a lease, keeps up to `batch_size` of them in flight (each lane holds
one at a time; a slot is refilled as soon as a delivery ends), and records each
outcome in a transaction of its own. Failures are retried after
`first_retry_seconds`, doubling up to `max_retry_seconds`, with jitter, or after the
endpoint's `Retry-After` when longer; an endpoint failing for `retry_window_hours`
is disabled with a reason. Runs in `oneonone worker` and in the embedded worker
(service.runtime), woken at once by a commit that recorded events in this process."""

from __future__ import annotations

import asyncio
import random
import uuid
from contextlib import suppress
from datetime import datetime, timedelta

import orjson
import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from service.clock import Clock
from service.domain import outbox
from service.domain.webhook_endpoints import signing_secrets
from service.outbound import queue
from service.outbound.sender import Answer, Resolver, Sender, resolve
from service.security.addresses import networks
from service.security.crypto import Vault
from service.security.webhook_signing import headers as signed_headers
from service.settings import OutboundWebhookSettings

log = structlog.get_logger(__name__)
PRUNE_EVERY = timedelta(minutes=10)
MAX_FAILURE_PAUSE_SECONDS = 60.0  # the longest pause after failed rounds (a database down or unmigrated)


class _Wake:
    """Rung after a commit that recorded events (from any thread); awaited by idle workers."""

    def __init__(self) -> None:
        self.waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def ring(self) -> None:
        for loop, rung in list(self.waiters):
            with suppress(RuntimeError):  # its loop is closed
                loop.call_soon_threadsafe(rung.set)


WAKE = _Wake()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(outbox.WAKE, False):
        WAKE.ring()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(outbox.WAKE, None)


def body(claimed: queue.Claimed) -> bytes:
    """What is POSTed: the same bytes on every attempt."""
    return orjson.dumps(
        {
            "id": claimed.event_id,
            "type": claimed.event_type,
            "timestamp": outbox.timestamp(claimed.occurred_at),
            "data": claimed.payload,
        }
    )


def retry_delay(settings: OutboundWebhookSettings, attempts: int, retry_after: float | None) -> timedelta:
    """After the `attempts`-th failure: exponential, ±25 % jitter, at least Retry-After."""
    base = min(settings.max_retry_seconds, settings.first_retry_seconds * 2 ** min(attempts - 1, 30))
    seconds = base * random.uniform(0.75, 1.25)
    if retry_after is not None:
        seconds = max(seconds, min(retry_after, settings.retry_window_hours * 3600))
    return timedelta(seconds=seconds)


class OutboundWorker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        vault: Vault,
        clock: Clock,
        settings: OutboundWebhookSettings,
        *,
        owner: str | None = None,
        resolver: Resolver = resolve,
        transport=None,
    ) -> None:
        self.sessions = sessions
        self.vault = vault
        self.clock = clock
        self.settings = settings
        self.owner = owner or f"outbound-{uuid.uuid4().hex[:12]}"
        self.sender = Sender(settings, networks(settings.allow_networks), resolver=resolver, transport=transport)
        self._pruned: datetime | None = None

    async def close(self) -> None:
        await self.sender.close()

    async def run_once(self) -> int:
        """One round: fan out, claim, deliver all it claimed; returns how many deliveries
        were attempted (tests and `worker --once` are exact with it)."""
        claimed = await self._claim(self.settings.batch_size)
        await asyncio.gather(*(self.deliver(c) for c in claimed))
        return len(claimed)

    async def _claim(self, limit: int) -> list[queue.Claimed]:
        """Fan new events out, then claim up to `limit` due deliveries."""
        while True:
            async with self.sessions() as session:
                dispatched = await queue.fan_out(session, self.clock.now())
                await session.commit()
            if dispatched < queue.FAN_OUT_BATCH:
                break
        now = self.clock.now()
        async with self.sessions() as session:
            claimed = await queue.claim(
                session,
                owner=self.owner,
                now=now,
                lease_until=now + timedelta(seconds=self.settings.lease_seconds),
                limit=limit,
            )
            await session.commit()
        return claimed

    async def deliver(self, claimed: queue.Claimed) -> None:
        now = self.clock.now()
        content = body(claimed)
        headers = signed_headers(
            signing_secrets(claimed.endpoint, self.vault, now), claimed.event_id, int(now.timestamp()), content
        )
        answer = await self.sender.post(claimed.url, headers, content, now)
        attempt = self._attempt(claimed, answer, now)
        async with self.sessions() as session:
            await queue.record(session, claimed, self.owner, attempt, timedelta(hours=self.settings.retry_window_hours))
            await session.commit()
        log.info(
            "webhook_delivered" if attempt.ok else "webhook_failed",
            endpoint_id=claimed.endpoint_id,
            event_id=claimed.event_id,
            status=answer.status_code,
            error=answer.error,
            latency_ms=answer.latency_ms,
        )

    def _attempt(self, claimed: queue.Claimed, answer: Answer, now: datetime) -> queue.Attempt:
        retry_in = timedelta(0) if answer.ok else retry_delay(self.settings, claimed.attempts + 1, answer.retry_after)
        return queue.Attempt(
            at=now,
            ok=answer.ok,
            status_code=answer.status_code,
            latency_ms=answer.latency_ms,
            excerpt=answer.excerpt,
            error=answer.error,
            retry_in=retry_in,
        )

    async def prune(self) -> None:
        now = self.clock.now()
        if self._pruned is not None and now - self._pruned < PRUNE_EVERY:
            return
        async with self.sessions() as session:
            await outbox.prune(session, now, timedelta(days=self.settings.retention_days))
            await session.commit()
        self._pruned = now

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: up to `batch_size` deliveries in flight, a slot refilled as soon
        as one ends, so an endpoint slow to answer (up to the 10 s timeout) holds its own
        lanes only, not every other delivery. Idle, it waits for a commit that recorded
        events (this process), a delivery ending (its lane's next event is due), or
        `idle_seconds` (other processes)."""
        rung = asyncio.Event()
        waiter = (asyncio.get_running_loop(), rung)
        WAKE.waiters.add(waiter)
        sending: set[asyncio.Task[None]] = set()
        try:
            failures = 0
            while not stop.is_set():
                free = self.settings.batch_size - len(sending)
                claimed = 0
                rung.clear()  # what was recorded before the claim below is seen by it
                try:
                    await self.prune()
                    if free > 0:
                        claimed = self._send(await self._claim(free), sending)
                    failures = 0
                except Exception:  # a database hiccup must not end the loop
                    failures += 1
                    log.exception("outbound_round_failed", owner=self.owner, failures=failures)
                if free > 0 and claimed == free:
                    continue  # more may be due
                # A failing database is retried after growing pauses, not every idle period.
                pause = min(self.settings.idle_seconds * 2**failures, MAX_FAILURE_PAUSE_SECONDS)
                stopped = asyncio.ensure_future(stop.wait())
                woken = asyncio.ensure_future(rung.wait())
                try:
                    wake = {stopped, *sending}
                    if free > 0:  # a slot is open: events just recorded can take it
                        wake.add(woken)
                    await asyncio.wait(wake, timeout=pause, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stopped.cancel()
                    woken.cancel()
        finally:
            WAKE.waiters.discard(waiter)
            if sending:  # the deliveries in hand finish and are recorded
                await asyncio.gather(*sending, return_exceptions=True)

    def _send(self, claimed: list[queue.Claimed], sending: set[asyncio.Task[None]]) -> int:
        for c in claimed:
            task = asyncio.create_task(self._deliver_logged(c))
            sending.add(task)
            task.add_done_callback(sending.discard)
        return len(claimed)

    async def _deliver_logged(self, claimed: queue.Claimed) -> None:
        try:
            await self.deliver(claimed)
        except Exception:  # its lease expires and the delivery is attempted again
            log.exception("webhook_delivery_crashed", endpoint_id=claimed.endpoint_id, event_id=claimed.event_id)
