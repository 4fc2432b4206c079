from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import T0

PROBLEM = "application/problem+json"
OUTSIDERS = ["other_report", "boss", "member", "hr", "admin"]  # agenda is content: admins too


async def agenda(client, headers, meeting_id, **params) -> list[tuple[str, int]]:
    r = await client.get(f"/v1/meetings/{meeting_id}/agenda", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return [(a["body"], a["position"]) for a in r.json()["items"]]


async def add(client, headers, meeting_id, body, **kw) -> dict:
    r = await client.post(f"/v1/meetings/{meeting_id}/agenda", headers=headers, json={"body": body, **kw})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
async def setup(factory):
    o = await factory.org()
    o.meeting = await factory.meeting(o.pair, start=T0 + timedelta(days=1))
    return o


async def test_add_item_and_default_order_puts_the_reports_items_first(client, setup):
    o = setup
    m = o.meeting.id
    first = await add(client, o.h["manager"], m, "reorg news", minutes=10)
    assert (first["author_id"], first["private"], first["done"], first["minutes"], first["position"]) == (
        o.manager.id,
        False,
        False,
        10,
        0,
    )
    second = await add(client, o.h["report"], m, "promotion")
    assert second["position"] == 0  # the report's items come first
    await add(client, o.h["manager"], m, "budget")
    await add(client, o.h["report"], m, "holidays")
    expected = [("promotion", 0), ("holidays", 1), ("reorg news", 2), ("budget", 3)]
    assert await agenda(client, o.h["manager"], m) == expected
    assert await agenda(client, o.h["report"], m) == expected


async def test_private_items_are_for_their_author_only(client, setup):
    o = setup
    m = o.meeting.id
    await add(client, o.h["report"], m, "shared")
    secret = await add(client, o.h["manager"], m, "performance concern", private=True)
    await add(client, o.h["manager"], m, "team news")
    assert await agenda(client, o.h["manager"], m) == [("shared", 0), ("performance concern", 1), ("team news", 2)]
    # no gap where the hidden item sits: positions are indices of the caller's own view
    assert await agenda(client, o.h["report"], m) == [("shared", 0), ("team news", 1)]
    url = f"/v1/agenda-items/{secret['id']}"
    for r in (
        await client.patch(url, headers=o.h["report"], json={"done": True}),
        await client.patch(url, headers=o.h["report"], json={"position": 0}),
        await client.delete(url, headers=o.h["report"]),
    ):
        assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    assert await agenda(client, o.h["manager"], m) == [("shared", 0), ("performance concern", 1), ("team news", 2)]


async def test_author_edits_body_privacy_and_minutes(client, setup, clock):
    o = setup
    item = await add(client, o.h["report"], o.meeting.id, "draft")
    clock.set(T0 + timedelta(minutes=1))
    r = await client.patch(
        f"/v1/agenda-items/{item['id']}",
        headers=o.h["report"],
        json={"body": "final wording", "private": True, "minutes": 15},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["body"], r.json()["private"], r.json()["minutes"], r.json()["updated_at"]) == (
        "final wording",
        True,
        15,
        "2026-03-02T09:01:00Z",
    )
    assert await agenda(client, o.h["manager"], o.meeting.id) == []  # now private
    r = await client.patch(
        f"/v1/agenda-items/{item['id']}", headers=o.h["report"], json={"private": False, "minutes": None}
    )
    assert (r.json()["private"], r.json()["minutes"]) == (False, None)


async def test_other_participant_ticks_off_but_cannot_edit(client, setup):
    o = setup
    item = await add(client, o.h["report"], o.meeting.id, "ask about training")
    url = f"/v1/agenda-items/{item['id']}"
    for body in ({"body": "rewritten"}, {"private": True}, {"minutes": 3}, {"body": "x", "done": True}):
        r = await client.patch(url, headers=o.h["manager"], json=body)
        assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM), body
    r = await client.get(f"/v1/meetings/{o.meeting.id}/agenda", headers=o.h["report"])
    assert [(a["body"], a["done"]) for a in r.json()["items"]] == [("ask about training", False)]  # all or nothing
    r = await client.patch(url, headers=o.h["manager"], json={"done": True})
    assert r.status_code == 200 and r.json()["done"] is True
    assert await agenda(client, o.h["report"], o.meeting.id, done="false") == []
    assert await agenda(client, o.h["report"], o.meeting.id, done="true") == [("ask about training", 0)]


async def test_explicit_position_overrides_the_default_order(client, setup):
    o = setup
    m = o.meeting.id
    a = await add(client, o.h["report"], m, "A")
    await add(client, o.h["report"], m, "B")
    c = await add(client, o.h["manager"], m, "C")
    assert await agenda(client, o.h["report"], m) == [("A", 0), ("B", 1), ("C", 2)]
    r = await client.patch(f"/v1/agenda-items/{c['id']}", headers=o.h["report"], json={"position": 0})
    assert r.status_code == 200 and r.json()["position"] == 0  # either participant may reorder
    assert await agenda(client, o.h["manager"], m) == [("C", 0), ("A", 1), ("B", 2)]
    r = await client.patch(f"/v1/agenda-items/{a['id']}", headers=o.h["manager"], json={"position": 99})
    assert r.json()["position"] == 2  # past the end: last
    assert await agenda(client, o.h["report"], m) == [("C", 0), ("B", 1), ("A", 2)]
    # once ordered explicitly, new items are appended, whoever adds them
    await add(client, o.h["report"], m, "D")
    assert await agenda(client, o.h["manager"], m) == [("C", 0), ("B", 1), ("A", 2), ("D", 3)]


async def test_moving_to_the_current_place_keeps_the_default_order(client, setup):
    o = setup
    m = o.meeting.id
    await add(client, o.h["manager"], m, "M1")
    r1 = await add(client, o.h["report"], m, "R1")
    r = await client.patch(f"/v1/agenda-items/{r1['id']}", headers=o.h["manager"], json={"position": 0})
    assert r.status_code == 200
    await add(client, o.h["report"], m, "R2")  # still grouped with the report's items
    assert await agenda(client, o.h["manager"], m) == [("R1", 0), ("R2", 1), ("M1", 2)]


async def test_reordering_around_an_item_the_caller_cannot_see(client, setup):
    o = setup
    m = o.meeting.id
    x = await add(client, o.h["report"], m, "X")
    await add(client, o.h["manager"], m, "hidden", private=True)
    await add(client, o.h["manager"], m, "Y")
    assert await agenda(client, o.h["report"], m) == [("X", 0), ("Y", 1)]
    r = await client.patch(f"/v1/agenda-items/{x['id']}", headers=o.h["report"], json={"position": 1})
    assert r.json()["position"] == 1
    assert await agenda(client, o.h["report"], m) == [("Y", 0), ("X", 1)]
    assert await agenda(client, o.h["manager"], m) == [("hidden", 0), ("Y", 1), ("X", 2)]


async def test_agenda_pages_keep_positions(client, setup):
    o = setup
    m = o.meeting.id
    for body in "ABCDE":
        await add(client, o.h["report"], m, body)
    seen, cursor = [], None
    while True:
        r = await client.get(
            f"/v1/meetings/{m}/agenda",
            headers=o.h["manager"],
            params={"limit": 2, **({"cursor": cursor} if cursor else {})},
        )
        seen += [(a["body"], a["position"]) for a in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert seen == [(b, i) for i, b in enumerate("ABCDE")]
    r = await client.get(f"/v1/meetings/{m}/agenda", headers=o.h["manager"], params={"cursor": "e30"})  # {}
    assert r.status_code == 400


async def test_only_the_author_deletes(client, setup):
    o = setup
    item = await add(client, o.h["report"], o.meeting.id, "mine")
    url = f"/v1/agenda-items/{item['id']}"
    r = await client.delete(url, headers=o.h["manager"])
    assert r.status_code == 403
    r = await client.delete(url, headers=o.h["report"])
    assert r.status_code == 204 and r.content == b""
    assert (await client.delete(url, headers=o.h["report"])).status_code == 404
    assert (await client.patch(url, headers=o.h["report"], json={"done": True})).status_code == 404
    assert await agenda(client, o.h["report"], o.meeting.id) == []


@pytest.mark.parametrize(
    "body",
    [
        {"body": ""},
        {"body": "   "},
        {"body": "x" * 10_001},
        {},
        {"body": "ok", "minutes": 0},
        {"body": "ok", "minutes": 121},
        {"body": "ok", "done": True},
        {"body": "ok", "private": "maybe"},
    ],
)
async def test_invalid_new_item_is_422(client, setup, body):
    o = setup
    r = await client.post(f"/v1/meetings/{o.meeting.id}/agenda", headers=o.h["report"], json=body)
    assert r.status_code == 422 and r.json()["errors"]
    assert await agenda(client, o.h["report"], o.meeting.id) == []


@pytest.mark.parametrize(
    "body", [{"position": -1}, {"body": None}, {"done": None}, {"meeting_id": 3}, {"done": "sure"}, {"minutes": 500}]
)
async def test_invalid_update_is_422(client, setup, body):
    o = setup
    item = await add(client, o.h["report"], o.meeting.id, "point")
    r = await client.patch(f"/v1/agenda-items/{item['id']}", headers=o.h["report"], json=body)
    assert r.status_code == 422 and r.json()["errors"]


@pytest.mark.parametrize("who", OUTSIDERS)
async def test_outsiders_see_no_agenda(client, setup, factory, who):
    o = setup
    item = await factory.agenda_item(o.meeting, o.report)
    m = o.meeting.id
    responses = [
        await client.get(f"/v1/meetings/{m}/agenda", headers=o.h[who]),
        await client.post(f"/v1/meetings/{m}/agenda", headers=o.h[who], json={"body": "x"}),
        await client.patch(f"/v1/agenda-items/{item.id}", headers=o.h[who], json={"done": True}),
        await client.delete(f"/v1/agenda-items/{item.id}", headers=o.h[who]),
    ]
    assert [r.status_code for r in responses] == [404] * 4
    assert await agenda(client, o.h["report"], m) == [("a talking point", 0)]


async def test_cancelled_meeting_takes_no_new_items(client, setup):
    o = setup
    assert (await client.post(f"/v1/meetings/{o.meeting.id}:cancel", headers=o.h["report"])).status_code == 200
    r = await client.post(f"/v1/meetings/{o.meeting.id}/agenda", headers=o.h["report"], json={"body": "late"})
    assert r.status_code == 409


async def test_deleting_a_carried_copy_resolves_the_point_for_good(client, setup, factory, clock):
    o = setup
    source = await factory.agenda_item(o.meeting, o.report, body="drop me")
    nxt = await factory.meeting(o.pair, start=T0 + timedelta(days=8))
    await client.post(f"/v1/meetings/{o.meeting.id}:cancel", headers=o.h["manager"])
    [copy] = (await client.get(f"/v1/meetings/{nxt.id}/agenda", headers=o.h["report"])).json()["items"]
    assert copy["carried_from_id"] == source.id
    assert (await client.delete(f"/v1/agenda-items/{copy['id']}", headers=o.h["report"])).status_code == 204
    old = (await client.get(f"/v1/meetings/{o.meeting.id}/agenda", headers=o.h["report"])).json()["items"]
    assert [(a["id"], a["done"]) for a in old] == [(source.id, True)]
    # later meetings do not bring it back
    clock.set(nxt.end)
    r = await client.post(
        f"/v1/pairs/{o.pair.id}/meetings",
        headers=o.h["report"],
        json={"start": "2026-03-20T09:00:00Z", "end": "2026-03-20T09:30:00Z"},
    )
    assert (await client.get(f"/v1/meetings/{r.json()['id']}/agenda", headers=o.h["report"])).json()["items"] == []
