"""Serve an ASGI app on a free loopback port from a background thread.

The fakes must run on their own thread and event loop: the Google client is
synchronous (httplib2), so a test calling it from the thread that would also
run the server would deadlock. The socket is bound before the thread starts,
so `base_url` is known (and stable) as soon as the object exists."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from typing import Any

import uvicorn


class _Server(uvicorn.Server):
    """uvicorn looks at `should_exit` on a 0.1 s tick; here `stop()`, from another thread,
    wakes the loop at once (tests and replays stop thousands of servers). The tick's own
    work (the Date header) still runs once a second."""

    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._woken = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        while not await self.on_tick(counter):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), 1.0)
            counter += 10  # on_tick refreshes the Date header when counter % 10 == 0

    def wake(self) -> None:
        """After `should_exit` is set: a loop not running yet sees it on its first tick."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._woken.set)


class LoopbackServer:
    """`LoopbackServer(app).start()` → serving at `base_url` until `stop()`."""

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "sandbox",
        lifespan: str = "off",
        sock: socket.socket | None = None,
    ) -> None:
        """`sock`: a bound socket to serve on instead (closed by `stop`); hand over a
        `dup()` to keep the address listening after this server stops, so that another
        server can take it over with no gap (the live sandbox's webhooks)."""
        self.app = app
        self.name = name
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        self._sock = sock
        self.host, self.port = self._sock.getsockname()[:2]
        # lifespan="on" lets an app open its own resources (a database engine) on
        # this server's event loop: async connections must not cross loops.
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan=lifespan,
            timeout_graceful_shutdown=1,
            timeout_keep_alive=30,
        )
        self._server = _Server(config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> LoopbackServer:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=f"{self.name}-server", daemon=True
        )
        self._thread.start()
        # Startup is infrastructure, not domain time: a monotonic deadline is fine here.
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} server did not start")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        stop_all([self], timeout)

    def _ask_to_stop(self) -> None:
        if self._thread is not None:
            self._server.should_exit = True
            self._server.wake()

    def _stopped(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._sock.close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_all(servers: list[LoopbackServer], timeout: float = 5.0) -> None:
    """Stop these servers side by side: each one's shutdown pauses 0.1 s (uvicorn's
    grace for open connections), once for all of them here."""
    for server in servers:
        server._ask_to_stop()
    for server in servers:
        server._stopped(timeout)
