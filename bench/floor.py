"""The floor both latency benches measure against: a bare webhook that marks the
calendar dirty with one UPDATE over asyncpg (bench/latency.py, bench/events.py)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def bare_webhook_app(dsn: str) -> Starlette:
    """Served on its own thread and loop (LoopbackServer): its pool is opened there."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette):
        state["pool"] = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        yield
        await state["pool"].close()

    async def notified(request: Request) -> Response:
        await request.body()
        await state["pool"].execute(
            "UPDATE bench_floor_calendars SET dirty = true WHERE channel_id = $1",
            request.headers.get("x-goog-channel-id", ""),
        )
        return Response(status_code=200)

    return Starlette(routes=[Route("/webhooks/google", notified, methods=["POST"])], lifespan=lifespan)
