"""When each cached access token runs out, on the injected clock.

google-auth and MSAL judge a cached token's expiry by the wall clock. When the
service's clock is not the wall clock (a replay or a test moving time on), the
provider rejects a token the library still thinks fresh, and every such call
costs a 401, a refresh and a retry. So each token's lifetime is noted on our
clock when it is first seen, and the adapters drop the token before a call once
that lifetime is (nearly) over. On the system clock this only repeats the
libraries' own check."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from datetime import datetime, timedelta

from service.clock import Clock

SKEW = timedelta(minutes=5)  # refresh a little early: clocks and transit differ


class TokenExpiry:
    """Per grant (any hashable key): the token last seen and when it expires.
    Thread-safe (MSAL runs in worker threads); LRU-bounded."""

    def __init__(self, clock: Clock, *, max_entries: int = 10_000) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._held: OrderedDict[Hashable, tuple[str, datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def stale(self, key: Hashable) -> bool:
        """The grant's current token is (nearly) expired on our clock: drop it before use."""
        with self._lock:
            held = self._held.get(key)
        return held is not None and self._clock.now() >= held[1] - SKEW

    def note(self, key: Hashable, token: str | None, lifetime_seconds: float) -> None:
        """After a call: a token not seen before lives `lifetime_seconds` from now."""
        if not token:
            return
        with self._lock:
            held = self._held.get(key)
            if held is None or held[0] != token:
                self._held[key] = (token, self._clock.now() + timedelta(seconds=max(0.0, lifetime_seconds)))
            self._held.move_to_end(key)
            while len(self._held) > self._max_entries:
                self._held.popitem(last=False)
