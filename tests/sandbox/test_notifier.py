"""The fakes' notifier: deliveries over kept-alive HTTP connections on threads of
its own, in order, with timeouts, and a lane of their own for Graph's handshake."""

from __future__ import annotations

import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from service.sandbox.notifier import AUTO_LANES, Delivery, Notifier
from tests.sandbox.receiver import Receiver


class _HangsUp(BaseHTTPRequestHandler):
    """Answers as if the connection stayed open (HTTP/1.1, no `Connection: close`),
    then closes it: the next request on that connection finds it gone."""

    protocol_version = "HTTP/1.1"
    seen: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).seen.append(self.path)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver():
    receiver = Receiver()
    receiver.server.start()
    yield receiver
    receiver.server.stop()


@pytest.fixture
def notifier():
    notifier = Notifier()
    yield notifier
    notifier.close()


def test_deliveries_keep_their_order_and_reach_a_receiver_that_hangs_up_kept_alive_connections(notifier) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HangsUp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        _HangsUp.seen = []
        for n in range(3):
            notifier.enqueue(Delivery("google", f"{base}/hook/{n}", "channel-1"))
        results = notifier.flush_sync()
        notifier.enqueue(Delivery("google", f"{base}/hook/3", "channel-1"))
        results += notifier.flush_sync()
    finally:
        server.shutdown()
        server.server_close()
    assert [(r.status, r.ok) for r in results] == [(200, True)] * 4
    assert _HangsUp.seen == ["/hook/0", "/hook/1", "/hook/2", "/hook/3"]  # each once, in order


def test_an_answer_past_the_timeout_is_a_timeout_and_not_taken_for_the_next_answer(notifier, receiver) -> None:
    receiver.slow_seconds = 0.5
    notifier.enqueue(Delivery("graph", receiver.url("/slow/hook"), "sub-1", timeout=0.1))
    notifier.enqueue(Delivery("graph", receiver.url("/graph/hook"), "sub-1"))
    late, next_one = notifier.flush_sync()
    assert (late.status, late.ok, late.error) == (None, False, "timeout")
    assert (next_one.status, next_one.ok) == (202, True)


async def test_a_validation_handshake_does_not_wait_behind_a_drain(notifier, receiver) -> None:
    receiver.slow_seconds = 1.5
    notifier.enqueue(Delivery("graph", receiver.url("/slow/hook"), "sub-1"))
    started = time.monotonic()
    waiting = threading.Thread(target=notifier.flush_sync)  # the drain, beside the handshake
    waiting.start()
    try:
        handshake = await notifier.send_now(
            Delivery(
                "graph-validation", receiver.url("/graph/hook?validationToken=abc"), "", ok_statuses=frozenset({200})
            )
        )
        answered_after = time.monotonic() - started
        assert waiting.is_alive()  # the drain is still waiting for the slow receiver
    finally:
        waiting.join()
    assert (handshake.status, handshake.text) == (200, "abc")
    assert answered_after < receiver.slow_seconds


def test_auto_mode_pushes_channels_side_by_side_each_in_order(receiver) -> None:
    """As the providers push: a slow receiver of one channel holds up that channel's
    notifications only; each channel's arrive in the order they were sent."""
    receiver.slow_seconds = 1.0
    notifier = Notifier(auto=True)
    try:
        started = time.monotonic()
        notifier.enqueue(Delivery("graph", receiver.url("/slow/hook"), "sub-slow"))
        fast = [c for c in (f"sub-{n}" for n in range(12)) if _lane(c) != _lane("sub-slow")]  # some share a lane
        for n in range(3):
            for channel in fast:
                notifier.enqueue(Delivery("google", receiver.url(f"/google/hook?c={channel}&n={n}"), channel))
        deadline = time.monotonic() + receiver.slow_seconds / 2
        while time.monotonic() < deadline and len(notifier.results) < 3 * len(fast):
            time.sleep(0.01)
        delivered = [r.delivery.url for r in notifier.results]
        assert len(delivered) == 3 * len(fast) and time.monotonic() - started < receiver.slow_seconds
        for channel in fast:  # in order per channel
            assert [u for u in delivered if f"c={channel}&" in u] == [
                receiver.url(f"/google/hook?c={channel}&n={n}") for n in range(3)
            ]
        notifier.flush_sync()  # waits for the slow one too
        assert len(notifier.results) == 3 * len(fast) + 1
    finally:
        notifier.close()


def _lane(channel: str) -> int:
    return zlib.crc32(channel.encode()) % AUTO_LANES
