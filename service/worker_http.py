"""`oneonone worker`'s HTTP listener, for probes and Prometheus: a tiny Starlette app
under uvicorn's Server, in the worker's own event loop.

- `GET /healthz`: the process is up (200).
- `GET /readyz`: 200 when the database answers with its schema at head (the API's
  check: service.db.health) and the worker loop is alive: running, not stopping, and
  gone round within `stale_after` seconds; else 503 saying why.
- `GET /metrics`: the process's Prometheus metrics (syncs, leases, findings…).

The worker owns SIGTERM/SIGINT (it finishes the calendar in hand first), so the
server installs no signal handlers; it stops when the worker has."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.db import health as db_health

PROBLEM = "application/problem+json"


def probe_app(engine: AsyncEngine, loop_not_ready: Callable[[], str | None]) -> Starlette:
    """`loop_not_ready`: None while the worker loop is alive, else why not."""

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        reason = loop_not_ready() or await db_health.not_ready(engine)
        if reason is None:
            return JSONResponse({"status": "ok"})
        body = {
            "type": "https://oneonone.dev/problems/not-ready",
            "title": "Service Unavailable",
            "status": 503,
            "detail": reason,
            "instance": request.url.path,
        }
        return JSONResponse(body, status_code=503, media_type=PROBLEM)

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)],
    )


class LoopWatch:
    """Readiness of a worker loop (`service.sync.worker.SyncWorker.run`) running in
    `task` (set once started): None while alive, else why not."""

    def __init__(self, worker, stale_after: float) -> None:
        self.worker = worker
        self.stale_after = stale_after
        self.task: asyncio.Task | None = None

    def __call__(self) -> str | None:
        if self.task is None or self.worker.beat is None:
            return "worker loop not started"
        if self.task.done():
            return "worker loop ended"
        if self.worker.stopping.is_set():
            return "worker stopping"
        if asyncio.get_running_loop().time() - self.worker.beat > self.stale_after:
            return f"worker loop stuck for over {self.stale_after:g} s"
        return None


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:  # the worker handles the signals
        yield


class ProbeServer:
    """`await start()`, then `await stop()`. Raises SystemExit (uvicorn's) when the
    address cannot be bound: a misconfigured port fails the worker at once."""

    def __init__(self, app: Starlette, host: str, port: int, log_level: str) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            log_config=None,  # through service.logging's handler
            log_level=log_level.lower(),
            access_log=False,  # probes every few seconds: no line each
        )
        self.server = _Server(config)
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.serve(), name="oneonone-worker-http")
        while not self.server.started:
            if self.task.done():
                self.task.result()  # its exception (SystemExit on a bind failure)
                raise RuntimeError("worker HTTP listener ended before it started")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self.task is None:
            return
        self.server.should_exit = True
        await self.task
