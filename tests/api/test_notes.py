from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from service.db.models import SharedNote
from tests.conftest import T0

PROBLEM = "application/problem+json"


def shared(meeting) -> str:
    return f"/v1/meetings/{meeting.id}/notes/shared"


def private(meeting) -> str:
    return f"/v1/meetings/{meeting.id}/notes/private"


@pytest.fixture
async def org(factory):
    o = await factory.org()
    o.meeting = await factory.meeting(o.pair)
    return o


# --- shared notes -----------------------------------------------------------------------------------------


async def test_unwritten_shared_note_reads_as_empty_version_0(client, org):
    r = await client.get(shared(org.meeting), headers=org.h["report"])
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"0"'
    assert r.json() == {"meeting_id": org.meeting.id, "body": "", "version": 0, "updated_by": None, "updated_at": None}


async def test_create_then_edit_with_if_match_bumps_version(client, org, clock):
    r = await client.put(shared(org.meeting), json={"body": "# Agenda\n  - growth\n"}, headers=org.h["manager"])
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"1"'
    assert r.json() == {
        "meeting_id": org.meeting.id,
        "body": "# Agenda\n  - growth\n",
        "version": 1,
        "updated_by": org.manager.id,
        "updated_at": "2026-03-02T09:00:00Z",
    }

    r = await client.get(shared(org.meeting), headers=org.h["report"])
    assert r.headers["etag"] == '"1"' and r.json()["body"] == "# Agenda\n  - growth\n"

    clock.set(T0 + timedelta(minutes=5))
    r = await client.put(
        shared(org.meeting), json={"body": "v2"}, headers={**org.h["report"], "If-Match": r.headers["etag"]}
    )
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"'
    body = r.json()
    assert (body["version"], body["updated_by"], body["updated_at"]) == (2, org.report.id, "2026-03-02T09:05:00Z")
    r = await client.get(shared(org.meeting), headers=org.h["manager"])
    assert r.json()["body"] == "v2" and r.headers["etag"] == '"2"'


async def test_write_to_existing_note_without_if_match_is_428(client, org, factory):
    await factory.shared_note(org.meeting, org.manager, body="original")
    for headers in ({}, {"If-Match": "*"}):
        r = await client.put(
            shared(org.meeting), json={"body": "blind overwrite"}, headers={**org.h["report"], **headers}
        )
        assert r.status_code == 428, r.text
        assert r.headers["content-type"].startswith(PROBLEM) and r.json()["status"] == 428
    r = await client.get(shared(org.meeting), headers=org.h["report"])
    assert r.json()["body"] == "original" and r.json()["version"] == 1


@pytest.mark.parametrize("stale", ['"0"', '"2"', 'W/"1"', '"one"', ""])
async def test_stale_or_foreign_if_match_is_412_and_writes_nothing(client, org, factory, stale):
    await factory.shared_note(org.meeting, org.manager, body="original")
    r = await client.put(shared(org.meeting), json={"body": "mine"}, headers={**org.h["report"], "If-Match": stale})
    assert r.status_code == 412, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert "someone else changed" in r.json()["detail"]
    r = await client.get(shared(org.meeting), headers=org.h["report"])
    assert (r.json()["body"], r.json()["version"]) == ("original", 1)


async def test_if_match_may_list_several_tags(client, org, factory):
    await factory.shared_note(org.meeting, org.manager, version=4)
    r = await client.put(shared(org.meeting), json={"body": "x"}, headers={**org.h["report"], "If-Match": '"3", "4"'})
    assert r.status_code == 200 and r.headers["etag"] == '"5"'


async def test_first_creation_preconditions(client, org, factory):
    m2 = await factory.meeting(org.pair, start=T0 + timedelta(days=8))
    m3 = await factory.meeting(org.pair, start=T0 + timedelta(days=15))
    # If-None-Match: * creates once, then refuses.
    r = await client.put(shared(org.meeting), json={"body": "a"}, headers={**org.h["manager"], "If-None-Match": "*"})
    assert r.status_code == 200 and r.headers["etag"] == '"1"'
    r = await client.put(shared(org.meeting), json={"body": "b"}, headers={**org.h["report"], "If-None-Match": "*"})
    assert r.status_code == 412 and r.headers["content-type"].startswith(PROBLEM)
    # The ETag of the empty note ("0") is a valid If-Match for the first write.
    r = await client.put(shared(m2), json={"body": "a"}, headers={**org.h["manager"], "If-Match": '"0"'})
    assert r.status_code == 200 and r.json()["version"] == 1
    # Any other version, or `*`, cannot match a note that does not exist.
    for tag in ('"1"', "*"):
        r = await client.put(shared(m3), json={"body": "a"}, headers={**org.h["manager"], "If-Match": tag})
        assert r.status_code == 412, (tag, r.text)
    assert (await client.get(shared(m3), headers=org.h["manager"])).json()["version"] == 0


async def test_sequential_editors_cannot_lose_each_others_edits(client, org):
    await client.put(shared(org.meeting), json={"body": "start"}, headers=org.h["manager"])
    seen_by_manager = (await client.get(shared(org.meeting), headers=org.h["manager"])).headers["etag"]
    seen_by_report = (await client.get(shared(org.meeting), headers=org.h["report"])).headers["etag"]

    r = await client.put(
        shared(org.meeting), json={"body": "manager's edit"}, headers={**org.h["manager"], "If-Match": seen_by_manager}
    )
    assert r.status_code == 200
    r = await client.put(
        shared(org.meeting), json={"body": "report's edit"}, headers={**org.h["report"], "If-Match": seen_by_report}
    )
    assert r.status_code == 412
    # The report reloads, merges and retries.
    r = await client.get(shared(org.meeting), headers=org.h["report"])
    assert r.json()["body"] == "manager's edit"
    r = await client.put(
        shared(org.meeting),
        json={"body": "manager's edit + report's edit"},
        headers={**org.h["report"], "If-Match": r.headers["etag"]},
    )
    assert r.status_code == 200 and r.json()["version"] == 3 and r.json()["updated_by"] == org.report.id


async def test_concurrent_editors_with_the_same_etag_exactly_one_wins(app, client, org):
    await client.put(shared(org.meeting), json={"body": "start"}, headers=org.h["manager"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as second:
        editors = [(client, "manager"), (second, "report")] * 3
        results = await asyncio.gather(
            *(
                c.put(
                    shared(org.meeting), json={"body": f"edit {i} by {who}"}, headers={**org.h[who], "If-Match": '"1"'}
                )
                for i, (c, who) in enumerate(editors)
            )
        )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] + [412] * (len(editors) - 1), [r.text for r in results]
    winner = next(r for r in results if r.status_code == 200).json()
    stored = (await client.get(shared(org.meeting), headers=org.h["report"])).json()
    assert stored == winner and stored["version"] == 2


async def test_edit_committed_while_a_request_is_in_flight_makes_it_412(client, org, factory, sessions):
    """Another editor's transaction has updated the row but not committed yet: the
    request must wait for it and then fail, not overwrite it (the conditional UPDATE)."""
    await factory.shared_note(org.meeting, org.manager, body="original")
    async with sessions() as other:
        await other.execute(
            update(SharedNote).where(SharedNote.meeting_id == org.meeting.id).values(body="other editor", version=2)
        )
        request = asyncio.create_task(
            client.put(shared(org.meeting), json={"body": "mine"}, headers={**org.h["report"], "If-Match": '"1"'})
        )
        await asyncio.sleep(0.3)
        assert not request.done()  # blocked behind the other editor's transaction
        await other.commit()
    r = await request
    assert r.status_code == 412, r.text
    r = await client.get(shared(org.meeting), headers=org.h["report"])
    assert (r.json()["body"], r.headers["etag"]) == ("other editor", '"2"')


@pytest.mark.parametrize("create_only", [False, True])
async def test_concurrent_first_creations_exactly_one_wins(app, client, org, create_only):
    extra = {"If-None-Match": "*"} if create_only else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as second:
        results = await asyncio.gather(
            *(
                c.put(shared(org.meeting), json={"body": f"first {i}"}, headers={**org.h[who], **extra})
                for i, (c, who) in enumerate([(client, "manager"), (second, "report")] * 2)
            )
        )
    statuses = sorted(r.status_code for r in results)
    # Losers either lost the insert race (412) or ran after the winner and sent no
    # If-Match for an existing note (428); never a 409 or a 500.
    assert statuses[0] == 200 and set(statuses[1:]) <= ({412} if create_only else {412, 428}), [r.text for r in results]
    stored = (await client.get(shared(org.meeting), headers=org.h["manager"])).json()
    assert stored == next(r for r in results if r.status_code == 200).json() and stored["version"] == 1


@pytest.mark.parametrize("who", ["other_report", "other_manager", "boss", "member", "hr", "admin"])
async def test_shared_note_is_404_for_non_participants(client, org, factory, who):
    await factory.shared_note(org.meeting, org.manager, body="secret")
    r = await client.get(shared(org.meeting), headers=org.h[who])
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    assert "secret" not in r.text
    r = await client.put(shared(org.meeting), json={"body": "vandal"}, headers={**org.h[who], "If-Match": '"1"'})
    assert r.status_code == 404
    r = await client.get(shared(org.meeting), headers=org.h["manager"])
    assert (r.json()["body"], r.json()["version"]) == ("secret", 1)


async def test_shared_note_unknown_meeting_and_no_auth(client, org):
    assert (await client.get("/v1/meetings/999999/notes/shared", headers=org.h["manager"])).status_code == 404
    assert (
        await client.put("/v1/meetings/999999/notes/shared", json={"body": "x"}, headers=org.h["manager"])
    ).status_code == 404
    assert (await client.get(shared(org.meeting))).status_code == 401
    assert (await client.put(shared(org.meeting), json={"body": "x"})).status_code == 401


async def test_shared_note_validation(client, org):
    cases = [
        ({"body": "x" * 100_001}, "body.body"),
        ({"body": "x", "title": "unknown field"}, "body.title"),
        ({}, "body.body"),
        ({"body": None}, "body.body"),
    ]
    for payload, field in cases:
        r = await client.put(shared(org.meeting), json=payload, headers=org.h["manager"])
        assert r.status_code == 422, payload
        assert r.headers["content-type"].startswith(PROBLEM)
        assert field in {e["field"] for e in r.json()["errors"]}, r.json()
    r = await client.get("/v1/meetings/abc/notes/shared", headers=org.h["manager"])
    assert r.status_code == 422
    assert (await client.get(shared(org.meeting), headers=org.h["manager"])).json()["version"] == 0
    # The limit itself is accepted, and the text is kept byte for byte (no stripping).
    text = "  indented\n" + "x" * (100_000 - 12) + "\n"
    r = await client.put(shared(org.meeting), json={"body": text}, headers=org.h["manager"])
    assert r.status_code == 200 and r.json()["body"] == text


# --- private notes ----------------------------------------------------------------------------------------


async def test_private_note_is_for_its_author_only(client, org):
    r = await client.put(private(org.meeting), json={"body": "worried about burnout"}, headers=org.h["manager"])
    assert r.status_code == 200, r.text
    assert r.json() == {
        "meeting_id": org.meeting.id,
        "author_id": org.manager.id,
        "body": "worried about burnout",
        "updated_at": "2026-03-02T09:00:00Z",
    }

    # The report gets their own (empty) note, never the manager's.
    r = await client.get(private(org.meeting), headers=org.h["report"])
    assert r.status_code == 200
    assert r.json()["author_id"] == org.report.id and r.json()["body"] == ""
    assert "burnout" not in r.text
    # ...and the shared note is untouched.
    assert (await client.get(shared(org.meeting), headers=org.h["report"])).json()["body"] == ""

    r = await client.put(private(org.meeting), json={"body": "ask about promotion"}, headers=org.h["report"])
    assert r.status_code == 200 and r.json()["author_id"] == org.report.id
    assert (await client.get(private(org.meeting), headers=org.h["manager"])).json()["body"] == "worried about burnout"
    assert (await client.get(private(org.meeting), headers=org.h["report"])).json()["body"] == "ask about promotion"


async def test_private_note_overwrite_updates_timestamp(client, org, clock):
    await client.put(private(org.meeting), json={"body": "one"}, headers=org.h["report"])
    clock.set(T0 + timedelta(hours=1))
    r = await client.put(private(org.meeting), json={"body": "two"}, headers=org.h["report"])
    assert r.status_code == 200
    assert r.json()["body"] == "two" and r.json()["updated_at"] == "2026-03-02T10:00:00Z"
    assert (await client.get(private(org.meeting), headers=org.h["report"])).json()["body"] == "two"


async def test_concurrent_private_saves_by_the_author_never_fail(app, client, org):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as second:
        results = await asyncio.gather(
            *(
                c.put(private(org.meeting), json={"body": f"draft {i}"}, headers=org.h["report"])
                for i, c in enumerate([client, second] * 2)
            )
        )
    assert [r.status_code for r in results] == [200] * 4, [r.text for r in results]
    stored = (await client.get(private(org.meeting), headers=org.h["report"])).json()["body"]
    assert stored in {f"draft {i}" for i in range(4)}


@pytest.mark.parametrize("who", ["admin", "boss", "other_manager", "member", "hr"])
async def test_private_note_is_404_for_non_participants_admins_included(client, org, factory, who):
    await factory.private_note(org.meeting, org.manager, body="manager only")
    r = await client.get(private(org.meeting), headers=org.h[who])
    assert r.status_code == 404 and "manager only" not in r.text
    r = await client.put(private(org.meeting), json={"body": "x"}, headers=org.h[who])
    assert r.status_code == 404
    assert (await client.get(private(org.meeting), headers=org.h["manager"])).json()["body"] == "manager only"


async def test_private_note_validation(client, org):
    for payload in ({"body": "x" * 100_001}, {"body": "x", "private": True}, {}):
        r = await client.put(private(org.meeting), json=payload, headers=org.h["report"])
        assert r.status_code == 422 and r.json()["errors"], payload
    assert (await client.get(private(org.meeting), headers=org.h["report"])).json()["body"] == ""
