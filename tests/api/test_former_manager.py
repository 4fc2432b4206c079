"""After a reporting-line change the former manager reads the 1:1s they took part
in, changes none of them, and sees none that came after."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import T0

DAY = timedelta(days=1)


@pytest.fixture
async def moved(client, factory, clock):
    """Maya managed Li until T0, when Li moved to Noor (people import, as an admin does)."""
    maya, noor = await factory.person(), await factory.person()
    li = await factory.person(manager=maya)
    pair = await factory.pair(maya, li)
    before = await factory.meeting(pair, start=T0 - 7 * DAY, status="held")
    agenda = await factory.agenda_item(before, li)
    action = await factory.action_item(pair, li)
    admin = await factory.person(role="admin")
    body = {"people": [{"email": li.email, "name": li.name, "manager": noor.email}]}
    r = await client.post("/v1/people:import", json=body, headers=await factory.token(admin))
    assert r.status_code == 200, r.text
    clock.set(T0 + DAY)
    after = await factory.meeting(pair, start=T0 + 2 * DAY)  # e.g. a series that went on
    return dict(maya=maya, li=li, noor=noor, pair=pair, before=before, after=after, agenda=agenda, action=action)


async def test_the_former_manager_reads_what_came_before(client, factory, moved):
    h = await factory.token(moved["maya"])
    before, pair = moved["before"], moved["pair"]
    for url in (
        f"/v1/meetings/{before.id}",
        f"/v1/meetings/{before.id}/agenda",
        f"/v1/pairs/{pair.id}",
        f"/v1/pairs/{pair.id}/action-items",
    ):
        assert (await client.get(url, headers=h)).status_code == 200, url
    listed = (await client.get(f"/v1/pairs/{pair.id}/meetings", headers=h)).json()["items"]
    assert [m["id"] for m in listed] == [before.id]
    assert (await client.get(f"/v1/meetings/{moved['after'].id}", headers=h)).status_code == 404


async def test_the_former_manager_changes_nothing(client, factory, moved):
    h = await factory.token(moved["maya"])
    before, pair = moved["before"], moved["pair"]
    attempts = [
        ("PUT", f"/v1/meetings/{before.id}/notes/shared", {"body": "x"}),
        ("PUT", f"/v1/meetings/{before.id}/notes/private", {"body": "x"}),
        ("POST", f"/v1/meetings/{before.id}/agenda", {"body": "x"}),
        ("PATCH", f"/v1/agenda-items/{moved['agenda'].id}", {"done": True}),
        ("DELETE", f"/v1/agenda-items/{moved['agenda'].id}", None),
        ("PUT", f"/v1/meetings/{before.id}/feedback", {"rating": 1}),
        ("POST", f"/v1/meetings/{before.id}/action-items", {"body": "x", "owner_id": moved["maya"].id}),
        ("PATCH", f"/v1/action-items/{moved['action'].id}", {"done": True}),
        ("DELETE", f"/v1/action-items/{moved['action'].id}", None),
        ("PATCH", f"/v1/pairs/{pair.id}", {"cadence_days": 7}),
        ("PATCH", f"/v1/meetings/{before.id}", {"title": "x"}),
        ("POST", f"/v1/meetings/{before.id}:cancel", None),
    ]
    for method, url, body in attempts:
        r = await client.request(method, url, json=body, headers=h)
        assert r.status_code == 403, (method, url, r.text)
        assert "read-only for the former manager" in r.json()["detail"]
    # The report keeps their own history.
    li = await factory.token(moved["li"])
    r = await client.put(f"/v1/meetings/{before.id}/notes/private", json={"body": "mine"}, headers=li)
    assert r.status_code == 200, r.text
    r = await client.patch(f"/v1/action-items/{moved['action'].id}", json={"done": True}, headers=li)
    assert r.status_code == 200, r.text


async def test_the_new_manager_sees_none_of_the_old_pairs_content(client, factory, moved):
    h = await factory.token(moved["noor"])
    assert (await client.get(f"/v1/meetings/{moved['before'].id}", headers=h)).status_code == 404
    assert (await client.get(f"/v1/pairs/{moved['pair'].id}/action-items", headers=h)).status_code == 404
