"""A tiny webhook receiver for the fake providers' push deliveries, served on loopback.

Every POST is recorded. Answers depend on the path:
- `/google…`: 200 (Google accepts any 2xx);
- `/graph…`: Graph's validation handshake is echoed (200 text/plain, the
  decoded token); notifications get 202;
- `/graph-noecho…`: the handshake gets 200 with the wrong body;
- `/graph-200…`: notifications get 200 instead of 202;
- `/slow…`: answers after `slow_seconds`."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from service.sandbox.serve import LoopbackServer


@dataclass(frozen=True)
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.slow_seconds = 1.0
        self._lock = threading.Lock()
        self.server = LoopbackServer(
            Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])]), name="receiver"
        )

    def url(self, path: str) -> str:
        return f"{self.server.base_url}{path}"

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    async def _handle(self, request: Request) -> Response:
        path = request.url.path
        received = Received(
            path, dict(request.query_params), {k.lower(): v for k, v in request.headers.items()}, await request.body()
        )
        with self._lock:
            self.requests.append(received)
        if path.startswith("/slow"):
            await asyncio.sleep(self.slow_seconds)
        token = request.query_params.get("validationToken")
        if token is not None:
            if path.startswith("/graph-noecho"):
                return PlainTextResponse("ok")
            return PlainTextResponse(token)
        if path.startswith("/graph-200"):
            return Response(status_code=200)
        if path.startswith("/graph"):
            return Response(status_code=202)
        return Response(status_code=200)
