"""Screens as calls (issue 25): the caller's meetings across pairs, the pairs overview
with people and findings embedded, the caller's action items across pairs; what each
viewer (report, manager, an unrelated employee, an admin) sees of them, and that each
is a fixed number of queries however many pairs the caller has."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import event

from service.db.hot import HotQuery
from tests.conftest import T0

PROBLEM = "application/problem+json"
SECRETS = ("PRIVATE-OF-MANAGER", "PRIVATE-OF-REPORT", "NOTE-OF-MANAGER", "NOTE-OF-REPORT")


def summary(person) -> dict:
    return {"id": person.id, "name": person.name, "email": person.email, "timezone": person.timezone}


async def _world(factory):
    """`factory.org()`; `pair` has a past meeting (held, rated by the manager only, with a
    shared item, and one private item and one private note of each participant) and a
    future one with only the manager's private item; an open and a done action item; an
    open and a resolved finding. `other_pair` has a meeting and an action item too."""
    o = await factory.org()
    w = SimpleNamespace(o=o, h=o.h)
    w.past = await factory.meeting(o.pair, start=T0 - timedelta(days=7), status="held", title="Weekly")
    w.future = await factory.meeting(o.pair, start=T0 + timedelta(days=1), title="Weekly")
    await factory.agenda_item(w.past, o.report, body="SHARED-POINT", private=False)
    await factory.agenda_item(w.past, o.manager, body="PRIVATE-OF-MANAGER", private=True)
    await factory.agenda_item(w.past, o.report, body="PRIVATE-OF-REPORT", private=True)
    await factory.agenda_item(w.future, o.manager, body="PRIVATE-OF-MANAGER", private=True)
    await factory.private_note(w.past, o.manager, body="NOTE-OF-MANAGER")
    await factory.private_note(w.past, o.report, body="NOTE-OF-REPORT")
    await factory.feedback(w.past, o.manager, rating=2)
    w.open_action = await factory.action_item(o.pair, o.report, body="open one")
    w.done_action = await factory.action_item(o.pair, o.manager, body="done one", done_at=T0 - timedelta(days=1))
    await factory.finding(o.pair, type="cadence_gap")
    await factory.finding(o.pair, type="declined")
    await factory.finding(o.pair, type="declined")
    await factory.finding(o.pair, type="shortened", resolved_at=T0)
    w.other_meeting = await factory.meeting(o.other_pair, start=T0 + timedelta(days=2))
    await factory.agenda_item(w.other_meeting, o.other_manager, body="OTHER-PAIR-POINT")
    w.other_action = await factory.action_item(o.other_pair, o.other_report, body="OTHER-PAIR-ACTION")
    w.boss_meeting = await factory.meeting(o.boss_pair, start=T0 + timedelta(days=3))
    return w


def _no_secrets(r, role: str) -> None:
    own = {"manager": ("PRIVATE-OF-MANAGER", "NOTE-OF-MANAGER"), "report": ("PRIVATE-OF-REPORT", "NOTE-OF-REPORT")}
    for secret in SECRETS:
        if secret not in own.get(role, ()):
            assert secret not in r.text, (role, secret)
    assert "OTHER-PAIR" not in r.text


async def test_my_meetings_as_report_and_manager(client, factory):
    w = await _world(factory)
    o = w.o

    r = await client.get("/v1/meetings", headers=w.h["report"])
    assert r.status_code == 200, r.text
    _no_secrets(r, "report")
    assert r.json()["next_cursor"] is None
    past, future = r.json()["items"]
    assert past == {
        "id": w.past.id,
        "pair_id": o.pair.id,
        "role": "report",
        "other": summary(o.manager),
        "start": "2026-02-23T09:00:00Z",
        "end": "2026-02-23T09:30:00Z",
        "status": "held",
        "title": "Weekly",
        "agenda_items": 2,  # the shared one and the report's own private one
        "agenda_empty": False,
        "open_action_items": 1,
        "rated_by_me": False,  # only the manager rated it
    }
    assert (future["id"], future["agenda_items"], future["agenda_empty"]) == (w.future.id, 0, True)

    r = await client.get("/v1/meetings", headers=w.h["manager"])
    _no_secrets(r, "manager")
    items = r.json()["items"]
    # the manager is a report in the boss's pair too: both roles, ordered by start
    assert [(m["id"], m["role"]) for m in items] == [
        (w.past.id, "manager"),
        (w.future.id, "manager"),
        (w.boss_meeting.id, "report"),
    ]
    assert items[0]["other"] == summary(o.report) and items[2]["other"] == summary(o.boss)
    assert (items[0]["agenda_items"], items[0]["rated_by_me"]) == (2, True)
    # the manager's own private item counts for them, yet the agenda is still "empty":
    # the report sees no shared item to prepare against
    assert (items[1]["agenda_items"], items[1]["agenda_empty"]) == (1, True)

    r = await client.get("/v1/meetings", headers=w.h["manager"], params={"role": "report"})
    assert [m["id"] for m in r.json()["items"]] == [w.boss_meeting.id]
    r = await client.get("/v1/meetings", headers=w.h["manager"], params={"role": "manager", "status": "scheduled"})
    assert [m["id"] for m in r.json()["items"]] == [w.future.id]


async def test_my_meetings_range_and_pages(client, factory):
    w = await _world(factory)
    h = w.h["manager"]
    week = {"from": T0.isoformat(), "to": (T0 + timedelta(days=7)).isoformat()}
    r = await client.get("/v1/meetings", headers=h, params=week)
    assert [m["id"] for m in r.json()["items"]] == [w.future.id, w.boss_meeting.id]
    seen, cursor = [], None
    while True:
        r = await client.get("/v1/meetings", headers=h, params={"limit": 1, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200
        seen += [m["id"] for m in r.json()["items"]]
        if not (cursor := r.json()["next_cursor"]):
            break
    assert seen == [w.past.id, w.future.id, w.boss_meeting.id]
    r = await client.get("/v1/meetings", headers=h, params={"from": week["to"], "to": week["from"]})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    r = await client.get("/v1/meetings", headers=h, params={"cursor": "not-a-cursor"})
    assert r.status_code == 400
    r = await client.get("/v1/meetings", headers=h, params={"role": "boss"})
    assert r.status_code == 422


async def test_my_meetings_of_others_are_never_shown(client, factory):
    w = await _world(factory)
    for role in ("member", "hr", "admin"):
        r = await client.get("/v1/meetings", headers=w.h[role])
        assert r.status_code == 200 and r.json()["items"] == [], role  # admins: schedules are per pair
    r = await client.get("/v1/meetings", headers=w.h["other_report"])
    assert [m["id"] for m in r.json()["items"]] == [w.other_meeting.id]
    assert r.json()["items"][0]["agenda_items"] == 1 and "SHARED-POINT" not in r.text


async def test_former_manager_sees_meetings_before_the_line_ended(client, factory, sessions):
    from service.db.models import Pair

    w = await _world(factory)
    async with sessions() as s:
        pair = await s.get(Pair, w.o.pair.id)
        pair.active, pair.ended_at = False, T0
        await s.commit()
    r = await client.get("/v1/meetings", headers=w.h["manager"], params={"role": "manager"})
    assert [m["id"] for m in r.json()["items"]] == [w.past.id]
    r = await client.get("/v1/meetings", headers=w.h["report"])
    assert [m["id"] for m in r.json()["items"]] == [w.past.id, w.future.id]


async def test_pairs_embed_people_and_open_findings(client, factory, sessions):
    from service.db.models import Pair

    w = await _world(factory)
    o = w.o
    async with sessions() as s:
        pair = await s.get(Pair, o.pair.id)
        pair.last_held, pair.next_scheduled = w.past.start, w.future.start
        await s.commit()
    by_role = {}
    for role in ("report", "manager", "member", "admin"):
        r = await client.get("/v1/pairs", headers=w.h[role])
        assert r.status_code == 200, r.text
        _no_secrets(r, role)
        by_role[role] = {p["id"]: p for p in r.json()["items"]}
    assert set(by_role["report"]) == {o.pair.id}
    assert set(by_role["manager"]) == {o.boss_pair.id, o.pair.id}
    assert by_role["member"] == {}
    assert set(by_role["admin"]) == {o.boss_pair.id, o.pair.id, o.other_pair.id}  # admins see every pair
    p = by_role["report"][o.pair.id]
    assert (p["manager_id"], p["report_id"]) == (o.manager.id, o.report.id)  # kept
    assert p["manager"] == summary(o.manager) and p["report"] == summary(o.report)
    assert (p["last_held_at"], p["next_scheduled_at"]) == ("2026-02-23T09:00:00Z", "2026-03-03T09:00:00Z")
    assert p["last_held_at"] == p["last_held"] and p["next_scheduled_at"] == p["next_scheduled"]
    assert p["streak"] == p["current_streak"] == 1
    assert p["open_findings"] == {"cadence_gap": 1, "declined": 2}  # the resolved one is not open
    assert by_role["admin"][o.pair.id]["open_findings"] == p["open_findings"]
    assert by_role["manager"][o.boss_pair.id]["open_findings"] == {}
    assert by_role["admin"][o.other_pair.id]["report"] == summary(o.other_report)
    r = await client.get(f"/v1/pairs/{o.pair.id}", headers=w.h["manager"])
    assert r.json()["report"] == summary(o.report) and r.json()["open_findings"] == p["open_findings"]


async def test_streak_stops_at_a_cancelled_one(client, factory):
    o = await factory.org()
    for days, status in ((40, "held"), (30, "cancelled"), (20, "held"), (10, "held"), (-5, "scheduled")):
        await factory.meeting(o.pair, start=T0 - timedelta(days=days), status=status)
    r = await client.get("/v1/pairs", headers=o.h["report"])
    assert r.json()["items"][0]["streak"] == 2


async def test_my_action_items(client, factory):
    w = await _world(factory)
    o = w.o
    r = await client.get("/v1/me/action-items", headers=w.h["manager"])
    assert r.status_code == 200
    assert r.json() == {
        "items": [
            {
                "id": w.open_action.id,
                "pair_id": o.pair.id,
                "meeting_id": None,
                "owner_id": o.report.id,
                "owner": summary(o.report),
                "body": "open one",
                "due_date": None,
                "done_at": None,
                "created_at": "2026-03-02T09:00:00Z",
                "updated_at": "2026-03-02T09:00:00Z",
            }
        ],
        "next_cursor": None,
    }
    r = await client.get("/v1/me/action-items", headers=w.h["report"], params={"status": "all", "limit": 1})
    assert [a["id"] for a in r.json()["items"]] == [w.open_action.id]
    r = await client.get(
        "/v1/me/action-items", headers=w.h["report"], params={"status": "all", "cursor": r.json()["next_cursor"]}
    )
    assert [(a["id"], a["owner"]["id"]) for a in r.json()["items"]] == [(w.done_action.id, o.manager.id)]
    r = await client.get("/v1/me/action-items", headers=w.h["report"], params={"status": "done"})
    assert [a["id"] for a in r.json()["items"]] == [w.done_action.id]
    for role in ("member", "hr", "admin", "boss"):
        r = await client.get("/v1/me/action-items", headers=w.h[role])
        assert r.status_code == 200 and r.json()["items"] == [], role
    r = await client.get("/v1/me/action-items", headers=w.h["other_manager"])
    assert [a["id"] for a in r.json()["items"]] == [w.other_action.id]
    # the same visibility as the per-pair list
    per_pair = await client.get(f"/v1/pairs/{o.pair.id}/action-items", headers=w.h["report"], params={"status": "all"})
    mine = await client.get("/v1/me/action-items", headers=w.h["report"], params={"status": "all"})
    assert [a["id"] for a in per_pair.json()["items"]] == [a["id"] for a in mine.json()["items"]]


@contextmanager
def count_statements(engine):
    """Every statement sent: through SQLAlchemy, and the hot queries that go straight to
    asyncpg on PostgreSQL (`service.db.hot`)."""
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    prepare = HotQuery._prepare

    def counted(self, session, params):
        compiled, args = prepare(self, session, params)
        statements.append(compiled.sql)
        return compiled, args

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    HotQuery._prepare = counted
    try:
        yield statements
    finally:
        HotQuery._prepare = prepare
        event.remove(engine.sync_engine, "before_cursor_execute", before)


async def _manager_with(factory, n: int):
    manager = await factory.person(name="Manager")
    for i in range(n):
        report = await factory.person(manager=manager)
        pair = await factory.pair(manager, report)
        for day in (1, 3):
            m = await factory.meeting(pair, start=T0 + timedelta(days=day, hours=i))
            await factory.agenda_item(m, report, private=True)
            await factory.agenda_item(m, manager)
            await factory.feedback(m, manager)
        await factory.action_item(pair, report)
        await factory.finding(pair)
    return await factory.token(manager)


async def test_each_screen_is_a_fixed_number_of_queries(client, factory, engine):
    """2 pairs or 8: the week view, the pairs overview and the action items list each run
    the same number of statements (no query per pair)."""
    week = {"from": T0.isoformat(), "to": (T0 + timedelta(days=7)).isoformat()}
    counts = {}
    for n in (2, 8):
        h = await _manager_with(factory, n)
        for url, params in (("/v1/meetings", week), ("/v1/pairs", {}), ("/v1/me/action-items", {})):
            with count_statements(engine) as statements:
                r = await client.get(url, headers=h, params=params)
            assert r.status_code == 200 and len(r.json()["items"]) >= n, url
            counts[(url, n)] = len(statements)
    for url in ("/v1/meetings", "/v1/pairs", "/v1/me/action-items"):
        assert counts[(url, 2)] == counts[(url, 8)], (url, counts)
    with count_statements(engine) as statements:
        assert (await client.get("/v1/me", headers=h)).status_code == 200
    # authentication, then one statement: as many as reading the caller's own record
    assert counts[("/v1/meetings", 8)] == counts[("/v1/me/action-items", 8)] == len(statements), counts
