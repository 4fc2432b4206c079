"""Hostile deliveries to the unauthenticated webhooks: a 4xx problem within
milliseconds, never a 500, never a stall of the rest of the service.

A body past the cap (1 MiB) is refused with 413 before more is read: from its
Content-Length, or counted as a chunked body streams in."""

from __future__ import annotations

import asyncio
import select
import socket
import time
from collections.abc import AsyncIterator

import pytest
import structlog
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from service.api.app import create_app
from service.sandbox.serve import LoopbackServer

PROBLEM = "application/problem+json"
MiB = 1 << 20
CAP = MiB  # webhooks.max_body_bytes' default
HUGE = 10 * 1_000_000  # the review's 10 MB body
FAST = 1.0  # seconds: a bound for any answer here on a busy 2-core machine
GRAPH_PATHS = ("/webhooks/microsoft", "/webhooks/microsoft/lifecycle")
PATHS = ("/webhooks/google", *GRAPH_PATHS)
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture(autouse=True)
def plain_structlog():
    """capture_logs only sees loggers not cached by an earlier in-process `configure()`."""
    structlog.reset_defaults()


async def post(client, path: str, content, headers=None):
    started = time.perf_counter()
    r = await client.post(path, content=content, headers={**JSON_HEADERS, **(headers or {})})
    return r, time.perf_counter() - started


def assert_problem(r, status: int, context: object = "") -> None:
    assert r.status_code == status, (context, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith(PROBLEM), context
    assert r.json()["status"] == status


def _counted(provider: str, outcome: str = "rejected") -> float:
    labels = {"provider": provider, "outcome": outcome}
    return REGISTRY.get_sample_value("oneonone_webhook_notifications_total", labels) or 0.0


class Junk:
    """An async body of `total` bytes in 64 KiB chunks, counting what the server pulled."""

    def __init__(self, total: int, byte: bytes = b"[") -> None:
        self.total, self.byte, self.pulled = total, byte, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            chunk = self.byte * min(64 * 1024, self.total - self.pulled)
            self.pulled += len(chunk)
            yield chunk


# -- size caps ------------------------------------------------------------------------------------


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("path", PATHS)
async def test_a_body_over_the_cap_is_413_before_it_is_read(client, path, declared):
    body = Junk(HUGE)
    headers = {"Content-Length": str(HUGE)} if declared else {}
    r, elapsed = await post(client, path, body, headers)
    assert_problem(r, 413, path)
    assert elapsed < FAST, elapsed
    # Declared: nothing read. Chunked: read until the count passes the cap.
    assert body.pulled == 0 if declared else CAP < body.pulled <= CAP + 64 * 1024, body.pulled


@pytest.mark.parametrize("path", PATHS)
async def test_a_body_over_the_cap_in_memory_is_413(client, path):
    r, elapsed = await post(client, path, b"x" * HUGE)  # one 10 MB chunk, with Content-Length
    assert_problem(r, 413, path)
    assert elapsed < FAST, elapsed


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("length", "status"), [("abc", 400), ("-1", 400), ("1e9", 400), ("9" * 5000, 413)])
async def test_a_bad_content_length_is_a_problem(client, path, length, status):
    r, elapsed = await post(client, path, Junk(10), {"Content-Length": length})
    assert_problem(r, status, (path, length[:10]))
    assert elapsed < FAST


# -- over the wire: uvicorn on loopback --------------------------------------------------------------


def _raw_post(port: int, path: str, *, total: int, chunked: bool) -> tuple[bytes, float, int]:
    """POST `total` junk bytes over a socket, declared or chunked, until the server
    answers; returns the answer's head, the seconds it took and the bytes sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
        started = time.perf_counter()
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n{framing}\r\n\r\n".encode()
        )
        piece, sent = b"[" * (64 * 1024), 0
        sock.settimeout(2)
        try:
            while sent < total and not select.select([sock], [], [], 0)[0]:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server answered and hung up, or stopped reading: the answer waits
        sock.settimeout(5)
        answer = sock.recv(4096)
        return answer, time.perf_counter() - started, sent


async def test_over_the_wire_a_body_over_the_cap_is_413(settings, clock):
    with LoopbackServer(create_app(settings, clock=clock), lifespan="on", name="webhooks") as server:
        for chunked in (False, True):
            for path in PATHS:
                answer, elapsed, sent = await asyncio.to_thread(
                    _raw_post, server.port, path, total=HUGE, chunked=chunked
                )
                assert answer.startswith(b"HTTP/1.1 413 "), (path, chunked, answer[:200])
                assert elapsed < FAST and sent < HUGE, (path, chunked, elapsed, sent)


async def test_a_sender_hanging_up_mid_body_costs_no_traceback(settings, clock):
    before = _counted("google", "invalid"), _counted("microsoft", "invalid")
    with (
        LoopbackServer(create_app(settings, clock=clock), lifespan="on", name="webhooks") as server,
        capture_logs() as logs,
    ):
        for path in PATHS:
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                sock.sendall(f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n{{}}".encode())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (
            _counted("google", "invalid") - before[0],
            _counted("microsoft", "invalid") - before[1],
        ) != (1, 2):
            await asyncio.sleep(0.01)
    assert (_counted("google", "invalid") - before[0], _counted("microsoft", "invalid") - before[1]) == (1, 2)
    assert not [e for e in logs if e["log_level"] in ("error", "critical")], logs
