"""A webhook receiver on loopback for the delivery tests: it records every POST and
answers from a script (status, headers, delay), then 200 once the script runs out."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.sandbox.serve import LoopbackServer


@dataclass(frozen=True)
class Hit:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def event(self) -> dict:
        return orjson.loads(self.body)


@dataclass
class Step:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    pair: int | None = None  # only for an event of this pair (data.pair_id); None: any


class HookReceiver:
    def __init__(self, port: int = 0) -> None:
        self.hits: list[Hit] = []  # answered, in the order answered
        self.arrived: list[str] = []  # the event id of every request, as it arrives (before any delay)
        self.script: list[Step] = []
        self._lock = threading.Lock()
        self.server = LoopbackServer(
            Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])]), port=port
        )

    def start(self) -> HookReceiver:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return f"{self.server.base_url}/hooks"

    def delivered(self) -> list[str]:
        """The event ids answered 2xx, in the order they arrived."""
        with self._lock:
            return [h.event["id"] for h in self.hits if 200 <= h.status < 300]

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        event = orjson.loads(body)
        pair = event.get("data", {}).get("pair_id")
        with self._lock:
            self.arrived.append(event.get("id"))
            i = next((i for i, s in enumerate(self.script) if s.pair in (None, pair)), None)
            step = self.script.pop(i) if i is not None else Step()
        if step.delay:
            await asyncio.sleep(step.delay)
        with self._lock:
            self.hits.append(Hit({k.lower(): v for k, v in request.headers.items()}, body, step.status))
        return Response(b"nope" * 10_000 if step.status >= 500 else b"ok", step.status, headers=step.headers)
