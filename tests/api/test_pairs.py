from __future__ import annotations

from datetime import timedelta

import pytest

from service.db.models import Pair
from tests.conftest import T0

PROBLEM = "application/problem+json"
OUTSIDERS = ["other_report", "boss", "member", "hr"]


async def ids(client, headers, **params) -> list[int]:
    r = await client.get("/v1/pairs", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return [p["id"] for p in r.json()["items"]]


async def test_each_caller_lists_only_the_pairs_they_may_see(client, factory):
    o = await factory.org()
    assert await ids(client, o.h["report"]) == [o.pair.id]
    assert await ids(client, o.h["manager"]) == [o.boss_pair.id, o.pair.id]  # report in one, manager in other
    assert await ids(client, o.h["boss"]) == [o.boss_pair.id]  # not the pairs of their reports' reports
    assert await ids(client, o.h["member"]) == []
    assert await ids(client, o.h["hr"]) == []
    assert await ids(client, o.h["admin"]) == [o.boss_pair.id, o.pair.id, o.other_pair.id]


async def test_list_filters(client, factory, sessions):
    o = await factory.org()
    old = await factory.pair(o.other_manager, o.report)  # a former reporting line
    async with sessions() as s:
        (await s.get(Pair, old.id)).active = False
        await s.commit()
    h = o.h["manager"]
    assert await ids(client, h, role="manager") == [o.pair.id]
    assert await ids(client, h, role="report") == [o.boss_pair.id]
    assert await ids(client, o.h["report"], active="false") == [old.id]
    assert await ids(client, o.h["report"], active="true") == [o.pair.id]
    assert await ids(client, o.h["admin"], manager_id=o.other_manager.id) == [o.other_pair.id, old.id]
    assert await ids(client, o.h["admin"], report_id=o.report.id, active="true") == [o.pair.id]
    # filters narrow the caller's own view; they never widen it
    assert await ids(client, o.h["member"], manager_id=o.manager.id) == []
    r = await client.get("/v1/pairs", headers=h, params={"role": "boss"})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["errors"][0]["field"] == "query.role"


async def test_pagination_walks_every_pair_once_in_id_order(client, factory):
    manager = await factory.person()
    expected = [(await factory.pair(manager, await factory.person())).id for _ in range(5)]
    h = await factory.token(manager)
    seen, cursor, pages = [], None, 0
    while True:
        r = await client.get("/v1/pairs", headers=h, params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        page = r.json()
        seen += [p["id"] for p in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == expected and pages == 3
    r = await client.get("/v1/pairs", headers=h, params={"cursor": "bm9wZQ"})  # base64 of "nope"
    assert r.status_code == 400 and r.headers["content-type"].startswith(PROBLEM)


async def test_get_pair_with_days_since_last_held(client, factory, clock):
    manager, report = await factory.person(), await factory.person()
    pair = await factory.pair(manager, report, last_held=T0 - timedelta(days=3, hours=5), cadence_days=7)
    h = await factory.token(report)
    body = (await client.get(f"/v1/pairs/{pair.id}", headers=h)).json()
    assert (body["manager_id"], body["report_id"], body["cadence_days"], body["days_since_last_held"]) == (
        manager.id,
        report.id,
        7,
        3,
    )
    clock.set(T0 + timedelta(days=10))  # computed from the injected clock
    assert (await client.get(f"/v1/pairs/{pair.id}", headers=h)).json()["days_since_last_held"] == 13
    never = await factory.pair(await factory.person(), report)
    assert (await client.get(f"/v1/pairs/{never.id}", headers=h)).json()["days_since_last_held"] is None
    listed = (await client.get("/v1/pairs", headers=h)).json()["items"]
    assert [p["days_since_last_held"] for p in listed] == [13, None]


@pytest.mark.parametrize("who", OUTSIDERS)
async def test_outsiders_get_404_for_a_pair(client, factory, who):
    o = await factory.org()
    for r in (
        await client.get(f"/v1/pairs/{o.pair.id}", headers=o.h[who]),
        await client.patch(f"/v1/pairs/{o.pair.id}", headers=o.h[who], json={"cadence_days": 7}),
    ):
        assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    r = await client.get(f"/v1/pairs/{o.pair.id}", headers=o.h["admin"])
    assert r.status_code == 200
    assert (await client.get("/v1/pairs/999999", headers=o.h["admin"])).status_code == 404


async def test_participants_and_admins_set_and_clear_the_cadence(client, factory, clock):
    o = await factory.org()
    url = f"/v1/pairs/{o.pair.id}"
    clock.set(T0 + timedelta(hours=1))
    r = await client.patch(url, headers=o.h["report"], json={"cadence_days": 14})
    assert r.status_code == 200, r.text
    assert r.json()["cadence_days"] == 14 and r.json()["updated_at"] == "2026-03-02T10:00:00Z"
    assert (await client.get(url, headers=o.h["manager"])).json()["cadence_days"] == 14
    r = await client.patch(url, headers=o.h["admin"], json={"cadence_days": 30})
    assert r.json()["cadence_days"] == 30
    r = await client.patch(url, headers=o.h["manager"], json={})  # nothing sent: nothing changes
    assert r.status_code == 200 and r.json()["cadence_days"] == 30
    r = await client.patch(url, headers=o.h["manager"], json={"cadence_days": None})
    assert r.status_code == 200 and r.json()["cadence_days"] is None
    assert (await client.get(url, headers=o.h["report"])).json()["cadence_days"] is None


@pytest.mark.parametrize(
    "body",
    [{"cadence_days": 0}, {"cadence_days": 366}, {"cadence_days": "weekly"}, {"cadence_days": 7, "cadence": "weekly"}],
)
async def test_invalid_cadence_is_422_and_changes_nothing(client, factory, body):
    o = await factory.org()
    await client.patch(f"/v1/pairs/{o.pair.id}", headers=o.h["report"], json={"cadence_days": 7})
    r = await client.patch(f"/v1/pairs/{o.pair.id}", headers=o.h["report"], json=body)
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["errors"] and r.json()["errors"][0]["field"].startswith("body.")
    assert (await client.get(f"/v1/pairs/{o.pair.id}", headers=o.h["report"])).json()["cadence_days"] == 7


async def test_pairs_need_authentication(client):
    assert (await client.get("/v1/pairs")).status_code == 401
    assert (await client.patch("/v1/pairs/1", json={"cadence_days": 7})).status_code == 401


async def test_current_streak_counts_held_1on1s_back_to_a_cancelled_or_declined_one(client, factory):
    manager, report = await factory.person(), await factory.person()
    pair = await factory.pair(manager, report)
    other = await factory.pair(await factory.person(), report)
    fresh = await factory.pair(await factory.person(), report)
    week = timedelta(days=7)
    history = ["held", "declined", "held", "cancelled", "held", "held", "held"]
    for i, status in enumerate(history):
        await factory.meeting(pair, start=T0 - (len(history) - i) * week, status=status)
    await factory.meeting(pair, start=T0 - timedelta(hours=2), status="scheduled")  # ended, not settled yet
    await factory.meeting(pair, start=T0 + week)  # upcoming
    await factory.meeting(pair, start=T0 + 2 * week, status="cancelled")  # future: no effect
    await factory.meeting(other, start=T0 - 2 * week, status="held")
    await factory.meeting(other, start=T0 - week, status="declined")
    h = await factory.token(report)
    assert (await client.get(f"/v1/pairs/{pair.id}", headers=h)).json()["current_streak"] == 3
    listed = (await client.get("/v1/pairs", headers=h)).json()["items"]
    assert [(p["id"], p["current_streak"]) for p in listed] == [(pair.id, 3), (other.id, 0), (fresh.id, 0)]
