"""Fault knobs shared by the fake Google and Graph servers, settable from tests.

Request faults (throttling, 5xx, slow answers) are consumed by the servers'
middleware, which renders each failure in its own provider's error shape.
Notification faults (duplicates, reordering, delivery to stopped channels) are
read by the notifier and by the channel/subscription registries.

A rule with `path_prefix=None` applies to API requests only (each server
declares its API prefix), so a throttled API does not also throttle the token
endpoint unless a test asks for it with `path_prefix="/"`; `target` limits a
rule to one fake ("google" or "graph") when both share this object."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass
class InjectedFailure:
    """One failing answer to serve instead of the real one."""

    status: int
    reason: str | None = None  # Google reason / Graph code override
    retry_after: int | None = None  # seconds, sent as Retry-After


@dataclass
class _Rule:
    remaining: int
    path_prefix: str | None
    target: str | None
    failure: InjectedFailure | None = None
    delay: float = 0.0

    def matches(self, target: str, path: str, api_prefix: str) -> bool:
        if self.target is not None and self.target != target:
            return False
        return path.startswith(self.path_prefix if self.path_prefix is not None else api_prefix)


@dataclass
class Faults:
    """All knobs; thread-safe (tests set them while servers run on other threads)."""

    duplicate_notifications: bool = False  # every notification is delivered twice
    reorder_seed: int | None = None  # set: pending notifications are shuffled with this seed
    reorder_rng: random.Random | None = field(default=None, repr=False)
    reorder_window: int | None = None  # auto delivery waits for this many before shuffling
    deliver_after_stop: bool = False  # stopped channels / deleted subscriptions still notified
    graph_gone_code: str = "syncStateNotFound"  # or "resyncRequired": the code a 410 from Graph carries
    served: int = 0  # injected failures answered so far (tests count provider calls with it)
    _rules: list[_Rule] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- request faults ----------------------------------------------------------
    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        *,
        reason: str | None = None,
        retry_after: int | None = None,
        path_prefix: str | None = None,
        target: str | None = None,
    ) -> None:
        """The next `n` matching requests answer `status` (429, 403, 500, 503…)."""
        with self._lock:
            self._rules.append(_Rule(n, path_prefix, target, InjectedFailure(status, reason, retry_after)))

    def throttle(
        self, n: int = 1, *, retry_after: int = 1, path_prefix: str | None = None, target: str | None = None
    ) -> None:
        """429 Too Many Requests with Retry-After."""
        self.fail_next(n, 429, retry_after=retry_after, path_prefix=path_prefix, target=target)

    def rate_limit(self, n: int = 1, *, reason: str = "rateLimitExceeded", path_prefix: str | None = None) -> None:
        """Google's 403 rateLimitExceeded / userRateLimitExceeded."""
        self.fail_next(n, 403, reason=reason, path_prefix=path_prefix, target="google")

    def delay(self, seconds: float, n: int = 1, *, path_prefix: str | None = None, target: str | None = None) -> None:
        """The next `n` matching requests are answered only after `seconds` (client timeouts)."""
        with self._lock:
            self._rules.append(_Rule(n, path_prefix, target, delay=seconds))

    def take(self, target: str, path: str, api_prefix: str) -> tuple[float, InjectedFailure | None]:
        """Consume the rules matching one request: (delay in seconds, failure or None)."""
        delay, failure = 0.0, None
        with self._lock:
            for rule in list(self._rules):
                if not rule.matches(target, path, api_prefix):
                    continue
                if rule.failure is not None and failure is not None:
                    continue  # one failure per request; the next request gets the next rule
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rules.remove(rule)
                if rule.failure is not None:
                    failure = rule.failure
                    self.served += 1
                else:
                    delay += rule.delay
        return delay, failure

    def pending_rules(self) -> int:
        with self._lock:
            return len(self._rules)

    # -- notification faults -------------------------------------------------------
    def reorder_notifications(self, seed: int, *, window: int | None = None) -> None:
        """Buffer notifications and deliver them shuffled: setting the same seed again
        replays the same sequence of permutations."""
        self.reorder_seed, self.reorder_window = seed, window
        self.reorder_rng = random.Random(seed)

    def reset(self) -> None:
        with self._lock:
            self._rules.clear()
        self.duplicate_notifications = False
        self.reorder_seed = self.reorder_window = self.reorder_rng = None
        self.deliver_after_stop = False
        self.graph_gone_code = "syncStateNotFound"


Render = Callable[[Request, InjectedFailure], Response]


class FaultMiddleware:
    """Pure ASGI middleware: applies the faults before the app sees the request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        faults: Faults,
        target: str,
        api_prefix: str,
        render: Render,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.app, self.faults, self.target, self.api_prefix, self.render = app, faults, target, api_prefix, render
        self._sleep = sleep

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        delay, failure = self.faults.take(self.target, scope["path"], self.api_prefix)
        if delay:
            await self._sleep(delay)
        if failure is None:
            await self.app(scope, receive, send)
            return
        response = self.render(Request(scope, receive), failure)
        if failure.retry_after is not None:
            response.headers["Retry-After"] = str(failure.retry_after)
        await response(scope, receive, send)
