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


def test_forgotten_tokens_and_people_are_not_cached_again_within_the_ttl():
    cache = PrincipalCache(ttl=60)
    other = Principal(person_id=2, email="li@acme.test", role="member")
    cache.put("h", P)
    cache.put("k", other)
    cache.forget(token_hashes=["h"])
    assert cache.get("h") is None and cache.get("k") == other
    cache.put("h", P)  # a request that raced the revocation's commit
    assert cache.get("h") is None
    cache.forget(person_ids=[2])
    cache.put("k2", other)
    assert cache.get("k") is None and cache.get("k2") is None


async def test_a_revocation_takes_effect_at_once_here_and_within_the_ttl_elsewhere(settings, engine, clock, factory):
    import httpx

    from service.api.app import create_app

    cached = settings.model_copy(update={"auth_cache_seconds": 0.3})
    here, elsewhere = (create_app(cached, engine=engine, clock=clock) for _ in range(2))
    person = await factory.person()
    headers = await factory.token(person)

    def client(app):
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")

    async with client(here) as a, client(elsewhere) as b:
        assert (await a.get("/v1/me", headers=headers)).status_code == 200
        assert (await b.get("/v1/me", headers=headers)).status_code == 200
        [token] = (await a.get("/v1/me/tokens", headers=headers)).json()
        assert set(token) == {"id", "name", "prefix", "created_at", "revoked_at"} and token["revoked_at"] is None
        assert (await a.delete(f"/v1/me/tokens/{token['id']}", headers=headers)).status_code == 204
        assert (await a.get("/v1/me", headers=headers)).status_code == 401  # at once, in this process
        assert (await b.get("/v1/me", headers=headers)).status_code == 200  # another process: cached
        time.sleep(0.35)
        assert (await b.get("/v1/me", headers=headers)).status_code == 401


async def test_only_ones_own_tokens_can_be_revoked(client, factory):
    maya, li = await factory.person(), await factory.person()
    maya_h, li_h = await factory.token(maya), await factory.token(li)
    [li_token] = (await client.get("/v1/me/tokens", headers=li_h)).json()
    assert (await client.delete(f"/v1/me/tokens/{li_token['id']}", headers=maya_h)).status_code == 404
    assert (await client.get("/v1/me", headers=li_h)).status_code == 200


async def test_a_role_change_takes_effect_at_once_in_this_process(settings, engine, clock, factory):
    import httpx

    from service.api.app import create_app

    app = create_app(settings.model_copy(update={"auth_cache_seconds": 60}), engine=engine, clock=clock)
    admin, boss = await factory.person(role="admin"), await factory.person(role="admin")
    h = await factory.token(admin)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/v1/insights/org", headers=h)).status_code == 200  # cached as an admin
        demote = {"people": [{"email": admin.email, "name": admin.name, "role": "member"}]}
        assert (await c.post("/v1/people:import", json=demote, headers=await factory.token(boss))).status_code == 200
        assert (await c.get("/v1/insights/org", headers=h)).status_code == 403
