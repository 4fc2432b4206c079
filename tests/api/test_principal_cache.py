from __future__ import annotations

import time

from service.api.principal_cache import PrincipalCache
from service.domain.access import Principal

P = Principal(person_id=1, email="maya@acme.test", role="member")


def test_entries_expire_after_ttl():
    cache = PrincipalCache(ttl=0.05)
    cache.put("h", P)
    assert cache.get("h") == P
    time.sleep(0.06)
    assert cache.get("h") is None


def test_zero_ttl_disables_and_size_is_bounded():
    off = PrincipalCache(ttl=0)
    off.put("h", P)
    assert off.get("h") is None
    small = PrincipalCache(ttl=60, max_entries=2)
    for key in ("a", "b", "c"):
        small.put(key, P)
    assert small.get("a") is None and small.get("c") == P


async def test_revocation_takes_effect_after_the_cache_ttl(settings, engine, clock, factory):
    """With the cache on, a revoked token keeps working for at most the TTL."""
    import httpx
    from sqlalchemy import update

    from service.api.app import create_app
    from service.db.models import ApiToken

    app = create_app(settings.model_copy(update={"auth_cache_seconds": 0.2}), engine=engine, clock=clock)
    person = await factory.person()
    headers = await factory.token(person)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/v1/me", headers=headers)).status_code == 200
        async with factory.sessions() as s:
            await s.execute(update(ApiToken).values(revoked_at=clock.now()))
            await s.commit()
        assert (await client.get("/v1/me", headers=headers)).status_code == 200  # cached
        time.sleep(0.25)
        assert (await client.get("/v1/me", headers=headers)).status_code == 401
