from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import event, select

from service.db.models import Meeting, Pair
from tests.conftest import T0

PROBLEM = "application/problem+json"
OUTSIDERS = ["other_report", "boss", "member", "hr"]
DAY = timedelta(days=1)
MIN = timedelta(minutes=1)


def iso(dt) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def slot(start, minutes=30) -> dict[str, str]:
    return {"start": iso(start), "end": iso(start + timedelta(minutes=minutes))}


async def meeting_ids(client, headers, pair_id, **params) -> list[int]:
    r = await client.get(f"/v1/pairs/{pair_id}/meetings", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return [m["id"] for m in r.json()["items"]]


# --- create -----------------------------------------------------------------------------


async def test_participant_creates_an_api_meeting(client, factory):
    o = await factory.org()
    r = await client.post(
        f"/v1/pairs/{o.pair.id}/meetings",
        headers=o.h["report"],
        json={"title": "Weekly", "start": "2026-03-03T10:00:00+01:00", "end": "2026-03-03T10:30:00+01:00"},
    )
    assert r.status_code == 201, r.text
    m = r.json()
    assert (m["pair_id"], m["title"], m["status"], m["source_uid"], m["template_id"], m["cancelled_at"]) == (
        o.pair.id,
        "Weekly",
        "scheduled",
        None,
        None,
        None,
    )
    assert m["start"] == m["original_start"] == "2026-03-03T09:00:00Z" and m["end"] == "2026-03-03T09:30:00Z"
    assert await meeting_ids(client, o.h["manager"], o.pair.id) == [m["id"]]
    r = await client.post(f"/v1/pairs/{o.pair.id}/meetings", headers=o.h["manager"], json=slot(T0 + DAY))
    assert r.status_code == 201 and r.json()["title"] == "1:1"


@pytest.mark.parametrize(
    "times, field",
    [
        ((0, 0), "end"),  # end == start
        ((30, 0), "end"),  # end before start
        ((0, 4), "end"),  # 4 minutes
        ((0, 8 * 60 + 1), "end"),  # over 8 hours
    ],
)
async def test_meeting_length_is_validated(client, factory, times, field):
    o = await factory.org()
    start = T0 + DAY
    body = {"start": iso(start + timedelta(minutes=times[0])), "end": iso(start + timedelta(minutes=times[1]))}
    r = await client.post(f"/v1/pairs/{o.pair.id}/meetings", headers=o.h["report"], json=body)
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert [e["field"] for e in r.json()["errors"]] == [field]
    assert await meeting_ids(client, o.h["report"], o.pair.id) == []


async def test_boundary_lengths_are_accepted(client, factory):
    o = await factory.org()
    for minutes in (5, 8 * 60):
        r = await client.post(f"/v1/pairs/{o.pair.id}/meetings", headers=o.h["report"], json=slot(T0 + DAY, minutes))
        assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "body",
    [
        {"start": "2026-03-03T10:00:00", "end": "2026-03-03T10:30:00"},  # no offset
        {"start": "tomorrow", "end": "2026-03-03T10:30:00Z"},
        {"end": "2026-03-03T10:30:00Z"},
        {"start": "2026-03-03T10:00:00Z", "end": "2026-03-03T10:30:00Z", "location": "room 1"},  # unknown field
        {"start": "2026-03-03T10:00:00Z", "end": "2026-03-03T10:30:00Z", "title": ""},
    ],
)
async def test_malformed_meeting_is_422_with_errors(client, factory, body):
    o = await factory.org()
    r = await client.post(f"/v1/pairs/{o.pair.id}/meetings", headers=o.h["report"], json=body)
    assert r.status_code == 422 and r.json()["errors"]


@pytest.mark.parametrize("who", OUTSIDERS)
async def test_outsiders_cannot_create_meetings(client, factory, who):
    o = await factory.org()
    r = await client.post(f"/v1/pairs/{o.pair.id}/meetings", headers=o.h[who], json=slot(T0 + DAY))
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)


async def test_admin_sees_the_pair_but_may_not_schedule_for_it(client, factory):
    o = await factory.org()
    r = await client.post(f"/v1/pairs/{o.pair.id}/meetings", headers=o.h["admin"], json=slot(T0 + DAY))
    assert r.status_code == 403
    assert await meeting_ids(client, o.h["admin"], o.pair.id) == []


async def test_inactive_pair_gets_no_new_meetings(client, factory, sessions):
    o = await factory.org()
    async with sessions() as s:
        (await s.get(Pair, o.pair.id)).active = False
        await s.commit()
    r = await client.post(f"/v1/pairs/{o.pair.id}/meetings", headers=o.h["report"], json=slot(T0 + DAY))
    assert r.status_code == 409 and r.headers["content-type"].startswith(PROBLEM)


async def test_create_with_template_fills_the_agenda(client, factory):
    o = await factory.org()
    t = await factory.template(
        sections=[
            {"title": "Opening", "minutes": 5, "prompts": ["How are you?"]},
            {"title": "Wrap-up", "minutes": 10, "prompts": []},
        ]
    )
    r = await client.post(
        f"/v1/pairs/{o.pair.id}/meetings", headers=o.h["manager"], json={**slot(T0 + DAY), "template_id": t.id}
    )
    assert r.status_code == 201 and r.json()["template_id"] == t.id
    detail = (await client.get(f"/v1/meetings/{r.json()['id']}", headers=o.h["report"])).json()
    assert [(a["body"], a["minutes"], a["author_id"], a["private"]) for a in detail["agenda"]] == [
        ("Opening\n- How are you?", 5, o.manager.id, False),
        ("Wrap-up", 10, o.manager.id, False),
    ]


async def test_unknown_template_is_422_and_creates_nothing(client, factory):
    o = await factory.org()
    r = await client.post(
        f"/v1/pairs/{o.pair.id}/meetings", headers=o.h["manager"], json={**slot(T0 + DAY), "template_id": 999999}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "template_id"
    assert await meeting_ids(client, o.h["manager"], o.pair.id) == []


async def test_new_meeting_collects_items_waiting_for_a_next_meeting(client, factory):
    o = await factory.org()
    first = await factory.meeting(o.pair, start=T0 + DAY)
    shared = await factory.agenda_item(first, o.report, body="my growth plan")
    mine = await factory.agenda_item(first, o.manager, body="feedback on tone", private=True)
    r = await client.post(f"/v1/meetings/{first.id}:cancel", headers=o.h["manager"])
    assert r.status_code == 200  # no next meeting yet: nothing moves
    r = await client.post(f"/v1/pairs/{o.pair.id}/meetings", headers=o.h["report"], json=slot(T0 + 7 * DAY))
    new_id = r.json()["id"]
    report_view = (await client.get(f"/v1/meetings/{new_id}", headers=o.h["report"])).json()["agenda"]
    manager_view = (await client.get(f"/v1/meetings/{new_id}", headers=o.h["manager"])).json()["agenda"]
    assert [(a["body"], a["carried_from_id"]) for a in report_view] == [("my growth plan", shared.id)]
    assert [(a["body"], a["carried_from_id"], a["private"]) for a in manager_view] == [
        ("my growth plan", shared.id, False),
        ("feedback on tone", mine.id, True),
    ]


# --- list -------------------------------------------------------------------------------


async def test_list_orders_by_start_then_id_and_pages(client, factory):
    o = await factory.org()
    later = await factory.meeting(o.pair, start=T0 + 3 * DAY)
    a = await factory.meeting(o.pair, start=T0 + DAY)
    b = await factory.meeting(o.pair, start=T0 + DAY)  # same start: id breaks the tie
    earliest = await factory.meeting(o.pair, start=T0 - DAY)
    await factory.meeting(o.other_pair, start=T0 + DAY)
    seen, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"/v1/pairs/{o.pair.id}/meetings", headers=o.h["report"], params=params)
        seen += [m["id"] for m in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert seen == [earliest.id, a.id, b.id, later.id]


async def test_list_filters_on_start_and_status(client, factory):
    o = await factory.org()
    m1 = await factory.meeting(o.pair, start=T0 + DAY)
    m2 = await factory.meeting(o.pair, start=T0 + 2 * DAY, status="cancelled")
    m3 = await factory.meeting(o.pair, start=T0 + 3 * DAY)
    h, pid = o.h["manager"], o.pair.id
    # `from` inclusive, `to` exclusive, offsets honoured (10:00+01:00 == 09:00Z)
    assert await meeting_ids(client, h, pid, **{"from": "2026-03-03T10:00:00+01:00"}) == [m1.id, m2.id, m3.id]
    assert await meeting_ids(client, h, pid, **{"from": "2026-03-03T09:00:01Z"}) == [m2.id, m3.id]
    assert await meeting_ids(client, h, pid, to=iso(T0 + 3 * DAY)) == [m1.id, m2.id]
    assert await meeting_ids(client, h, pid, status="cancelled") == [m2.id]
    assert await meeting_ids(client, h, pid, status="scheduled", to=iso(T0 + 3 * DAY)) == [m1.id]
    for params in (
        {"from": "2026-03-03T09:00:00"},
        {"status": "maybe"},
        {"from": "yesterday"},
        {"from": iso(T0 + 2 * DAY), "to": iso(T0 + DAY)},
    ):
        r = await client.get(f"/v1/pairs/{pid}/meetings", headers=h, params=params)
        assert r.status_code == 422 and r.json()["errors"], params
    r = await client.get(f"/v1/pairs/{pid}/meetings", headers=h, params={"cursor": "WyJ4IiwgMV0"})  # ["x", 1]
    assert r.status_code == 400


@pytest.mark.parametrize("who", OUTSIDERS)
async def test_outsiders_cannot_list_meetings_but_admins_can(client, factory, who):
    o = await factory.org()
    m = await factory.meeting(o.pair)
    r = await client.get(f"/v1/pairs/{o.pair.id}/meetings", headers=o.h[who])
    assert r.status_code == 404
    assert await meeting_ids(client, o.h["admin"], o.pair.id) == [m.id]


async def test_admins_see_no_calendar_content_in_the_schedule(client, factory):
    """A synced meeting's title and iCalendar UID come from the participants' calendars:
    both participants see them, an admin sees "1:1" and no UID (the row keeps them)."""
    o = await factory.org()
    synced = await factory.meeting(o.pair, title="Maya / Li: promotion", source_uid="abc@google.com")
    typed = await factory.meeting(o.pair, start=T0 + 2 * DAY, title="Quarterly review")
    for who in ("admin", "manager", "report", "admin"):
        r = await client.get(f"/v1/pairs/{o.pair.id}/meetings", headers=o.h[who])
        shown = {m["id"]: (m["title"], m["source_uid"]) for m in r.json()["items"]}
        if who == "admin":
            assert shown == {synced.id: ("1:1", None), typed.id: ("Quarterly review", None)}
        else:
            assert shown == {
                synced.id: ("Maya / Li: promotion", "abc@google.com"),
                typed.id: ("Quarterly review", None),
            }
    # Paging works on what an admin is shown, too.
    r = await client.get(f"/v1/pairs/{o.pair.id}/meetings", headers=o.h["admin"], params={"limit": 1})
    rest = await meeting_ids(client, o.h["admin"], o.pair.id, cursor=r.json()["next_cursor"])
    assert [m["id"] for m in r.json()["items"]] + rest == [synced.id, typed.id]


# --- detail -----------------------------------------------------------------------------


async def test_detail_shows_what_the_caller_may_see(client, factory, clock):
    o = await factory.org()
    m = await factory.meeting(o.pair, start=T0 + DAY)
    manager_point = await factory.agenda_item(m, o.manager, body="team changes")
    report_point = await factory.agenda_item(m, o.report, body="conference budget")
    manager_secret = await factory.agenda_item(m, o.manager, body="salary band", private=True)
    report_secret = await factory.agenda_item(m, o.report, body="thinking of leaving", private=True)
    await factory.shared_note(m, o.manager, body="agreed on Q2 goals")
    await factory.private_note(m, o.manager, body="manager's thoughts")
    await factory.private_note(m, o.report, body="report's thoughts")
    no_due = await factory.action_item(o.pair, o.report, body="no due date")
    late = await factory.action_item(o.pair, o.report, body="due later", due_date=date(2026, 4, 1))
    soon = await factory.action_item(o.pair, o.manager, body="due soon", due_date=date(2026, 3, 5))
    await factory.action_item(o.pair, o.report, body="done already", done_at=T0)
    await factory.action_item(o.other_pair, o.other_report, body="another pair's")

    r = await client.get(f"/v1/meetings/{m.id}", headers=o.h["report"])
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["id"], d["pair_id"], d["status"]) == (m.id, o.pair.id, "scheduled")
    # the report's points first, then the manager's; the manager's private one is absent
    assert [(a["id"], a["position"]) for a in d["agenda"]] == [
        (report_point.id, 0),
        (report_secret.id, 1),
        (manager_point.id, 2),
    ]
    assert [a["id"] for a in d["open_action_items"]] == [soon.id, late.id, no_due.id]
    assert d["shared_note"]["body"] == "agreed on Q2 goals"
    assert (d["private_note"]["body"], d["private_note"]["author_id"]) == ("report's thoughts", o.report.id)

    d = (await client.get(f"/v1/meetings/{m.id}", headers=o.h["manager"])).json()
    assert [a["id"] for a in d["agenda"]] == [report_point.id, manager_point.id, manager_secret.id]
    assert all(a["body"] != "thinking of leaving" for a in d["agenda"])
    assert d["private_note"]["body"] == "manager's thoughts"


async def test_detail_without_notes_has_nulls(client, factory):
    o = await factory.org()
    m = await factory.meeting(o.pair)
    d = (await client.get(f"/v1/meetings/{m.id}", headers=o.h["manager"])).json()
    assert (d["agenda"], d["open_action_items"], d["shared_note"], d["private_note"]) == ([], [], None, None)


@pytest.mark.parametrize("who", [*OUTSIDERS, "admin"])
async def test_meeting_content_is_for_participants_only(client, factory, who):
    o = await factory.org()
    m = await factory.meeting(o.pair)
    r = await client.get(f"/v1/meetings/{m.id}", headers=o.h[who])
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    assert (await client.get("/v1/meetings/999999", headers=o.h["manager"])).status_code == 404


# --- reschedule and cancel ---------------------------------------------------------------


async def test_reschedule_and_rename(client, factory, clock):
    o = await factory.org()
    m = await factory.meeting(o.pair, start=T0 + DAY)
    clock.set(T0 + timedelta(minutes=5))
    r = await client.patch(
        f"/v1/meetings/{m.id}", headers=o.h["report"], json={"title": "Moved", "start": iso(T0 + 2 * DAY)}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["title"], body["start"], body["original_start"]) == ("Moved", iso(T0 + 2 * DAY), iso(T0 + DAY))
    assert body["end"] == iso(T0 + 2 * DAY + timedelta(minutes=30))  # a new start alone keeps the length
    assert body["updated_at"] == iso(T0 + timedelta(minutes=5))


async def test_reschedule_validates_the_resulting_times(client, factory, sessions):
    o = await factory.org()
    m = await factory.meeting(o.pair, start=T0 + DAY)
    r = await client.patch(f"/v1/meetings/{m.id}", headers=o.h["report"], json={"end": iso(T0)})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "end"  # would end before it starts
    r = await client.patch(f"/v1/meetings/{m.id}", headers=o.h["report"], json={"end": iso(m.start + 9 * 60 * MIN)})
    assert r.status_code == 422 and "8 hours" in r.json()["errors"][0]["message"]
    for body in ({"title": None}, {"start": None}, {"title": ""}, {"status": "held"}, {"end": "soon"}):
        r = await client.patch(f"/v1/meetings/{m.id}", headers=o.h["report"], json=body)
        assert r.status_code == 422, body
    async with sessions() as s:
        stored = await s.get(Meeting, m.id)
    assert (stored.start, stored.end, stored.title) == (m.start, m.end, m.title)
    r = await client.patch(f"/v1/meetings/{m.id}", headers=o.h["report"], json=slot(T0 + 2 * DAY, 60))
    assert r.status_code == 200 and r.json()["end"] == iso(T0 + 2 * DAY + timedelta(hours=1))


async def test_calendar_meetings_are_owned_by_the_calendar(client, factory):
    o = await factory.org()
    m = await factory.meeting(o.pair, source_uid="abc@google.com")
    for r in (
        await client.patch(f"/v1/meetings/{m.id}", headers=o.h["manager"], json={"title": "x"}),
        await client.post(f"/v1/meetings/{m.id}:cancel", headers=o.h["manager"]),
    ):
        assert r.status_code == 409 and "owned by the calendar" in r.json()["detail"]
    d = (await client.get(f"/v1/meetings/{m.id}", headers=o.h["manager"])).json()
    assert (d["title"], d["status"]) == ("1:1", "scheduled")


@pytest.mark.parametrize("who, status", [("admin", 403), *[(w, 404) for w in OUTSIDERS]])
async def test_only_participants_reschedule_or_cancel(client, factory, who, status):
    o = await factory.org()
    m = await factory.meeting(o.pair)
    assert (await client.patch(f"/v1/meetings/{m.id}", headers=o.h[who], json={"title": "x"})).status_code == status
    assert (await client.post(f"/v1/meetings/{m.id}:cancel", headers=o.h[who])).status_code == status
    assert [
        x["status"] for x in (await client.get(f"/v1/pairs/{o.pair.id}/meetings", headers=o.h["admin"])).json()["items"]
    ] == ["scheduled"]


async def test_cancel_carries_open_items_to_the_next_meeting(client, factory, clock):
    o = await factory.org()
    m = await factory.meeting(o.pair, start=T0 + DAY)
    following = await factory.meeting(o.pair, start=T0 + 8 * DAY)
    after_that = await factory.meeting(o.pair, start=T0 + 15 * DAY)
    point = await factory.agenda_item(m, o.report, body="open point", minutes=10)
    await factory.agenda_item(m, o.report, body="settled", done=True)
    secret = await factory.agenda_item(m, o.report, body="private point", private=True)

    clock.set(T0 + timedelta(hours=2))
    r = await client.post(f"/v1/meetings/{m.id}:cancel", headers=o.h["manager"])
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["cancelled_at"]) == ("cancelled", iso(T0 + timedelta(hours=2)))

    report_view = (await client.get(f"/v1/meetings/{following.id}", headers=o.h["report"])).json()["agenda"]
    assert [(a["body"], a["minutes"], a["private"], a["carried_from_id"], a["done"]) for a in report_view] == [
        ("open point", 10, False, point.id, False),
        ("private point", None, True, secret.id, False),
    ]
    manager_view = (await client.get(f"/v1/meetings/{following.id}", headers=o.h["manager"])).json()["agenda"]
    assert [a["body"] for a in manager_view] == ["open point"]
    assert (await client.get(f"/v1/meetings/{after_that.id}", headers=o.h["report"])).json()["agenda"] == []
    # the cancelled meeting keeps its items as history
    old = (await client.get(f"/v1/meetings/{m.id}", headers=o.h["report"])).json()["agenda"]
    assert [a["body"] for a in old] == ["open point", "settled", "private point"]

    r = await client.post(f"/v1/meetings/{m.id}:cancel", headers=o.h["manager"])
    assert r.status_code == 409  # already cancelled
    r = await client.patch(f"/v1/meetings/{m.id}", headers=o.h["manager"], json={"title": "x"})
    assert r.status_code == 409
    assert len((await client.get(f"/v1/meetings/{following.id}", headers=o.h["report"])).json()["agenda"]) == 2


async def test_held_meeting_cannot_be_cancelled(client, factory, sessions):
    o = await factory.org()
    m = await factory.meeting(o.pair, start=T0 - DAY, status="held")
    r = await client.post(f"/v1/meetings/{m.id}:cancel", headers=o.h["report"])
    assert r.status_code == 409
    async with sessions() as s:
        assert (await s.scalar(select(Meeting.status).where(Meeting.id == m.id))) == "held"


async def test_out_of_range_ids_and_times_are_client_errors(client, factory):
    o = await factory.org()
    m = await factory.meeting(o.pair)
    h, huge = o.h["report"], 2**64
    for url in (
        f"/v1/pairs/{huge}",
        f"/v1/meetings/{huge}",
        f"/v1/pairs/{huge}/meetings",
        f"/v1/meetings/{huge}/agenda",
        f"/v1/templates/{huge}",
        "/v1/pairs/0",
    ):
        assert (await client.get(url, headers=h)).status_code == 422, url
    assert (await client.get("/v1/pairs", headers=h, params={"manager_id": huge})).status_code == 422
    r = await client.post(
        f"/v1/pairs/{o.pair.id}/meetings",
        headers=h,
        json={"start": "2026-03-03T09:00:00Z", "end": "2026-03-03T09:30:00Z", "template_id": huge},
    )
    assert r.status_code == 422
    # cursors with ids beyond the database's range: [2**64] and ["2026-03-03T09:00:00+00:00", 2**64]
    big_id = "WzE4NDQ2NzQ0MDczNzA5NTUxNjE2XQ"
    big_key = "WyIyMDI2LTAzLTAzVDA5OjAwOjAwKzAwOjAwIiwgMTg0NDY3NDQwNzM3MDk1NTE2MTZd"
    for url, cursor in (("/v1/pairs", big_id), ("/v1/templates", big_id), (f"/v1/pairs/{o.pair.id}/meetings", big_key)):
        assert (await client.get(url, headers=h, params={"cursor": cursor})).status_code == 400, url
    r = await client.patch(f"/v1/meetings/{m.id}", headers=h, json={"start": "9999-12-31T23:50:00Z"})
    assert r.status_code == 422  # keeping its length would end past year 9999


async def test_detail_costs_a_fixed_number_of_queries(client, factory, engine):
    o = await factory.org()
    m = await factory.meeting(o.pair)
    for i in range(6):
        await factory.agenda_item(m, o.report if i % 2 else o.manager, private=i == 4)  # the manager's
        await factory.action_item(o.pair, o.report)
    await factory.shared_note(m, o.manager)
    await factory.private_note(m, o.report)
    selects: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        r = await client.get(f"/v1/meetings/{m.id}", headers=o.h["report"])
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert r.status_code == 200 and len(r.json()["agenda"]) == 5 and len(r.json()["open_action_items"]) == 6
    # The caller's token, then meeting+pair+notes, agenda, action items: no N+1. On
    # PostgreSQL the last three are HotQuery reads on the driver, unseen by these events.
    assert len(selects) == (1 if engine.dialect.name == "postgresql" else 4)
