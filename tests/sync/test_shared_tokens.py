"""service.sync.grants.SharedTokens: access tokens the worker processes share (both databases)."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import REGISTRY
from sqlalchemy import select

from service.clock import FixedClock
from service.db.models import AccessToken
from service.security.crypto import Vault, generate_key
from service.sync.grants import SharedTokens
from tests.conftest import T0


def counted() -> dict[str, float]:
    return {
        outcome: REGISTRY.get_sample_value("oneonone_shared_tokens_total", {"outcome": outcome}) or 0.0
        for outcome in ("hit", "miss", "stored")
    }


async def test_a_token_is_kept_encrypted_until_it_expires(sessions):
    clock, vault = FixedClock(T0), Vault(generate_key())
    writer, reader = SharedTokens(sessions, vault, clock), SharedTokens(sessions, vault, clock)
    before = counted()
    await writer.put("k1", "ya29.first", T0 + timedelta(hours=1))
    assert await reader.get("k1") == ("ya29.first", T0 + timedelta(hours=1))
    assert await reader.get("k2") is None
    after = counted()
    assert {k: after[k] - before[k] for k in after} == {"hit": 1, "miss": 1, "stored": 1}  # ops see it work
    async with sessions() as session:
        stored = (await session.scalars(select(AccessToken.token_encrypted))).all()
    assert stored and "ya29" not in "".join(stored)  # never in clear at rest

    await writer.put("k1", "ya29.second", T0 + timedelta(hours=2))  # a newer one replaces it
    assert await reader.get("k1") == ("ya29.second", T0 + timedelta(hours=2))

    clock.set(T0 + timedelta(hours=2))
    assert await reader.get("k1") is None  # expired: the caller mints


async def test_expired_tokens_are_dropped_and_unreadable_ones_are_misses(sessions):
    clock = FixedClock(T0)
    tokens = SharedTokens(sessions, Vault(generate_key()), clock)
    await tokens.put("old", "ya29.old", T0 + timedelta(minutes=30))
    clock.set(T0 + timedelta(hours=1))
    await tokens.put("new", "ya29.new", T0 + timedelta(hours=2))
    async with sessions() as session:
        assert (await session.scalars(select(AccessToken.key))).all() == ["new"]

    rekeyed = SharedTokens(sessions, Vault(generate_key()), clock)  # the secret key was replaced
    assert await rekeyed.get("new") is None
