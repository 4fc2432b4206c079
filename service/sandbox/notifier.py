"""Push delivery for the fakes: Google channel notifications, Graph change and
lifecycle notifications, and Graph's validation handshake, POSTed over HTTP/1.1
keep-alive connections (the standard library's http.client).

Deliveries run on the notifier's own threads, so a receiver served by the
caller's event loop (or by another thread) can answer while the caller awaits
`flush()`, and a fake server's request handler can wait for the validation
handshake without blocking its own loop. Blocking sockets on a thread of our
own cost a fraction of an asyncio client's round trip, and a replay delivers
tens of thousands of these.

Two modes:
- manual (default, for deterministic replays): `enqueue` only queues;
  `await flush()` (or `flush_sync()` from a thread without a loop serving the
  receiver) delivers everything queued, one at a time, in order, and returns
  the results once every receiver has answered;
- auto (`auto=True`, for the demo and the benches): delivered in the
  background as soon as enqueued, as the providers push, from many machines:
  channels side by side (`AUTO_LANES` threads), each channel's notifications
  one at a time, in order. `flush()` then only waits for what is in flight.
Fault knobs (duplicates, seeded reordering) apply when a batch is drained; with
either set, auto mode drains the queue in one lane, as manual mode does.
Every result is recorded in `results` for tests."""

from __future__ import annotations

import asyncio
import http.client
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from service.sandbox.faults import Faults


@dataclass(frozen=True)
class Delivery:
    kind: str  # "google" | "graph" | "graph-lifecycle" | "graph-validation"
    url: str
    channel: str  # Google channel id or Graph subscription id
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    timeout: float = 10.0
    ok_statuses: frozenset[int] = frozenset({200, 201, 202, 204, 102})
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class DeliveryResult:
    delivery: Delivery
    status: int | None  # None: no answer (timeout, refused)
    ok: bool
    error: str | None = None
    text: str = ""
    content_type: str = ""


AUTO_LANES = 8  # auto mode's delivery threads: a channel always uses the same one
# A reused keep-alive connection the receiver has meanwhile closed fails like this
# before any answer: the request is sent again on a new connection.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class Notifier:
    def __init__(self, *, faults: Faults | None = None, auto: bool = False) -> None:
        self.faults = faults or Faults()
        self.auto = auto
        self.results: list[DeliveryResult] = []
        self._pending: list[Delivery] = []
        self._lock = threading.Lock()
        # One thread per lane: drains run one at a time, in order (deliveries never
        # overlap); a handshake (`send_now`) has its own, so it never waits behind a drain.
        self._lanes: dict[str, ThreadPoolExecutor] = {}
        self._local = threading.local()  # each thread's connections, by (scheme, host:port)
        self._connections: list[http.client.HTTPConnection] = []
        self._retried_upto = 0

    # -- queue ---------------------------------------------------------------------
    @property
    def pending(self) -> list[Delivery]:
        with self._lock:
            return list(self._pending)

    def enqueue(self, delivery: Delivery) -> None:
        if self.auto and self.faults.reorder_rng is None and not self.faults.duplicate_notifications:
            self._submit(f"channel-{zlib.crc32(delivery.channel.encode()) % AUTO_LANES}", self._send, delivery)
            return
        with self._lock:
            self._pending.append(delivery)
            count = len(self._pending)
        if self.auto:
            window = self.faults.reorder_window
            if self.faults.reorder_rng is None or (window is not None and count >= window):
                self._submit("deliveries", self._drain)

    async def flush(self) -> list[DeliveryResult]:
        """Deliver everything queued and wait for the answers (the results of this flush);
        in auto mode, also wait for the deliveries already on their way."""
        results = await asyncio.wrap_future(self._submit("deliveries", self._drain))
        for future in self._in_flight():
            await asyncio.wrap_future(future)
        return results

    def flush_sync(self, timeout: float = 60.0) -> list[DeliveryResult]:
        results = self._submit("deliveries", self._drain).result(timeout)
        for future in self._in_flight():
            future.result(timeout)
        return results

    def _in_flight(self) -> list[Future]:
        """A marker behind what each auto-mode channel lane holds now."""
        with self._lock:
            lanes = [lane for name, lane in self._lanes.items() if name.startswith("channel-")]
        return [lane.submit(lambda: None) for lane in lanes]

    async def send_now(self, delivery: Delivery) -> DeliveryResult:
        """Deliver one request immediately, bypassing queue and faults (the validation handshake)."""
        return await asyncio.wrap_future(self._submit("handshakes", self._send, delivery))

    def redeliver_failed(self) -> int:
        """Queue again the change notifications that failed since the last call (Graph
        retries what its receiver did not accept)."""
        recent, self._retried_upto = self.results[self._retried_upto :], len(self.results)
        failed = [r.delivery for r in recent if not r.ok and r.delivery.kind != "graph-validation"]
        for delivery in failed:
            self.enqueue(delivery)
        return len(failed)

    def results_for(self, *, kind: str | None = None, channel: str | None = None) -> list[DeliveryResult]:
        return [
            r
            for r in self.results
            if (kind is None or r.delivery.kind == kind) and (channel is None or r.delivery.channel == channel)
        ]

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
        self.results.clear()
        self._retried_upto = 0

    def close(self) -> None:
        with self._lock:
            lanes, self._lanes = list(self._lanes.values()), {}
        for lane in lanes:
            lane.shutdown(wait=True)
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()

    # -- delivery ------------------------------------------------------------------
    def _submit(self, lane: str, fn: Callable[..., Any], *args: Any) -> Future:
        with self._lock:
            executor = self._lanes.get(lane)
            if executor is None:
                executor = self._lanes[lane] = ThreadPoolExecutor(1, thread_name_prefix=f"sandbox-notifier-{lane}")
            return executor.submit(fn, *args)

    def _batch(self) -> list[Delivery]:
        with self._lock:
            batch, self._pending = self._pending, []
        if self.faults.duplicate_notifications:
            batch = [d for delivery in batch for d in (delivery, delivery)]
        rng = self.faults.reorder_rng
        if rng is not None:
            rng.shuffle(batch)
        return batch

    def _drain(self) -> list[DeliveryResult]:
        return [self._send(delivery) for delivery in self._batch()]

    def _send(self, delivery: Delivery) -> DeliveryResult:
        url = urlsplit(delivery.url)
        target = url.path + (f"?{url.query}" if url.query else "")
        connection = self._connection(url.scheme, url.netloc, delivery.timeout)
        reused = connection.sock is not None
        try:
            try:
                response = self._post(connection, target, delivery)
            except _STALE:
                if not reused:
                    raise
                connection.close()
                response = self._post(connection, target, delivery)
        except TimeoutError:
            connection.close()  # an answer arriving later must not be read as the next one's
            result = DeliveryResult(delivery, None, False, "timeout")
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            result = DeliveryResult(delivery, None, False, f"{type(exc).__name__}: {exc}")
        else:
            status, text, content_type = response
            result = DeliveryResult(
                delivery, status, status in delivery.ok_statuses, text=text, content_type=content_type
            )
        self.results.append(result)
        return result

    @staticmethod
    def _post(connection: http.client.HTTPConnection, target: str, delivery: Delivery) -> tuple[int, str, str]:
        connection.request("POST", target, body=delivery.body, headers=delivery.headers)
        response = connection.getresponse()
        body = response.read()
        content_type = response.getheader("content-type", "")
        return response.status, body.decode(response.headers.get_content_charset() or "utf-8", "replace"), content_type

    def _connection(self, scheme: str, netloc: str, timeout: float) -> http.client.HTTPConnection:
        """This thread's keep-alive connection to `netloc`, with `timeout` for this request."""
        cache: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault("connections", {})
        connection = cache.get((scheme, netloc))
        if connection is None:
            factory = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            connection = cache[(scheme, netloc)] = factory(netloc, timeout=timeout)
            with self._lock:
                self._connections.append(connection)
        connection.timeout = timeout
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        return connection
