"""Push delivery for the fakes: Google channel notifications, Graph change and
lifecycle notifications, and Graph's validation handshake, POSTed with httpx.

Deliveries run on the notifier's own thread and event loop, so a receiver
served by the caller's loop (or by another thread) can answer while the caller
awaits `flush()`, and a fake server's request handler can wait for the
validation handshake without blocking its own loop.

Two modes:
- manual (default, for deterministic replays): `enqueue` only queues;
  `await flush()` (or `flush_sync()` from a thread without a loop serving the
  receiver) delivers everything queued, one at a time, in order, and returns
  the results once every receiver has answered;
- auto (`auto=True`, for the demo): the queue is drained in the background
  as soon as something is enqueued.
Fault knobs (duplicates, seeded reordering) apply when a batch is drained.
Every result is recorded in `results` for tests."""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from service import eventloop
from service.sandbox.faults import Faults


@dataclass(frozen=True)
class Delivery:
    kind: str                   # "google" | "graph" | "graph-lifecycle" | "graph-validation"
    url: str
    channel: str                # Google channel id or Graph subscription id
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    timeout: float = 10.0
    ok_statuses: frozenset[int] = frozenset({200, 201, 202, 204, 102})
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class DeliveryResult:
    delivery: Delivery
    status: int | None          # None: no answer (timeout, refused)
    ok: bool
    error: str | None = None
    text: str = ""
    content_type: str = ""


class Notifier:
    def __init__(self, *, faults: Faults | None = None, auto: bool = False,
                 client_factory: Callable[[], httpx.AsyncClient] | None = None) -> None:
        self.faults = faults or Faults()
        self.auto = auto
        self.results: list[DeliveryResult] = []
        self._client_factory = client_factory or (lambda: httpx.AsyncClient(follow_redirects=False))
        self._pending: list[Delivery] = []
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: httpx.AsyncClient | None = None
        self._drain_lock: asyncio.Lock | None = None
        self._retried_upto = 0

    # -- queue ---------------------------------------------------------------------
    @property
    def pending(self) -> list[Delivery]:
        with self._lock:
            return list(self._pending)

    def enqueue(self, delivery: Delivery) -> None:
        with self._lock:
            self._pending.append(delivery)
            count = len(self._pending)
        if self.auto:
            window = self.faults.reorder_window
            if self.faults.reorder_rng is None or (window is not None and count >= window):
                self._submit(self._drain())

    async def flush(self) -> list[DeliveryResult]:
        """Deliver everything queued and wait for the answers (the results of this flush)."""
        return await asyncio.wrap_future(self._submit(self._drain()))

    def flush_sync(self, timeout: float = 60.0) -> list[DeliveryResult]:
        return self._submit(self._drain()).result(timeout)

    async def send_now(self, delivery: Delivery) -> DeliveryResult:
        """Deliver one request immediately, bypassing queue and faults (the validation handshake)."""
        return await asyncio.wrap_future(self._submit(self._send(delivery)))

    def redeliver_failed(self) -> int:
        """Queue again the change notifications that failed since the last call (Graph
        retries what its receiver did not accept)."""
        recent, self._retried_upto = self.results[self._retried_upto:], len(self.results)
        failed = [r.delivery for r in recent if not r.ok and r.delivery.kind != "graph-validation"]
        for delivery in failed:
            self.enqueue(delivery)
        return len(failed)

    def results_for(self, *, kind: str | None = None, channel: str | None = None) -> list[DeliveryResult]:
        return [r for r in self.results if (kind is None or r.delivery.kind == kind)
                and (channel is None or r.delivery.channel == channel)]

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
        self.results.clear()
        self._retried_upto = 0

    def close(self) -> None:
        if self._loop is None:
            return
        if self._client is not None:
            self._submit(self._client.aclose()).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = self._thread = self._client = None

    # -- delivery loop -------------------------------------------------------------
    def _submit(self, coro: Any) -> Future:
        with self._start_lock:
            if self._loop is None:
                self._start()
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = eventloop.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            self._drain_lock = asyncio.Lock()
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="sandbox-notifier", daemon=True)
        self._thread.start()
        ready.wait()

    def _batch(self) -> list[Delivery]:
        with self._lock:
            batch, self._pending = self._pending, []
        if self.faults.duplicate_notifications:
            batch = [d for delivery in batch for d in (delivery, delivery)]
        rng = self.faults.reorder_rng
        if rng is not None:
            rng.shuffle(batch)
        return batch

    async def _drain(self) -> list[DeliveryResult]:
        assert self._drain_lock is not None
        async with self._drain_lock:  # one drain at a time: deliveries never overlap
            out = []
            for delivery in self._batch():
                out.append(await self._send(delivery))
            return out

    async def _send(self, delivery: Delivery) -> DeliveryResult:
        if self._client is None:
            self._client = self._client_factory()
        try:
            response = await self._client.post(delivery.url, content=delivery.body, headers=delivery.headers,
                                               timeout=delivery.timeout)
        except httpx.TimeoutException:
            result = DeliveryResult(delivery, None, False, "timeout")
        except httpx.HTTPError as exc:
            result = DeliveryResult(delivery, None, False, f"{type(exc).__name__}: {exc}")
        else:
            result = DeliveryResult(delivery, response.status_code, response.status_code in delivery.ok_statuses,
                                    text=response.text, content_type=response.headers.get("content-type", ""))
        self.results.append(result)
        return result
