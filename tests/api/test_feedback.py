from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from service.db.models import Feedback
from tests.conftest import T0

PROBLEM = "application/problem+json"


@pytest.fixture
async def org(factory):
    o = await factory.org()
    o.meeting = await factory.meeting(o.pair, start=T0 - timedelta(hours=1))
    return o


def url(meeting) -> str:
    return f"/v1/meetings/{meeting.id}/feedback"


async def test_give_and_read_back_own_feedback(client, org):
    r = await client.put(url(org.meeting), json={"rating": 4, "comment": "useful"}, headers=org.h["report"])
    assert r.status_code == 200, r.text
    assert r.json() == {
        "meeting_id": org.meeting.id,
        "person_id": org.report.id,
        "rating": 4,
        "comment": "useful",
        "created_at": "2026-03-02T09:00:00Z",
        "updated_at": "2026-03-02T09:00:00Z",
        "editable_until": "2026-03-09T09:00:00Z",
    }
    r = await client.get(url(org.meeting), headers=org.h["report"])
    assert r.status_code == 200 and (r.json()["rating"], r.json()["comment"]) == (4, "useful")


async def test_a_participant_never_sees_the_others_feedback(client, org):
    await client.put(
        url(org.meeting), json={"rating": 1, "comment": "my manager never listens"}, headers=org.h["report"]
    )
    r = await client.get(url(org.meeting), headers=org.h["manager"])
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    assert "never listens" not in r.text
    r = await client.put(url(org.meeting), json={"rating": 5}, headers=org.h["manager"])
    assert r.status_code == 200 and r.json()["person_id"] == org.manager.id and r.json()["comment"] == ""
    r = await client.get(url(org.meeting), headers=org.h["manager"])
    assert (r.json()["rating"], r.json()["comment"]) == (5, "")
    r = await client.get(url(org.meeting), headers=org.h["report"])
    assert (r.json()["rating"], r.json()["comment"]) == (1, "my manager never listens")


async def test_one_per_person_edits_allowed_for_seven_days(client, org, clock, sessions):
    await client.put(url(org.meeting), json={"rating": 2}, headers=org.h["report"])
    clock.set(T0 + timedelta(days=7))  # the last moment edits are allowed
    r = await client.put(url(org.meeting), json={"rating": 3, "comment": "on reflection"}, headers=org.h["report"])
    assert r.status_code == 200, r.text
    assert (r.json()["rating"], r.json()["created_at"], r.json()["updated_at"]) == (
        3,
        "2026-03-02T09:00:00Z",
        "2026-03-09T09:00:00Z",
    )
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Feedback)) == 1

    clock.set(T0 + timedelta(days=7, seconds=1))
    r = await client.put(url(org.meeting), json={"rating": 5}, headers=org.h["report"])
    assert r.status_code == 409 and r.headers["content-type"].startswith(PROBLEM)
    assert "7 days" in r.json()["detail"]
    r = await client.get(url(org.meeting), headers=org.h["report"])
    assert (r.json()["rating"], r.json()["comment"]) == (3, "on reflection")


async def test_feedback_opens_when_the_meeting_starts(client, org, factory, clock):
    later = await factory.meeting(org.pair, start=T0 + timedelta(minutes=30))
    r = await client.put(url(later), json={"rating": 4}, headers=org.h["report"])
    assert r.status_code == 409 and "started" in r.json()["detail"]
    assert (await client.get(url(later), headers=org.h["report"])).status_code == 404
    clock.set(T0 + timedelta(minutes=30))
    r = await client.put(url(later), json={"rating": 4}, headers=org.h["report"])
    assert r.status_code == 200


@pytest.mark.parametrize("status", ["cancelled", "declined"])
async def test_no_feedback_on_meetings_that_did_not_happen(client, org, factory, status):
    meeting = await factory.meeting(org.pair, start=T0 - timedelta(days=1), status=status)
    r = await client.put(url(meeting), json={"rating": 3}, headers=org.h["manager"])
    assert r.status_code == 409 and r.headers["content-type"].startswith(PROBLEM)
    assert (await client.get(url(meeting), headers=org.h["manager"])).status_code == 404


@pytest.mark.parametrize("who", ["other_report", "other_manager", "boss", "member", "hr", "admin"])
async def test_non_participants_get_404(client, org, factory, who):
    await factory.feedback(org.meeting, org.report, rating=2, comment="private thoughts")
    r = await client.get(url(org.meeting), headers=org.h[who])
    assert r.status_code == 404 and "private thoughts" not in r.text
    r = await client.put(url(org.meeting), json={"rating": 5}, headers=org.h[who])
    assert r.status_code == 404


async def test_unknown_meeting_and_auth(client, org):
    assert (
        await client.put("/v1/meetings/999999/feedback", json={"rating": 3}, headers=org.h["report"])
    ).status_code == 404
    assert (await client.get("/v1/meetings/999999/feedback", headers=org.h["report"])).status_code == 404
    assert (
        await client.put(f"/v1/meetings/{2**63}/feedback", json={"rating": 3}, headers=org.h["report"])
    ).status_code == 422
    assert (await client.put(url(org.meeting), json={"rating": 3})).status_code == 401


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "body.rating"),
        ({"rating": 0}, "body.rating"),
        ({"rating": 6}, "body.rating"),
        ({"rating": "5"}, "body.rating"),
        ({"rating": 4.5}, "body.rating"),
        ({"rating": True}, "body.rating"),
        ({"rating": None}, "body.rating"),
        ({"rating": 3, "comment": "x" * 2001}, "body.comment"),
        ({"rating": 3, "anonymous": True}, "body.anonymous"),
    ],
)
async def test_validation(client, org, payload, field):
    r = await client.put(url(org.meeting), json=payload, headers=org.h["report"])
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert (await client.get(url(org.meeting), headers=org.h["report"])).status_code == 404


async def test_double_submit_at_once_keeps_one_row(client, org, sessions):
    results = await asyncio.gather(
        *(client.put(url(org.meeting), json={"rating": rating}, headers=org.h["report"]) for rating in (2, 3, 4))
    )
    assert [r.status_code for r in results] == [200, 200, 200], [r.text for r in results]
    async with sessions() as s:
        rows = (await s.scalars(select(Feedback))).all()
    assert len(rows) == 1 and rows[0].rating in (2, 3, 4)
