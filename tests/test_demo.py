"""`oneonone demo`: a usable org with 1:1 content, idempotent, with a working token."""
from __future__ import annotations

from sqlalchemy import func, select

from service import demo
from service.db.models import AgendaItem, ApiToken, Meeting, Person


async def _count(session, model) -> int:
    return await session.scalar(select(func.count()).select_from(model))


async def test_demo_loads_once_and_prints_a_working_token(sessions, client, clock):
    async with sessions() as s:
        first = await demo.load(s, clock.now())
        await s.commit()
    async with sessions() as s:
        counts = [await _count(s, m) for m in (Person, Meeting, AgendaItem)]
        second = await demo.load(s, clock.now())
        await s.commit()
    async with sessions() as s:
        assert [await _count(s, m) for m in (Person, Meeting, AgendaItem)] == counts
        revoked = await s.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.revoked_at.is_not(None)))
    assert first.created and not second.created and revoked == 1
    assert counts[0] == len(demo.ORG) and counts[1] == 12
    h = {"Authorization": f"Bearer {second.token}"}
    assert (await client.get("/v1/me", headers=h)).json()["email"] == demo.DEMO_MANAGER
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {first.token}"})).status_code == 401
    pairs = (await client.get("/v1/pairs", headers=h, params={"role": "manager"})).json()["items"]
    assert len(pairs) == 3
    meetings = (await client.get(f"/v1/pairs/{pairs[0]['id']}/meetings", headers=h)).json()["items"]
    detail = (await client.get(f"/v1/meetings/{meetings[-1]['id']}", headers=h)).json()
    # The report's talking points come first; the manager sees their own private point.
    assert detail["agenda"][0]["author_id"] == pairs[0]["report_id"]
    assert any(item["private"] for item in detail["agenda"])
