"""A short-lived in-process cache of authenticated API tokens.

Authentication is a database round trip on every request; caching the resolved
principal for a few seconds removes it from the hot path. The price, by design:
a revoked token (or a changed role) takes effect within `ttl` seconds on each API
process. `ttl = 0` disables the cache. Keys are token hashes, never tokens."""

from __future__ import annotations

import time
from collections import OrderedDict

from service.domain.access import Principal


class PrincipalCache:
    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    def get(self, token_hash: str) -> Principal | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(token_hash)
        # Monotonic process time, not the injected clock: this is about wall seconds
        # of staleness, and a replay's clock may jump by weeks.
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, token_hash: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        self._entries[token_hash] = (time.monotonic() + self.ttl, principal)
        self._entries.move_to_end(token_hash)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
