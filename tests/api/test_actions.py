from __future__ import annotations

from datetime import timedelta

import pytest

from service.api.pagination import encode_cursor
from tests.conftest import T0

PROBLEM = "application/problem+json"


@pytest.fixture
async def org(factory):
    o = await factory.org()
    o.meeting = await factory.meeting(o.pair, start=T0 - timedelta(days=7))
    return o


def listing(pair) -> str:
    return f"/v1/pairs/{pair.id}/action-items"


def raise_in(meeting) -> str:
    return f"/v1/meetings/{meeting.id}/action-items"


async def ids(client, pair, headers, **params) -> list[int]:
    r = await client.get(listing(pair), headers=headers, params=params)
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["items"]]


async def test_raise_action_item_in_a_meeting(client, org):
    r = await client.post(
        raise_in(org.meeting),
        headers=org.h["manager"],
        json={"body": " Draft the promo case ", "owner_id": org.report.id, "due_date": "2026-03-20"},
    )
    assert r.status_code == 201, r.text
    item = r.json()
    assert item == {
        "id": item["id"],
        "pair_id": org.pair.id,
        "meeting_id": org.meeting.id,
        "owner_id": org.report.id,
        "body": "Draft the promo case",
        "due_date": "2026-03-20",
        "done_at": None,
        "created_at": "2026-03-02T09:00:00Z",
        "updated_at": "2026-03-02T09:00:00Z",
    }
    assert await ids(client, org.pair, org.h["report"]) == [item["id"]]


async def test_open_items_carry_over_to_later_meetings_until_done(client, org, factory, clock):
    r = await client.post(
        raise_in(org.meeting), headers=org.h["report"], json={"body": "book the training", "owner_id": org.manager.id}
    )
    item = r.json()["id"]
    # Two meetings later, still open: every later meeting's carry-over list has it.
    await factory.meeting(org.pair, start=T0)
    clock.set(T0 + timedelta(days=7, hours=1))
    await factory.meeting(org.pair, start=T0 + timedelta(days=7))
    assert await ids(client, org.pair, org.h["manager"]) == [item]

    r = await client.patch(f"/v1/action-items/{item}", json={"done": True}, headers=org.h["manager"])
    assert r.status_code == 200 and r.json()["done_at"] == "2026-03-09T10:00:00Z"
    assert await ids(client, org.pair, org.h["manager"]) == []
    assert await ids(client, org.pair, org.h["manager"], status="done") == [item]
    assert await ids(client, org.pair, org.h["manager"], status="all") == [item]

    r = await client.patch(f"/v1/action-items/{item}", json={"done": False}, headers=org.h["report"])
    assert r.status_code == 200 and r.json()["done_at"] is None
    assert await ids(client, org.pair, org.h["report"]) == [item]
    assert await ids(client, org.pair, org.h["report"], status="done") == []


async def test_action_items_belong_to_their_pair_only(client, org, factory):
    mine = await factory.action_item(org.pair, org.report)
    other_meeting = await factory.meeting(org.other_pair)
    theirs = await client.post(
        raise_in(other_meeting), headers=org.h["other_manager"], json={"body": "x", "owner_id": org.other_report.id}
    )
    assert theirs.json()["pair_id"] == org.other_pair.id
    assert await ids(client, org.pair, org.h["manager"], status="all") == [mine.id]


async def test_patch_changes_only_the_fields_sent(client, org, factory, clock):
    item = await factory.action_item(org.pair, org.report, meeting_id=org.meeting.id, body="old", due_date=T0.date())
    url = f"/v1/action-items/{item.id}"
    clock.set(T0 + timedelta(hours=2))
    r = await client.patch(url, json={"body": "new"}, headers=org.h["report"])
    assert r.status_code == 200, r.text
    assert (r.json()["body"], r.json()["due_date"], r.json()["owner_id"]) == ("new", "2026-03-02", org.report.id)
    assert r.json()["updated_at"] == "2026-03-02T11:00:00Z" and r.json()["meeting_id"] == org.meeting.id

    r = await client.patch(url, json={"due_date": None, "owner_id": org.manager.id}, headers=org.h["manager"])
    assert (r.json()["body"], r.json()["due_date"], r.json()["owner_id"]) == ("new", None, org.manager.id)

    # Completing twice keeps the first completion time.
    r = await client.patch(url, json={"done": True}, headers=org.h["manager"])
    done_at = r.json()["done_at"]
    assert done_at == "2026-03-02T11:00:00Z"
    clock.set(T0 + timedelta(days=1))
    r = await client.patch(url, json={"done": True}, headers=org.h["manager"])
    assert r.json()["done_at"] == done_at and r.json()["updated_at"] == "2026-03-02T11:00:00Z"
    # An empty patch changes nothing, not even updated_at.
    r = await client.patch(url, json={}, headers=org.h["manager"])
    assert r.status_code == 200 and r.json()["updated_at"] == "2026-03-02T11:00:00Z"


async def test_owner_must_be_a_participant(client, org, factory):
    item = await factory.action_item(org.pair, org.report)
    for owner in (org.boss.id, org.other_report.id, org.admin.id, 999_999):
        r = await client.post(raise_in(org.meeting), headers=org.h["manager"], json={"body": "x", "owner_id": owner})
        assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
        assert [e["field"] for e in r.json()["errors"]] == ["body.owner_id"]
        r = await client.patch(f"/v1/action-items/{item.id}", headers=org.h["manager"], json={"owner_id": owner})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.owner_id"
    r = await client.get(listing(org.pair), headers=org.h["manager"], params={"status": "all"})
    assert [(i["id"], i["owner_id"]) for i in r.json()["items"]] == [(item.id, org.report.id)]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"owner_id": 1}, "body.body"),
        ({"body": "   ", "owner_id": 1}, "body.body"),
        ({"body": "x" * 2001, "owner_id": 1}, "body.body"),
        ({"body": "x"}, "body.owner_id"),
        ({"body": "x", "owner_id": "me"}, "body.owner_id"),
        ({"body": "x", "owner_id": 1, "due_date": "2026-02-30"}, "body.due_date"),
        ({"body": "x", "owner_id": 1, "done": True}, "body.done"),
    ],
)
async def test_create_validation(client, org, payload, field):
    r = await client.post(raise_in(org.meeting), headers=org.h["manager"], json=payload)
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert await ids(client, org.pair, org.h["manager"], status="all") == []


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"body": None}, "body.body"),
        ({"owner_id": None}, "body.owner_id"),
        ({"done": None}, "body.done"),
        ({"done": "maybe"}, "body.done"),
        ({"body": ""}, "body.body"),
        ({"pair_id": 3}, "body.pair_id"),
    ],
)
async def test_patch_validation(client, org, factory, payload, field):
    item = await factory.action_item(org.pair, org.report, body="keep")
    r = await client.patch(f"/v1/action-items/{item.id}", headers=org.h["manager"], json=payload)
    assert r.status_code == 422
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    r = await client.get(listing(org.pair), headers=org.h["manager"])
    assert [(i["body"], i["done_at"]) for i in r.json()["items"]] == [("keep", None)]


async def test_delete(client, org, factory):
    keep = await factory.action_item(org.pair, org.report)
    gone = await factory.action_item(org.pair, org.manager)
    r = await client.delete(f"/v1/action-items/{gone.id}", headers=org.h["report"])
    assert r.status_code == 204 and r.content == b""
    assert await ids(client, org.pair, org.h["report"], status="all") == [keep.id]
    assert (await client.delete(f"/v1/action-items/{gone.id}", headers=org.h["report"])).status_code == 404
    assert (
        await client.patch(f"/v1/action-items/{gone.id}", json={"done": True}, headers=org.h["report"])
    ).status_code == 404


@pytest.mark.parametrize("who", ["other_report", "other_manager", "boss", "member", "hr", "admin"])
async def test_non_participants_get_404_everywhere(client, org, factory, who):
    item = await factory.action_item(org.pair, org.report, body="secret")
    h = org.h[who]
    for r in (
        await client.get(listing(org.pair), headers=h),
        await client.post(raise_in(org.meeting), headers=h, json={"body": "x", "owner_id": org.report.id}),
        await client.patch(f"/v1/action-items/{item.id}", headers=h, json={"done": True}),
        await client.delete(f"/v1/action-items/{item.id}", headers=h),
    ):
        assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM), r.text
        assert "secret" not in r.text
    r = await client.get(listing(org.pair), headers=org.h["report"])
    assert [(i["body"], i["done_at"]) for i in r.json()["items"]] == [("secret", None)]


async def test_unknown_ids_and_auth(client, org):
    h = org.h["manager"]
    assert (await client.get("/v1/pairs/999999/action-items", headers=h)).status_code == 404
    assert (
        await client.post("/v1/meetings/999999/action-items", headers=h, json={"body": "x", "owner_id": org.report.id})
    ).status_code == 404
    assert (await client.patch("/v1/action-items/999999", headers=h, json={})).status_code == 404
    for huge in (2**63, 10**30):  # beyond BIGINT: invalid input, never a driver error
        assert (await client.get(f"/v1/pairs/{huge}/action-items", headers=h)).status_code == 422
        assert (await client.delete(f"/v1/action-items/{huge}", headers=h)).status_code == 422
        assert (await client.get(listing(org.pair), headers=h, params={"owner_id": huge})).status_code == 422
    assert (await client.get(listing(org.pair))).status_code == 401
    assert (await client.post(raise_in(org.meeting), json={"body": "x", "owner_id": org.report.id})).status_code == 401


async def test_pagination_and_filters(client, org, factory):
    made = []
    for i in range(5):
        owner = org.report if i % 2 == 0 else org.manager
        made.append(await factory.action_item(org.pair, owner, done_at=T0 if i == 4 else None))
    h = org.h["manager"]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "status": "all", **({"cursor": cursor} if cursor else {})}
        page = (await client.get(listing(org.pair), headers=h, params=params)).json()
        assert len(page["items"]) <= 2
        seen += [i["id"] for i in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [m.id for m in made]

    assert await ids(client, org.pair, h) == [m.id for m in made[:4]]
    assert await ids(client, org.pair, h, owner_id=org.report.id) == [made[0].id, made[2].id]
    assert await ids(client, org.pair, h, owner_id=org.report.id, status="done") == [made[4].id]
    assert await ids(client, org.pair, h, owner_id=org.boss.id, status="all") == []

    for params in ({"status": "pending"}, {"limit": 0}, {"limit": 201}, {"owner_id": "x"}):
        r = await client.get(listing(org.pair), headers=h, params=params)
        assert r.status_code == 422 and r.json()["errors"], params
    for bad in (
        "!!",
        encode_cursor(["x"]),
        encode_cursor([1, 2]),
        encode_cursor([True]),
        encode_cursor([1.5]),
        encode_cursor([2**64]),
        encode_cursor({"id": 1}),
    ):
        r = await client.get(listing(org.pair), headers=h, params={"cursor": bad})
        assert r.status_code == 400 and r.headers["content-type"].startswith(PROBLEM), bad
