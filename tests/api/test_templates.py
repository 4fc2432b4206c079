from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import T0

PROBLEM = "application/problem+json"
SECTIONS = [
    {"title": "Check-in", "minutes": 5, "prompts": ["How are you?", "Energy level?"]},
    {"title": "Blockers", "minutes": 15, "prompts": []},
]


async def create(client, headers, name="Weekly sync", sections=SECTIONS, **kw):
    return await client.post("/v1/templates", headers=headers, json={"name": name, "sections": sections, **kw})


async def test_anyone_authenticated_creates_and_reads_templates(client, factory, clock):
    member = await factory.person(role="hr")
    h = await factory.token(member)
    r = await create(client, h, name="  Weekly sync  ", description="Our default")
    assert r.status_code == 201, r.text
    t = r.json()
    assert (t["name"], t["description"], t["created_by"], t["created_at"]) == (
        "Weekly sync",
        "Our default",
        member.id,
        "2026-03-02T09:00:00Z",
    )
    assert t["sections"] == SECTIONS
    r = await client.get(f"/v1/templates/{t['id']}", headers=await factory.token(await factory.person()))
    assert r.status_code == 200 and r.json() == t
    assert (await client.get("/v1/templates/999999", headers=h)).status_code == 404


async def test_duplicate_name_is_409_ignoring_case(client, factory):
    h = await factory.token(await factory.person())
    assert (await create(client, h, name="Skip level")).status_code == 201
    r = await create(client, h, name="SKIP LEVEL")
    assert r.status_code == 409 and r.headers["content-type"].startswith(PROBLEM)
    r = await client.get("/v1/templates", headers=h, params={"q": "skip"})
    assert [t["name"] for t in r.json()["items"]] == ["Skip level"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "sections": []},
        {"name": "x", "sections": [{"title": "s", "minutes": 5}] * 21},
        {"name": "x", "sections": [{"title": "t" * 101, "minutes": 5}]},
        {"name": "x", "sections": [{"title": "", "minutes": 5}]},
        {"name": "x", "sections": [{"title": "s", "minutes": 0}]},
        {"name": "x", "sections": [{"title": "s", "minutes": 121}]},
        {"name": "x", "sections": [{"title": "s", "minutes": 5, "prompts": "not a list"}]},
        {"name": "x", "sections": [{"title": "s", "minutes": 5, "prompts": [""]}]},
        {"name": "x", "sections": [{"title": "s", "minutes": 5, "notes": "?"}]},
        {"name": "", "sections": [{"title": "s", "minutes": 5}]},
        {"sections": [{"title": "s", "minutes": 5}]},
        {"name": "x", "sections": [{"title": "s", "minutes": 5}], "public": True},
    ],
)
async def test_invalid_template_is_422(client, factory, body):
    h = await factory.token(await factory.person())
    r = await client.post("/v1/templates", headers=h, json=body)
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM) and r.json()["errors"]
    assert (await client.get("/v1/templates", headers=h, params={"q": "x"})).json()["items"] == []


async def test_section_limits_are_inclusive(client, factory):
    h = await factory.token(await factory.person())
    sections = [{"title": "t" * 100, "minutes": 120, "prompts": ["p"] * 20}] + [{"title": "s", "minutes": 1}] * 19
    r = await create(client, h, name="Edge", sections=sections)
    assert r.status_code == 201, r.text
    assert len(r.json()["sections"]) == 20 and r.json()["sections"][1]["prompts"] == []


async def test_list_pages_in_id_order(client, factory):
    h = await factory.token(await factory.person())
    made = [(await factory.template(name=f"Paged {i}")).id for i in range(5)]
    seen, cursor = [], None
    while True:
        r = await client.get(
            "/v1/templates", headers=h, params={"limit": 2, "q": "paged", **({"cursor": cursor} if cursor else {})}
        )
        seen += [t["id"] for t in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert seen == made
    assert (await client.get("/v1/templates", headers=h, params={"q": "%"})).json()["items"] == []
    assert (await client.get("/v1/templates", headers=h, params={"cursor": "??"})).status_code == 400


async def test_templates_need_authentication(client):
    assert (await client.get("/v1/templates")).status_code == 401
    assert (await client.post("/v1/templates", json={"name": "x", "sections": SECTIONS})).status_code == 401


# --- applying ---------------------------------------------------------------------------


async def test_apply_appends_one_shared_item_per_section(client, factory, clock):
    o = await factory.org()
    m = await factory.meeting(o.pair)
    await factory.agenda_item(m, o.manager, body="existing")
    t = await factory.template(sections=SECTIONS)
    clock.set(T0 + timedelta(minutes=3))
    r = await client.post(f"/v1/meetings/{m.id}:apply-template", headers=o.h["report"], json={"template_id": t.id})
    assert r.status_code == 200, r.text
    assert (r.json()["template_id"], r.json()["updated_at"]) == (t.id, "2026-03-02T09:03:00Z")
    d = (await client.get(f"/v1/meetings/{m.id}", headers=o.h["manager"])).json()
    assert [(a["body"], a["minutes"], a["author_id"], a["private"]) for a in d["agenda"]] == [
        ("Check-in\n- How are you?\n- Energy level?", 5, o.report.id, False),
        ("Blockers", 15, o.report.id, False),
        ("existing", None, o.manager.id, False),
    ]
    assert d["template_id"] == t.id


async def test_applying_the_same_template_twice_is_409(client, factory):
    o = await factory.org()
    m = await factory.meeting(o.pair)
    t, other = await factory.template(), await factory.template()
    url = f"/v1/meetings/{m.id}:apply-template"
    assert (await client.post(url, headers=o.h["report"], json={"template_id": t.id})).status_code == 200
    r = await client.post(url, headers=o.h["manager"], json={"template_id": t.id})
    assert r.status_code == 409 and r.headers["content-type"].startswith(PROBLEM)
    assert (await client.post(url, headers=o.h["manager"], json={"template_id": other.id})).status_code == 200
    d = (await client.get(f"/v1/meetings/{m.id}", headers=o.h["manager"])).json()
    assert len(d["agenda"]) == 2 and d["template_id"] == other.id


async def test_apply_errors(client, factory):
    o = await factory.org()
    m = await factory.meeting(o.pair)
    url = f"/v1/meetings/{m.id}:apply-template"
    r = await client.post(url, headers=o.h["report"], json={"template_id": 999999})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "template_id"
    for body in ({}, {"template_id": "abc"}, {"template_id": 1, "extra": 1}):
        assert (await client.post(url, headers=o.h["report"], json=body)).status_code == 422
    t = await factory.template()
    cancelled = await factory.meeting(o.pair, status="cancelled")
    r = await client.post(
        f"/v1/meetings/{cancelled.id}:apply-template", headers=o.h["report"], json={"template_id": t.id}
    )
    assert r.status_code == 409
    assert (await client.get(f"/v1/meetings/{m.id}", headers=o.h["report"])).json()["template_id"] is None


@pytest.mark.parametrize("who", ["other_report", "boss", "member", "hr", "admin"])
async def test_only_participants_apply_templates(client, factory, who):
    o = await factory.org()
    m = await factory.meeting(o.pair)
    t = await factory.template()
    r = await client.post(f"/v1/meetings/{m.id}:apply-template", headers=o.h[who], json={"template_id": t.id})
    assert r.status_code == 404
    assert (await client.get(f"/v1/meetings/{m.id}", headers=o.h["report"])).json()["agenda"] == []


# --- editing and deleting ---------------------------------------------------------------------------------


async def test_creator_edits_and_reorders_sections(client, factory, clock):
    author = await factory.person()
    h = await factory.token(author)
    t = (await create(client, h, name="Weekly sync")).json()
    assert t["builtin"] is False
    clock.set(T0 + timedelta(minutes=5))
    reordered = [SECTIONS[1], {**SECTIONS[0], "minutes": 10}]
    r = await client.patch(f"/v1/templates/{t['id']}", headers=h, json={"sections": reordered})
    assert r.status_code == 200, r.text
    assert r.json()["sections"] == reordered  # the list's order is the template's order
    assert (r.json()["name"], r.json()["updated_at"]) == ("Weekly sync", "2026-03-02T09:05:00Z")
    r = await client.patch(f"/v1/templates/{t['id']}", headers=h, json={"name": "Weekly", "description": "new"})
    assert (r.json()["name"], r.json()["description"], r.json()["sections"]) == ("Weekly", "new", reordered)
    assert (await client.get(f"/v1/templates/{t['id']}", headers=h)).json() == r.json()


async def test_applied_template_orders_the_agenda_as_edited(client, factory):
    o = await factory.org()
    t = (await create(client, o.h["manager"], name="Ordered")).json()
    await client.patch(f"/v1/templates/{t['id']}", headers=o.h["manager"], json={"sections": SECTIONS[::-1]})
    meeting = await factory.meeting(o.pair)
    r = await client.post(
        f"/v1/meetings/{meeting.id}:apply-template", headers=o.h["manager"], json={"template_id": t["id"]}
    )
    assert r.status_code == 200, r.text
    agenda = (await client.get(f"/v1/meetings/{meeting.id}/agenda", headers=o.h["report"])).json()["items"]
    assert [a["body"].splitlines()[0] for a in agenda] == ["Blockers", "Check-in"]


async def test_only_the_creator_or_an_admin_edits_or_deletes(client, factory):
    author, other = await factory.person(), await factory.person()
    admin = await factory.person(role="admin")
    h_author, h_other, h_admin = [await factory.token(p) for p in (author, other, admin)]
    t = (await create(client, h_author, name="Mine")).json()
    for method, kw in (("PATCH", {"json": {"name": "Theirs"}}), ("DELETE", {})):
        r = await client.request(method, f"/v1/templates/{t['id']}", headers=h_other, **kw)
        assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM)
    assert (await client.get(f"/v1/templates/{t['id']}", headers=h_other)).json() == t
    r = await client.patch(f"/v1/templates/{t['id']}", headers=h_admin, json={"name": "Renamed by admin"})
    assert r.status_code == 200 and r.json()["name"] == "Renamed by admin"
    assert r.json()["created_by"] == author.id
    t2 = (await create(client, h_author, name="Second")).json()
    assert (await client.delete(f"/v1/templates/{t2['id']}", headers=h_author)).status_code == 204
    assert (await client.delete(f"/v1/templates/{t['id']}", headers=h_admin)).status_code == 204
    for tid in (t["id"], t2["id"]):
        assert (await client.get(f"/v1/templates/{tid}", headers=h_author)).status_code == 404
        assert (await client.delete(f"/v1/templates/{tid}", headers=h_admin)).status_code == 404
        assert (await client.patch(f"/v1/templates/{tid}", headers=h_admin, json={"name": "x"})).status_code == 404


async def test_builtin_templates_are_protected(client, factory):
    admin = await factory.person(role="admin")
    h = await factory.token(admin)
    builtin = await factory.template(name="Shipped", builtin=True)
    for method, kw in (("PATCH", {"json": {"description": "mine now"}}), ("DELETE", {})):
        r = await client.request(method, f"/v1/templates/{builtin.id}", headers=h, **kw)
        assert r.status_code == 409 and r.headers["content-type"].startswith(PROBLEM)
        assert "copy it: POST /v1/templates" in r.json()["detail"]
    r = await client.get(f"/v1/templates/{builtin.id}", headers=h)
    assert (r.json()["builtin"], r.json()["description"]) == (True, "")
    # the documented way: copy it, then edit the copy
    copy = await create(client, h, name="Shipped (copy)", sections=r.json()["sections"])
    assert copy.status_code == 201 and copy.json()["builtin"] is False
    r = await client.patch(f"/v1/templates/{copy.json()['id']}", headers=h, json={"description": "mine now"})
    assert r.status_code == 200


async def test_edit_refuses_a_taken_name_and_bad_sections(client, factory):
    h = await factory.token(await factory.person())
    await create(client, h, name="Taken")
    t = (await create(client, h, name="Free")).json()
    r = await client.patch(f"/v1/templates/{t['id']}", headers=h, json={"name": "TAKEN"})
    assert r.status_code == 409
    r = await client.patch(f"/v1/templates/{t['id']}", headers=h, json={"name": "FREE"})  # its own name, recased
    assert r.status_code == 200 and r.json()["name"] == "FREE"
    for body in ({"sections": []}, {"name": None}, {"sections": None}, {"name": ""}, {"builtin": False}, {"x": 1}):
        r = await client.patch(f"/v1/templates/{t['id']}", headers=h, json=body)
        assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM), body
    assert (await client.get(f"/v1/templates/{t['id']}", headers=h)).json()["sections"] == SECTIONS


async def test_deleting_a_template_keeps_the_agendas_it_made(client, factory):
    o = await factory.org()
    t = (await create(client, o.h["report"], name="Gone soon")).json()
    meeting = await factory.meeting(o.pair)
    await client.post(f"/v1/meetings/{meeting.id}:apply-template", headers=o.h["report"], json={"template_id": t["id"]})
    assert (await client.delete(f"/v1/templates/{t['id']}", headers=o.h["report"])).status_code == 204
    r = await client.get(f"/v1/meetings/{meeting.id}", headers=o.h["report"])
    assert r.json()["template_id"] is None and len(r.json()["agenda"]) == 2


async def test_edited_sections_keep_their_defaults(client, factory):
    h = await factory.token(await factory.person())
    t = (await create(client, h, name="Defaults")).json()
    r = await client.patch(f"/v1/templates/{t['id']}", headers=h, json={"sections": [{"title": "Only", "minutes": 5}]})
    assert r.status_code == 200 and r.json()["sections"] == [{"title": "Only", "minutes": 5, "prompts": []}]
