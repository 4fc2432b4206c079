from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from service.api.pagination import encode_cursor
from service.domain import evidence
from service.domain.detection.model import DetectedFinding, EventRef
from tests.conftest import T0

PROBLEM = "application/problem+json"


@pytest.fixture
async def org(factory):
    o = await factory.org()
    o.meeting = await factory.meeting(o.pair, start=T0 - timedelta(days=1))
    o.gap = await factory.finding(
        o.pair, type="cadence_gap", key="gap:pair", details={"days": 21}, detected_at=T0 - timedelta(hours=3)
    )
    o.cancelled = await factory.finding(
        o.pair, type="cancelled_without_reschedule", meeting_id=o.meeting.id, detected_at=T0 - timedelta(hours=2)
    )
    o.old = await factory.finding(
        o.pair, type="shortened", detected_at=T0 - timedelta(days=3), resolved_at=T0 - timedelta(days=1)
    )
    o.theirs = await factory.finding(o.other_pair, type="no_upcoming", detected_at=T0 - timedelta(hours=1))
    o.bosses = await factory.finding(o.boss_pair, type="declined", detected_at=T0 - timedelta(hours=1))
    return o


async def listed(client, headers, **params) -> list[int]:
    r = await client.get("/v1/findings", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return [f["id"] for f in r.json()["items"]]


async def test_finding_shape(client, org):
    r = await client.get(f"/v1/findings/{org.cancelled.id}", headers=org.h["report"])
    assert r.status_code == 200, r.text
    assert r.json() == {
        "id": org.cancelled.id,
        "pair_id": org.pair.id,
        "manager_id": org.manager.id,
        "report_id": org.report.id,
        "meeting_id": org.meeting.id,
        "type": "cancelled_without_reschedule",
        "key": org.cancelled.key,
        "details": {},
        "detected_at": "2026-03-02T07:00:00Z",
        "resolved_at": None,
        "acknowledged_by": None,
        "acknowledged_at": None,
    }
    r = await client.get(f"/v1/findings/{org.gap.id}", headers=org.h["manager"])
    assert r.json()["details"] == {"days": 21} and r.json()["meeting_id"] is None


async def test_each_caller_lists_only_findings_of_pairs_they_see(client, org):
    # Newest first; open only by default.
    assert await listed(client, org.h["report"]) == [org.cancelled.id, org.gap.id]
    # The manager is also the report of their own 1:1 with the boss.
    assert await listed(client, org.h["manager"]) == [org.bosses.id, org.cancelled.id, org.gap.id]
    assert await listed(client, org.h["other_report"]) == [org.theirs.id]
    # The manager's manager sees their own 1:1's finding, not their reports' pairs.
    assert await listed(client, org.h["boss"]) == [org.bosses.id]
    assert await listed(client, org.h["hr"]) == []
    assert await listed(client, org.h["member"]) == []
    assert set(await listed(client, org.h["admin"])) == {org.cancelled.id, org.gap.id, org.theirs.id, org.bosses.id}


@pytest.mark.parametrize("who", ["other_report", "other_manager", "boss", "member", "hr"])
async def test_invisible_findings_are_404(client, org, who):
    r = await client.get(f"/v1/findings/{org.gap.id}", headers=org.h[who])
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    r = await client.post(f"/v1/findings/{org.gap.id}:acknowledge", headers=org.h[who])
    assert r.status_code == 404
    r = await client.get(f"/v1/findings/{org.gap.id}", headers=org.h["manager"])
    assert r.json()["acknowledged_at"] is None
    assert await listed(client, org.h[who], pair_id=org.pair.id, status="all") == []


async def test_admin_sees_and_acknowledges_any_finding(client, org):
    r = await client.get(f"/v1/findings/{org.theirs.id}", headers=org.h["admin"])
    assert r.status_code == 200 and r.json()["manager_id"] == org.other_manager.id
    r = await client.post(f"/v1/findings/{org.theirs.id}:acknowledge", headers=org.h["admin"])
    assert r.status_code == 200 and r.json()["acknowledged_by"] == org.admin.id


async def test_filters(client, org):
    h = org.h["admin"]
    assert await listed(client, h, pair_id=org.pair.id) == [org.cancelled.id, org.gap.id]
    assert await listed(client, h, pair_id=org.pair.id, status="resolved") == [org.old.id]
    assert await listed(client, h, pair_id=org.pair.id, status="all") == [org.cancelled.id, org.gap.id, org.old.id]
    assert await listed(client, h, manager_id=org.other_manager.id) == [org.theirs.id]
    assert await listed(client, h, manager_id=org.manager.id, type="cadence_gap") == [org.gap.id]
    assert await listed(client, h, report_id=org.manager.id) == [org.bosses.id]
    assert await listed(client, h, report_id=org.other_report.id, manager_id=org.other_manager.id) == [org.theirs.id]
    assert await listed(client, h, report_id=org.report.id, manager_id=org.other_manager.id) == []
    assert await listed(client, h, type="shortened") == []
    assert await listed(client, h, type="shortened", status="all") == [org.old.id]
    # A participant's filters never widen what they see.
    assert await listed(client, org.h["report"], manager_id=org.other_manager.id) == []

    await client.post(f"/v1/findings/{org.gap.id}:acknowledge", headers=org.h["report"])
    assert await listed(client, org.h["report"], acknowledged=True) == [org.gap.id]
    assert await listed(client, org.h["report"], acknowledged=False) == [org.cancelled.id]

    for params in (
        {"type": "rude"},
        {"status": "closed"},
        {"acknowledged": "maybe"},
        {"pair_id": "x"},
        {"manager_id": 2**63},
        {"report_id": 0},
        {"limit": 0},
    ):
        r = await client.get("/v1/findings", headers=h, params=params)
        assert r.status_code == 422 and r.json()["errors"], params


async def test_pagination_is_stable_newest_first_with_ties(client, org, factory):
    # Three findings detected at the same instant: ties break by id, descending.
    tied = [await factory.finding(org.other_pair, type="double_booked", detected_at=T0) for _ in range(3)]
    expected = [t.id for t in reversed(tied)] + [org.theirs.id, org.bosses.id, org.cancelled.id, org.gap.id]
    expected[3:5] = sorted(expected[3:5], reverse=True)  # theirs and bosses share a detected_at too
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/v1/findings", headers=org.h["admin"], params=params)
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [f["id"] for f in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == expected

    for bad in (
        "!!",
        encode_cursor([1]),
        encode_cursor(["yesterday", 1]),
        encode_cursor(["2026-03-02T09:00:00", 1]),
        encode_cursor(["2026-03-02T09:00:00+00:00", "1"]),
        encode_cursor(["2026-03-02T09:00:00+00:00", 2**64]),
        encode_cursor(["0001-01-01T00:00:00+01:00", 1]),
    ):
        r = await client.get("/v1/findings", headers=org.h["admin"], params={"cursor": bad})
        assert r.status_code == 400 and r.headers["content-type"].startswith(PROBLEM), bad


async def test_acknowledge_is_idempotent_and_keeps_the_first(client, org, clock):
    url = f"/v1/findings/{org.gap.id}:acknowledge"
    r = await client.post(url, headers=org.h["report"])
    assert r.status_code == 200, r.text
    assert (r.json()["acknowledged_by"], r.json()["acknowledged_at"]) == (org.report.id, "2026-03-02T09:00:00Z")
    clock.set(T0 + timedelta(hours=1))
    for who in ("report", "manager", "admin"):
        r = await client.post(url, headers=org.h[who])
        assert r.status_code == 200
        assert (r.json()["acknowledged_by"], r.json()["acknowledged_at"]) == (org.report.id, "2026-03-02T09:00:00Z")
    r = await client.get(f"/v1/findings/{org.gap.id}", headers=org.h["manager"])
    assert r.json()["acknowledged_by"] == org.report.id
    # Other findings are untouched.
    assert (await client.get(f"/v1/findings/{org.cancelled.id}", headers=org.h["manager"])).json()[
        "acknowledged_at"
    ] is None


async def test_concurrent_acknowledgements_agree_on_the_first(client, org):
    results = await asyncio.gather(
        *(
            client.post(f"/v1/findings/{org.gap.id}:acknowledge", headers=org.h[who])
            for who in ("manager", "report", "admin", "manager")
        )
    )
    assert {r.status_code for r in results} == {200}
    stored = (await client.get(f"/v1/findings/{org.gap.id}", headers=org.h["admin"])).json()
    assert stored["acknowledged_by"] in (org.manager.id, org.report.id, org.admin.id)
    assert all(r.json()["acknowledged_by"] == stored["acknowledged_by"] for r in results)


async def test_unknown_ids_and_auth(client, org):
    h = org.h["admin"]
    assert (await client.get("/v1/findings/999999", headers=h)).status_code == 404
    assert (await client.post("/v1/findings/999999:acknowledge", headers=h)).status_code == 404
    assert (await client.get(f"/v1/findings/{2**63}", headers=h)).status_code == 422
    assert (await client.get("/v1/findings/abc", headers=h)).status_code == 422
    assert (await client.get("/v1/findings")).status_code == 401
    assert (await client.get(f"/v1/findings/{org.gap.id}")).status_code == 401
    assert (await client.post(f"/v1/findings/{org.gap.id}:acknowledge")).status_code == 401


async def _double_booked(factory, org, **details):
    """A double_booked finding as recompute stores it (`evidence.stored`): the manager's
    copy of the 1:1 overlaps the report's "Customer call" and a private event."""
    t = datetime(2026, 3, 10, 9, tzinfo=UTC)
    one_on_one = EventRef(
        org.manager.email, t, t + timedelta(minutes=30), "Weekly 1:1", "evt-1on1", "uid-1on1@acme.test", slot=t
    )
    call = EventRef(org.report.email, t, t + timedelta(hours=1), "Customer call", "evt-call")
    hidden = EventRef(org.report.email, t, t + timedelta(minutes=15), "", "evt-hidden", private=True)
    found = DetectedFinding(
        "double_booked",
        org.manager.email,
        org.report.email,
        occurrence_start=t,
        by="report",
        conflict="Customer call",
        conflict_event=call,
        explanation=tuple((one_on_one, " overlaps ", clash) for clash in (call, hidden)),
    )
    stored = {**found.details, "occurrence_start": t.isoformat(), "by": "report", **evidence.stored(found), **details}
    return await factory.finding(org.pair, type="double_booked", details=stored)


async def test_double_booked_shows_each_viewer_only_their_own_calendars_content(client, factory, org):
    finding = await _double_booked(factory, org)
    seen = {}
    for who in ("manager", "report", "admin"):
        r = await client.get(f"/v1/findings/{finding.id}", headers=org.h[who])
        assert r.status_code == 200, r.text
        seen[who] = r.json()["details"]
        listed = (await client.get("/v1/findings", headers=org.h[who], params={"type": "double_booked"})).json()
        assert listed["items"][0]["details"] == seen[who]
    m, rep = org.manager.email, org.report.email
    slot, busy = "2026-03-10T09:00:00Z", "busy 2026-03-10T09:00:00Z-2026-03-10T10:00:00Z on"
    assert seen["manager"]["conflict"] == "busy"
    assert seen["manager"]["evidence"] == [
        f"'Weekly 1:1' slot {slot} ({m}, event evt-1on1, uid uid-1on1@acme.test) overlaps {busy} {rep}",
        f"'Weekly 1:1' slot {slot} ({m}, event evt-1on1, uid uid-1on1@acme.test) overlaps "
        f"busy 2026-03-10T09:00:00Z-2026-03-10T09:15:00Z on {rep}",
    ]
    assert seen["report"]["conflict"] == "Customer call"
    assert seen["report"]["evidence"] == [
        f"'Weekly 1:1' slot {slot} overlaps 'Customer call' 2026-03-10T09:00:00Z-2026-03-10T10:00:00Z on {rep} "
        "(event evt-call)",
        f"'Weekly 1:1' slot {slot} overlaps busy 2026-03-10T09:00:00Z-2026-03-10T09:15:00Z on {rep}",
    ]
    assert seen["admin"]["conflict"] == "busy"
    assert seen["admin"]["evidence"] == [
        f"1:1 slot {slot} overlaps {busy} {rep}",
        f"1:1 slot {slot} overlaps busy 2026-03-10T09:00:00Z-2026-03-10T09:15:00Z on {rep}",
    ]
    for details in seen.values():
        assert details["occurrence_start"] == "2026-03-10T09:00:00+00:00" and details["by"] == "report"
        assert "evt-hidden" not in str(details)


async def test_evidence_stored_as_plain_text_is_not_shown(client, factory, org):
    """Findings stored before evidence was structured name events in plain text, whoever's
    calendar they are on: their lines are left out and their conflict reads busy."""
    finding = await factory.finding(
        org.pair,
        type="double_booked",
        details={
            "conflict": "Board prep",
            "evidence": ["'Weekly 1:1' ... overlaps 'Board prep' ... (event evt-board)"],
            "by": "manager",
        },
    )
    for who in ("manager", "report", "admin"):
        r = await client.get(f"/v1/findings/{finding.id}", headers=org.h[who])
        assert r.json()["details"] == {"conflict": "busy", "evidence": [], "by": "manager"}
