"""A short-lived in-process cache of authenticated API tokens.

Authentication is a database round trip on every request; caching the resolved
principal for a few seconds removes it from the hot path. The price, by design:
a token revoked (or a role changed) by *another* process takes effect within
`ttl` seconds here. What this process changes itself takes effect at once:
`forget` drops the entries and, for `ttl` seconds, keeps them from being cached
again (a request racing the change's commit may still see the old row once, but
cannot cache it). `ttl = 0` disables the cache. Keys are token hashes, never
tokens."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable

from service.domain.access import Principal


class PrincipalCache:
    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        # token hashes and person ids not to cache again before the time given
        self._blocked: dict[str | int, float] = {}

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
        if self.ttl <= 0 or self._is_blocked(token_hash) or self._is_blocked(principal.person_id):
            return
        self._entries[token_hash] = (time.monotonic() + self.ttl, principal)
        self._entries.move_to_end(token_hash)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, *, token_hashes: Iterable[str] = (), person_ids: Iterable[int] = ()) -> None:
        """This process revoked these tokens, or changed these people (their role)."""
        if self.ttl <= 0:
            return
        until = time.monotonic() + self.ttl
        hashes, people = tuple(token_hashes), set(person_ids)
        for key in (*hashes, *people):
            self._blocked[key] = until
        for token_hash in hashes:
            self._entries.pop(token_hash, None)
        if people:
            for token_hash, (_expiry, principal) in list(self._entries.items()):
                if principal.person_id in people:
                    del self._entries[token_hash]
        self._blocked = {k: v for k, v in self._blocked.items() if v >= time.monotonic()}

    def _is_blocked(self, key: str | int) -> bool:
        until = self._blocked.get(key)
        return until is not None and until >= time.monotonic()
