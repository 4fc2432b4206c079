from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, update

from service.db.models import Pair
from service.domain.insights import (
    Group,
    Tally,
    held_gaps,
    pooled,
    rate,
    summarize,
    suppress,
    window,
)
from service.errors import ValidationFailed
from tests.conftest import T0

PROBLEM = "application/problem+json"
DAY = timedelta(days=1)


# --- pure arithmetic ---------------------------------------------------------


def test_rate_is_null_without_denominator():
    assert rate(0, 0) is None and rate(3, 0) is None
    assert rate(0, 4) == 0.0 and rate(1, 4) == 0.25


def test_held_gaps_need_two_held_meetings():
    assert held_gaps(0, None, None) == (0.0, 0)
    assert held_gaps(1, T0, T0) == (0.0, 0)
    assert held_gaps(2, T0, T0 + 7 * DAY) == (7.0, 1)
    assert held_gaps(3, T0, T0 + 21 * DAY) == (21.0, 2)  # average 10.5 days


def test_summarize_empty_tally_is_all_null():
    m = summarize(Tally())
    assert (m.held_rate, m.cancellation_rate, m.avg_days_between_held, m.action_item_completion_rate) == (
        None,
        None,
        None,
        None,
    )
    assert m.counts.held == 0


def test_summarize_pools_tallies():
    t = pooled(
        [
            Tally(held=3, cancelled=1, declined=1, gap_days=21.0, gaps=2, actions_raised=4, actions_done=1),
            Tally(held=1, gap_days=0.0, gaps=0),
        ]
    )
    m = summarize(t)
    assert m.held_rate == pytest.approx(4 / 6) and m.cancellation_rate == pytest.approx(1 / 6)
    assert m.avg_days_between_held == 10.5
    assert m.action_item_completion_rate == 0.25


def test_window_defaults_and_bounds():
    assert window(T0) == window(T0, T0 - 90 * DAY, T0)
    w = window(T0, end=T0 - 10 * DAY)
    assert (w.start, w.end) == (T0 - 100 * DAY, T0 - 10 * DAY)
    assert window(T0, start=T0 - DAY).end == T0
    for start, end in [(T0, T0), (T0, T0 - DAY)]:
        with pytest.raises(ValidationFailed):
            window(T0, start, end)
    with pytest.raises(ValidationFailed):  # `from` in the future, `to` defaulting to now
        window(T0, start=T0 + DAY)


def _g(manager_id: int, people: int, held: int = 1) -> Group:
    return Group(manager_id, f"M{manager_id}", people, Tally(held=held))


@pytest.mark.parametrize("people, visible", [(4, False), (5, True)])
def test_suppression_threshold_is_five_people(people, visible):
    result = suppress([_g(1, people)])
    assert [g.manager_id for g in result.visible] == ([1] if visible else [])
    assert result.suppressed_groups == (0 if visible else 1)
    assert result.total_people == (people if visible else None)
    assert (result.total is not None) is visible


def test_org_total_withheld_when_subtraction_reveals_a_small_team():
    result = suppress([_g(1, 5, held=5), _g(2, 4, held=1)])
    assert [g.manager_id for g in result.visible] == [1] and result.suppressed_groups == 1
    assert result.total is None and result.total_people is None


def test_org_total_shown_when_suppressed_teams_together_reach_five():
    result = suppress([_g(1, 5), _g(2, 3), _g(3, 3)])
    assert result.suppressed_groups == 2 and result.total_people == 11 and result.total.held == 3
    only_small = suppress([_g(1, 2), _g(2, 3)])
    assert only_small.visible == [] and only_small.total_people == 5


# --- API -----------------------------------------------------------------------


async def _pair(factory, manager=None, report=None, **kw):
    manager = manager or await factory.person()
    report = report or await factory.person(manager=manager)
    return manager, report, await factory.pair(manager, report, **kw)


async def _held(factory, pair, *days_ago: int, status: str = "held"):
    return [await factory.meeting(pair, start=T0 - d * DAY, status=status) for d in days_ago]


async def test_pair_insights_metrics(client, factory, clock):
    manager, report, pair = await _pair(factory)
    h = await factory.token(manager)
    held = await _held(factory, pair, 28, 21, 7)
    await _held(factory, pair, 14, status="cancelled")
    await _held(factory, pair, 10, status="declined")
    await _held(factory, pair, 1, status="scheduled")  # not an outcome
    await factory.meeting(pair, start=T0 + DAY, status="held")  # in the future: not counted
    old = (await _held(factory, pair, 100))[0]  # before the default 90 days
    await factory.feedback(held[2], manager, rating=4)
    await factory.feedback(held[2], report, rating=2)
    await factory.feedback(old, manager, rating=5)
    clock.set(T0 - 30 * DAY)
    await factory.action_item(pair, report, done_at=T0 - 20 * DAY)
    await factory.action_item(pair, report)
    clock.set(T0 - 200 * DAY)
    await factory.action_item(pair, report, done_at=T0 - 150 * DAY)  # raised before the range
    clock.set(T0)
    await factory.action_item(pair, manager)  # raised just now: `to` is inclusive

    r = await client.get(f"/v1/insights/pairs/{pair.id}", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["range"] == {"from": "2025-12-02T09:00:00Z", "to": "2026-03-02T09:00:00Z"}
    assert (body["pair_id"], body["manager_id"], body["report_id"]) == (pair.id, manager.id, report.id)
    m = body["metrics"]
    assert m["counts"] == {
        "held": 3,
        "cancelled": 1,
        "declined": 1,
        "action_items_raised": 3,
        "action_items_done": 1,
    }
    assert m["held_rate"] == pytest.approx(0.6) and m["cancellation_rate"] == pytest.approx(0.2)
    assert m["avg_days_between_held"] == pytest.approx(10.5)
    assert m["action_item_completion_rate"] == pytest.approx(1 / 3)
    assert "average_rating" not in m and body["own_average_rating"] == 4.0  # the 5 is out of range

    r = await client.get(
        f"/v1/insights/pairs/{pair.id}",
        headers=h,
        params={"from": (T0 - 22 * DAY).isoformat(), "to": (T0 - 8 * DAY).isoformat()},
    )
    m = r.json()["metrics"]
    assert m["counts"]["held"] == 1 and m["counts"]["cancelled"] == 1 and m["counts"]["declined"] == 1
    assert m["avg_days_between_held"] is None and r.json()["own_average_rating"] is None
    assert m["held_rate"] == pytest.approx(1 / 3) and m["action_item_completion_rate"] is None


async def test_pair_insights_empty_range_is_null(client, factory):
    manager, _report, pair = await _pair(factory)
    r = await client.get(f"/v1/insights/pairs/{pair.id}", headers=await factory.token(manager))
    m = r.json()["metrics"]
    assert {k for k, v in m.items() if v is None} == {
        "held_rate",
        "cancellation_rate",
        "avg_days_between_held",
        "action_item_completion_rate",
    }
    assert r.json()["own_average_rating"] is None
    assert set(m["counts"].values()) == {0}


async def test_pair_insights_visible_to_participants_and_admins_only(client, factory):
    boss = await factory.person()
    manager, report, pair = await _pair(factory, manager=await factory.person(manager=boss))
    admin, hr, other = (await factory.person(role="admin"), await factory.person(role="hr"), await factory.person())
    for who, status in [(manager, 200), (report, 200), (admin, 200), (boss, 404), (hr, 404), (other, 404)]:
        r = await client.get(f"/v1/insights/pairs/{pair.id}", headers=await factory.token(who))
        assert r.status_code == status, (who.email, r.text)
    r = await client.get("/v1/insights/pairs/999999", headers=await factory.token(admin))
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    assert (await client.get(f"/v1/insights/pairs/{pair.id}")).status_code == 401


async def test_range_validation(client, factory):
    manager, _report, pair = await _pair(factory)
    h = await factory.token(manager)
    url = f"/v1/insights/pairs/{pair.id}"
    for params in [
        {"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
        {"from": "2026-03-01T00:00:00Z", "to": "2026-02-01T00:00:00+01:00"},
        {"from": "2026-04-01T00:00:00Z"},  # `to` defaults to now
        {"from": "2026-03-01T00:00:00"},  # no offset
        {"to": "yesterday"},
    ]:
        r = await client.get(url, headers=h, params=params)
        assert r.status_code == 422, params
        assert r.headers["content-type"].startswith(PROBLEM) and r.json()["errors"], params
    r = await client.get(url, headers=h, params={"from": "2026-01-01T10:00:00+01:00"})
    assert r.status_code == 200 and r.json()["range"]["from"] == "2026-01-01T09:00:00Z"


async def test_manager_insights_pool_active_pairs(client, factory, sessions):
    grand = await factory.person()
    director = await factory.person(manager=grand)
    manager = await factory.person(manager=director)
    _m, r1, p1 = await _pair(factory, manager=manager)
    _m, r2, p2 = await _pair(factory, manager=manager)
    _m, _r3, p3 = await _pair(factory, manager=manager)
    async with sessions() as s:  # a former report: the pair is kept, inactive
        await s.execute(update(Pair).where(Pair.id == p3.id).values(active=False))
        await s.commit()
    await _held(factory, p1, 28, 14)
    await _held(factory, p1, 21, status="cancelled")
    await _held(factory, p2, 20, 15, 10)
    await _held(factory, p3, 5, 3)
    m1 = await factory.meeting(p1, start=T0 - 2 * DAY, status="held")
    await factory.feedback(m1, r1, rating=5)

    r = await client.get(f"/v1/insights/managers/{manager.id}", headers=await factory.token(manager))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["manager_id"] == manager.id and body["pair_count"] == 2
    m = body["metrics"]
    assert m["counts"]["held"] == 6 and m["counts"]["cancelled"] == 1
    # p1: 28→14→2 (26 days, 2 intervals); p2: 20→15→10 (10 days, 2 intervals)
    assert m["avg_days_between_held"] == pytest.approx(36 / 4)
    assert m["held_rate"] == pytest.approx(6 / 7)
    pending = {"state": "pending", "average_rating": None, "ratings": None}  # not frozen yet (ratings.GRACE)
    assert body["ratings"] == [{"month": "2026-01", **pending}, {"month": "2026-02", **pending}]
    rows = {row["pair_id"]: row for row in body["pairs"]}
    assert set(rows) == {p1.id, p2.id} and rows[p2.id]["report_id"] == r2.id
    assert rows[p2.id]["metrics"]["avg_days_between_held"] == pytest.approx(5.0)

    # Above the manager: aggregates, never the pairs.
    for boss in (director, grand):
        r = await client.get(f"/v1/insights/managers/{manager.id}", headers=await factory.token(boss))
        assert r.status_code == 200 and r.json()["pairs"] == [] and r.json()["metrics"] == m

    admin = await factory.person(role="admin")
    r = await client.get(f"/v1/insights/managers/{manager.id}", headers=await factory.token(admin))
    assert r.status_code == 200 and len(r.json()["pairs"]) == 2


async def test_manager_insights_hidden_from_reports_peers_and_hr(client, factory):
    director = await factory.person()
    manager = await factory.person(manager=director)
    peer = await factory.person(manager=director)
    _m, report, _p = await _pair(factory, manager=manager)
    hr = await factory.person(role="hr")
    for who in (report, peer, hr, await factory.person()):
        r = await client.get(f"/v1/insights/managers/{manager.id}", headers=await factory.token(who))
        assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM), who.email
    admin = await factory.person(role="admin")
    r = await client.get("/v1/insights/managers/999999", headers=await factory.token(admin))
    assert r.status_code == 404
    r = await client.get(f"/v1/insights/managers/{peer.id}", headers=await factory.token(director))
    assert r.status_code == 200 and r.json()["pair_count"] == 0
    assert r.json()["metrics"]["held_rate"] is None


async def _team(factory, size: int, *, held_days=(7,)):
    manager = await factory.person(name=f"Manager of {size}")
    for _ in range(size):
        report = await factory.person(manager=manager, name="Secret Report")
        pair = await factory.pair(manager, report)
        for meeting in await _held(factory, pair, *held_days):
            await factory.agenda_item(meeting, report, body="confidential topic")
    return manager


async def test_org_insights_groups_and_suppression(client, factory):
    big = await _team(factory, 5, held_days=(14, 7))
    small = await _team(factory, 4)
    hr = await factory.person(role="hr")
    r = await client.get("/v1/insights/org", headers=await factory.token(hr))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["min_group_size"] == 5 and body["suppressed_groups"] == 1
    [group] = body["groups"]
    assert (group["manager_id"], group["manager_name"], group["people"]) == (big.id, "Manager of 5", 5)
    assert group["metrics"]["counts"]["held"] == 10 and group["metrics"]["avg_days_between_held"] == 7.0
    # The whole minus the big team would be the small team: no total.
    assert body["total"] is None
    assert str(small.id) not in {str(g["manager_id"]) for g in body["groups"]}
    assert "Secret Report" not in r.text and "confidential" not in r.text and "@" not in r.text


@pytest.mark.parametrize("size", [4, 5])
async def test_org_insights_threshold(client, factory, size):
    await _team(factory, size)
    admin = await factory.person(role="admin")
    body = (await client.get("/v1/insights/org", headers=await factory.token(admin))).json()
    if size < 5:
        assert body["groups"] == [] and body["suppressed_groups"] == 1 and body["total"] is None
    else:
        assert len(body["groups"]) == 1 and body["suppressed_groups"] == 0
        assert body["total"]["people"] == 5 and body["total"]["metrics"]["held_rate"] == 1.0


async def test_org_insights_total_pools_every_team(client, factory):
    await _team(factory, 5)
    await _team(factory, 3)
    await _team(factory, 2, held_days=())
    hr = await factory.person(role="hr")
    body = (await client.get("/v1/insights/org", headers=await factory.token(hr))).json()
    assert len(body["groups"]) == 1 and body["suppressed_groups"] == 2
    assert body["total"]["people"] == 10 and body["total"]["metrics"]["counts"]["held"] == 8


async def test_org_insights_for_hr_and_admin_only(client, factory):
    manager = await _team(factory, 1)
    for who in (manager, await factory.person()):
        r = await client.get("/v1/insights/org", headers=await factory.token(who))
        assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM)


@contextmanager
def _count_statements(engine):
    seen: list[str] = []

    def on_execute(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", on_execute)


async def test_org_insights_query_count_does_not_grow_with_the_org(client, factory, engine):
    hr = await factory.person(role="hr")
    h = await factory.token(hr)
    await _team(factory, 2)
    with _count_statements(engine) as small:
        assert (await client.get("/v1/insights/org", headers=h)).status_code == 200
    for _ in range(3):
        await _team(factory, 5, held_days=(9, 2))
    with _count_statements(engine) as large:
        assert (await client.get("/v1/insights/org", headers=h)).status_code == 200
    assert len(large) == len(small)
