"""Per request: the request id, HTTP metrics and the access log, in one plain ASGI
middleware (BaseHTTPMiddleware would cost a task and a stream copy per request).

- `X-Request-ID`: the caller's if it is sane (1–128 of `A-Za-z0-9._:-`), else a new
  one; bound into structlog's context for every line of the request and echoed on
  every response, a 500 included.
- An unhandled exception is logged here, with the request id, and answered with a
  problem+json 500 carrying the header: Starlette's own handler sits outside every
  user middleware, where both would be lost.
- `oneonone_http_requests_total` / `oneonone_http_request_seconds` by route
  *template* (`/v1/meetings/{meeting_id}`, or `<unmatched>`), so a scan of random
  paths adds no series.
- One `request` line per request: request id, method, route template, status,
  duration in ms. Never the raw path, query string or headers (tokens travel in
  `Authorization`, OAuth codes and states in query strings). Probes and scrapes
  (`/healthz`, `/readyz`, `/metrics`) log at debug."""

from __future__ import annotations

import os
import re
from time import perf_counter

import structlog

from service.api.problems import internal_error
from service.metrics import HTTP_REQUESTS, HTTP_SECONDS

log = structlog.get_logger("service.access")
_SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_QUIET = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED = "<unmatched>"


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's `X-Request-ID` if sane, else a new random one (32 hex digits)."""
    for name, value in headers:
        if name == b"x-request-id":
            if _SANE_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return os.urandom(16).hex()


class RequestMiddleware:
    """`templates`: id(route) → the template it is served at, for routes included
    under a prefix (FastAPI hands the middleware the route as its router declared it)."""

    def __init__(self, app, templates: dict[int, str] | None = None) -> None:
        self.app = app
        self.templates = templates if templates is not None else {}
        # (method, route, status) → the metric children: `labels()` takes a lock and
        # builds a tuple per call; the set of keys is bounded (templates × statuses).
        self._series: dict[tuple[str, str, int], tuple] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = perf_counter()
        rid = request_id(scope["headers"])
        echoed = (b"x-request-id", rid.encode("ascii"))
        status = 0  # none sent yet

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=rid)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Rendered without locals (service.logging), and the database driver's
            # errors carry no bound parameters (dialect.create_engine: hide_parameters).
            log.exception("unhandled_error", method=scope["method"], route=self.route(scope))
            if status:  # the response had begun: nothing more can be sent
                raise
            await internal_error(scope["path"])(scope, receive, send_with_id)
        finally:
            self._done(scope, status or 500, perf_counter() - started)
            structlog.contextvars.reset_contextvars(**tokens)

    def route(self, scope) -> str:
        """The matched route's template, or `<unmatched>`: never the raw path."""
        route = scope.get("route")
        if route is None:
            return UNMATCHED
        return self.templates.get(id(route)) or getattr(route, "path", None) or UNMATCHED

    def _done(self, scope, status: int, seconds: float) -> None:
        method = scope["method"]
        if method not in _METHODS:
            method = "OTHER"
        route = self.route(scope)
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                HTTP_REQUESTS.labels(method, route, str(status)),
                HTTP_SECONDS.labels(method, route),
            )
        series[0].inc()
        series[1].observe(seconds)
        emit = log.debug if route in _QUIET else log.info
        emit("request", method=method, route=route, status=status, duration_ms=round(seconds * 1000, 2))
