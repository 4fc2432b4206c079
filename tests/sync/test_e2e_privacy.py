"""Calendar content on a need-to-know basis, end to end: events synced through the
production adapters from the fake Google and Graph servers, detected, and stored.

Maya (Google) manages Li (Outlook) and Ben (Google). Their 1:1s clash with events
on one side's own calendar, some of them marked private by their owner (Google
`visibility`, Graph `sensitivity`): such events are stored without their title or
their other people, and detection still sees their busy time."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import select

from service.db.models import Calendar, CalendarEvent, EventRevision, Finding, Meeting, Person
from service.replay.harness import Harness
from tests.conftest import ROOT
from tests.sync.e2e_helpers import BERLIN, google_event, graph_event, graph_time, graph_weekly

MAYA, LI, BEN = "maya@acme.test", "li@acme.test", "ben@acme.test"
ONE_ON_ONE = "mayali0weekly"  # Google id of the Maya–Li series; Li's Graph copy below
ONE_ON_ONE_LI = "AAMkAGli0weekly0AAA="
BOARD, THERAPY = "maya0board", "maya0therapy"  # Maya's own: public, private
CUSTOMER, DOCTOR, LEGAL = "AAMkAGli0customer=", "AAMkAGli0doctor=", "AAMkAGli0legal="  # Li's own
PRIVATE_ONE_ON_ONE = "mayaben0private"
SECRET = ("Therapy", "Doctor", "Legal hold", "Maya / Ben: salary", "clinic.test")


def _op(when: str, op: str, provider: str, calendars: list[str], **fields: Any) -> dict[str, Any]:
    return {"at": when, "op": op, "provider": provider, "calendars": calendars, **fields}


def privacy_scenario() -> dict[str, Any]:
    """The Maya–Li weekly 1:1 (Tuesdays 10:00 Berlin, from 03-03) double-booked on
    03-10 by Maya's "Board prep", 03-17 by Li's "Customer call", 03-24 by Maya's
    private "Therapy", 03-31 by Li's private "Doctor" (with two clinic people), and
    04-07 and 04-14 by Li's confidential "Legal hold" series (two occurrences, the
    master fetched with $select). A private single 1:1 of Maya and Ben on 03-12."""
    g, m = "google", "microsoft"
    weekly = google_event(
        ONE_ON_ONE,
        "Maya / Li 1:1",
        "2026-03-03T10:00:00",
        "2026-03-03T10:30:00",
        MAYA,
        [LI],
        recurrence=["RRULE:FREQ=WEEKLY;BYDAY=TU"],
    )
    weekly_li = graph_event(
        ONE_ON_ONE_LI,
        "Maya / Li 1:1",
        "2026-03-03T10:00:00",
        "2026-03-03T10:30:00",
        MAYA,
        [LI],
        uid=f"{ONE_ON_ONE}@google.com",
        recurrence=graph_weekly("tuesday", "2026-03-03"),
    )
    board = google_event(BOARD, "Board prep", "2026-03-10T10:00:00", "2026-03-10T11:00:00", MAYA, [])
    therapy = {
        **google_event(THERAPY, "Therapy", "2026-03-24T09:30:00", "2026-03-24T10:15:00", MAYA, []),
        "visibility": "private",
        "description": "Session 4",
    }
    customer = graph_event(
        CUSTOMER, "Customer call", "2026-03-17T10:15:00", "2026-03-17T10:45:00", LI, [], uid="customer@li"
    )
    doctor = {
        **graph_event(
            DOCTOR,
            "Doctor",
            "2026-03-31T10:00:00",
            "2026-03-31T10:30:00",
            LI,
            ["dr.who@clinic.test", "nurse@clinic.test"],
            uid="doctor@li",
        ),
        "sensitivity": "private",
        "body": {"contentType": "text", "content": "Results"},
    }
    legal = {
        **graph_event(
            LEGAL,
            "Legal hold",
            "2026-04-07T10:10:00",
            "2026-04-07T10:40:00",
            LI,
            [],
            uid="legal@li",
            recurrence=graph_weekly("tuesday", "2026-04-07", end_date="2026-04-14"),
        ),
        "sensitivity": "confidential",
    }
    private_one_on_one = {
        **google_event(
            PRIVATE_ONE_ON_ONE, "Maya / Ben: salary", "2026-03-12T14:00:00", "2026-03-12T14:30:00", MAYA, [BEN]
        ),
        "visibility": "private",
    }
    people = [
        {"email": MAYA, "name": "Maya", "manager": None, "timezone": BERLIN, "provider": g},
        {"email": LI, "name": "Li", "manager": MAYA, "timezone": BERLIN, "provider": m},
        {"email": BEN, "name": "Ben", "manager": MAYA, "timezone": BERLIN, "provider": g},
    ]
    timeline = [
        _op("2026-03-02T08:00:00Z", "create", g, [MAYA], event=weekly),
        _op("2026-03-02T08:00:00Z", "create", m, [LI], event=weekly_li),
        _op("2026-03-02T08:00:00Z", "create", g, [MAYA, BEN], event=private_one_on_one),
        _op("2026-03-03T08:00:00Z", "create", g, [MAYA], event=board),
        _op("2026-03-03T08:00:00Z", "create", m, [LI], event=customer),
        _op("2026-03-04T08:00:00Z", "create", g, [MAYA], event=therapy),
        _op("2026-03-04T08:00:00Z", "create", m, [LI], event=doctor),
        _op("2026-03-04T08:00:00Z", "create", m, [LI], event=legal),
        # A private event's edit: still private, still without a title.
        _op(
            "2026-03-05T08:00:00Z",
            "update",
            m,
            [LI],
            event_id=DOCTOR,
            patch={"subject": "Doctor (blood test)", "start": graph_time("2026-03-31T09:45:00")},
        ),
    ]
    return {
        "format": "oneonone-scenario/1",
        "name": "privacy",
        "start": "2026-03-02T00:00:00Z",
        "now": "2026-04-20T10:00:00Z",
        "org": {"people": people},
        "timeline": timeline,
    }


@pytest.fixture
async def replayed(db_url, sessions):
    """The story replayed into the test database (rows go after the test)."""
    async with Harness(privacy_scenario(), database_url=db_url, keep=True) as harness:
        detection = await harness.run()
    return detection


def _mentions_secret(value: Any) -> list[str]:
    text = json.dumps(value, default=str)
    return [s for s in SECRET if s in text]


async def test_private_events_are_stored_without_title_or_needless_people(replayed, sessions):
    async with sessions() as s:
        emails = dict((await s.execute(select(Calendar.id, Person.email).join(Person))).all())
        events = {(emails[e.calendar_id], e.event_id): e for e in (await s.scalars(select(CalendarEvent))).all()}
        revisions = (await s.scalars(select(EventRevision))).all()
        findings = (await s.scalars(select(Finding))).all()
        meetings = (await s.scalars(select(Meeting))).all()

    private = {key: e for key, e in events.items() if e.private}
    # Maya's Therapy; the private 1:1 on both calendars; Li's Doctor, the Legal hold
    # series and its two occurrences (stubs completed from the master read with $select).
    series = {key[1].split("ABEgAQ")[0].rstrip("=") for key in private}  # occurrence ids: the master's + slot
    assert series == {THERAPY, PRIVATE_ONE_ON_ONE, DOCTOR.rstrip("="), LEGAL.rstrip("=")}
    assert len([k for k in private if k[0] == LI]) == 4
    assert {key: e.title for key, e in private.items()} == dict.fromkeys(private, "")
    assert events[(MAYA, BOARD)].title == "Board prep" and not events[(MAYA, BOARD)].private
    assert events[(LI, CUSTOMER)].title == "Customer call"
    assert [a[0] for a in events[(LI, DOCTOR)].attendees] == [LI]  # no clinic people: it is no 1:1
    assert events[(MAYA, THERAPY)].busy and events[(LI, DOCTOR)].busy
    # The private 1:1 keeps both people: it is still Maya and Ben's 1:1.
    assert sorted(a[0] for a in events[(BEN, PRIVATE_ONE_ON_ONE)].attendees) == [BEN, MAYA]

    # No revision ever held what the owner hid, and each says it is private.
    hidden = [r for r in revisions if (emails[r.calendar_id], r.event_id) in private and r.snapshot]
    assert len(hidden) >= len(private) + 1  # Doctor was edited
    assert all(r.snapshot["private"] and r.snapshot["title"] == "" for r in hidden)
    assert _mentions_secret([r.snapshot for r in revisions]) == []
    assert _mentions_secret([(e.title, e.attendees) for e in events.values()]) == []

    # Detection still sees them: busy time double-books, the private 1:1 was held.
    booked = sorted(
        (f.details["occurrence_start"][:10], f.details["by"]) for f in findings if f.type == "double_booked"
    )
    assert booked == [
        ("2026-03-10", "manager"),
        ("2026-03-17", "report"),
        ("2026-03-24", "manager"),
        ("2026-03-31", "report"),
        ("2026-04-07", "report"),
        ("2026-04-14", "report"),
    ]
    assert _mentions_secret([f.details for f in findings]) == []
    held_private = [m for m in meetings if m.source_uid == f"{PRIVATE_ONE_ON_ONE}@google.com"]
    assert [(m.title, m.status) for m in held_private] == [("1:1", "held")]
    assert {m.title for m in meetings} == {"Maya / Li 1:1", "1:1"}


# -- what each viewer is shown -------------------------------------------------------------------------
BOARD_ID, THERAPY_ID = BOARD, THERAPY
LI_IDS = (CUSTOMER, DOCTOR, LEGAL.rstrip("="), ONE_ON_ONE_LI)
MAYA_IDS = (BOARD, THERAPY, ONE_ON_ONE)  # the 1:1's uid is f"{ONE_ON_ONE}@google.com"
LI_TITLES = ("Customer call", "Doctor", "Legal hold")
MAYA_TITLES = ("Board prep", "Therapy")


async def _viewers(factory, sessions) -> dict[str, dict[str, str]]:
    async with sessions() as s:
        people = {p.email: p for p in (await s.scalars(select(Person))).all()}
    admin = await factory.person(role="admin", email="ada@acme.test", name="Ada")
    return {
        "manager": await factory.token(people[MAYA]),
        "report": await factory.token(people[LI]),
        "admin": await factory.token(admin),
    }


async def _booked(client, headers) -> dict[tuple[str, str], dict[str, Any]]:
    """The Maya–Li pair's double_booked findings' details by (day, by), read through the
    list and each one through GET /v1/findings/{id} (both must agree)."""
    r = await client.get("/v1/findings", headers=headers, params={"type": "double_booked", "limit": 100})
    assert r.status_code == 200, r.text
    out = {}
    for item in r.json()["items"]:
        one = await client.get(f"/v1/findings/{item['id']}", headers=headers)
        assert one.json()["details"] == item["details"]
        details = item["details"]
        out[(details["occurrence_start"][:10], details["by"])] = details
    return out


def _leaks(details: dict[str, Any], forbidden: tuple[str, ...]) -> list[str]:
    text = json.dumps(details)
    return [word for word in forbidden if word in text]


async def test_each_viewer_sees_titles_and_ids_of_their_own_calendar_only(replayed, client, factory, sessions):
    h = await _viewers(factory, sessions)
    manager, report, admin = [await _booked(client, h[who]) for who in ("manager", "report", "admin")]
    assert manager.keys() == report.keys() == admin.keys() and len(manager) == 6

    # Maya: her own "Board prep" in full; Li's calendar is busy time; her private Therapy too.
    board = manager[("2026-03-10", "manager")]
    assert board["conflict"] == "Board prep"
    assert board["evidence"] == [
        "'Maya / Li 1:1' slot 2026-03-10T09:00:00Z (maya@acme.test, event mayali0weekly, uid mayali0weekly@google.com)"
        " 2026-03-10T09:00:00Z-2026-03-10T09:30:00Z overlaps"
        " 'Board prep' 2026-03-10T09:00:00Z-2026-03-10T10:00:00Z on maya@acme.test (event maya0board)"
    ]
    customer = manager[("2026-03-17", "report")]
    assert customer["conflict"] == "busy"
    assert customer["evidence"] == [
        "'Maya / Li 1:1' slot 2026-03-17T09:00:00Z (maya@acme.test, event mayali0weekly, uid mayali0weekly@google.com)"
        " 2026-03-17T09:00:00Z-2026-03-17T09:30:00Z overlaps busy 2026-03-17T09:15:00Z-2026-03-17T09:45:00Z"
        " on li@acme.test"
    ]
    assert manager[("2026-03-24", "manager")]["conflict"] == "busy"  # private, though her own
    assert (
        "overlaps busy 2026-03-24T08:30:00Z-2026-03-24T09:15:00Z on maya@acme.test"
        in (manager[("2026-03-24", "manager")]["evidence"][0])
    )
    for details in manager.values():
        assert _leaks(details, LI_TITLES + LI_IDS + ("Therapy", THERAPY_ID)) == []

    # Li: the 1:1's title (she attends it) but not the ids of Maya's copy; Maya's events
    # are busy time; her own "Customer call" in full; her private ones busy time.
    assert report[("2026-03-10", "manager")] == {
        **board,
        "conflict": "busy",
        "evidence": [
            "'Maya / Li 1:1' slot 2026-03-10T09:00:00Z 2026-03-10T09:00:00Z-2026-03-10T09:30:00Z overlaps"
            " busy 2026-03-10T09:00:00Z-2026-03-10T10:00:00Z on maya@acme.test"
        ],
    }
    assert report[("2026-03-17", "report")]["conflict"] == "Customer call"
    assert report[("2026-03-17", "report")]["evidence"][0].endswith(
        "overlaps 'Customer call' 2026-03-17T09:15:00Z-2026-03-17T09:45:00Z on li@acme.test (event AAMkAGli0customer=)"
    )
    for key in (("2026-03-31", "report"), ("2026-04-07", "report"), ("2026-04-14", "report")):
        assert report[key]["conflict"] == "busy"
    for details in report.values():
        assert _leaks(details, MAYA_TITLES + MAYA_IDS + ("Doctor", "Legal", DOCTOR, LEGAL.rstrip("="))) == []

    # An admin is no participant: busy time and the 1:1's slot, no title or id at all.
    assert admin[("2026-03-10", "manager")]["evidence"] == [
        "1:1 slot 2026-03-10T09:00:00Z 2026-03-10T09:00:00Z-2026-03-10T09:30:00Z overlaps"
        " busy 2026-03-10T09:00:00Z-2026-03-10T10:00:00Z on maya@acme.test"
    ]
    for details in admin.values():
        assert details["conflict"] == "busy"
        assert _leaks(details, MAYA_TITLES + LI_TITLES + MAYA_IDS + LI_IDS + ("Maya / Li", "@google.com")) == []
    # The other fields are the same for everyone.
    strip = ("conflict", "evidence")
    assert [{k: v for k, v in d.items() if k not in strip} for d in manager.values()] == [
        {k: v for k, v in d.items() if k not in strip} for d in admin.values()
    ]


async def test_meetings_show_calendar_content_to_participants_only(replayed, client, factory, sessions):
    """The 1:1's title (the organizer's copy) and UID: both participants attend it and
    see them; an admin sees "1:1" and no UID. A private 1:1 is "1:1" to everyone."""
    h = await _viewers(factory, sessions)
    async with sessions() as s:
        people = {p.email: p for p in (await s.scalars(select(Person))).all()}
    h["ben"] = await factory.token(people[BEN])
    pairs = (await client.get("/v1/pairs", headers=h["admin"], params={"limit": 100})).json()["items"]
    by_report = {p["report_id"]: p["id"] for p in pairs}

    async def shown(who: str, report: str) -> set[tuple[str, str | None]]:
        url = f"/v1/pairs/{by_report[people[report].id]}/meetings"
        r = await client.get(url, headers=h[who], params={"limit": 100})
        assert r.status_code == 200, r.text
        return {(m["title"], m["source_uid"]) for m in r.json()["items"]}

    uid = f"{ONE_ON_ONE}@google.com"
    assert await shown("manager", LI) == await shown("report", LI) == {("Maya / Li 1:1", uid)}
    assert await shown("admin", LI) == {("1:1", None)}
    assert await shown("ben", BEN) == {("1:1", f"{PRIVATE_ONE_ON_ONE}@google.com")}
    assert await shown("admin", BEN) == {("1:1", None)}


def test_replay_explain_still_shows_everything(tmp_path):
    """`oneonone replay --explain` is the operator's tool: the full evidence, every
    title the calendars hold (a private event's was never read) and every id."""
    path = tmp_path / "privacy.json"
    path.write_text(json.dumps(privacy_scenario()))
    proc = subprocess.run(
        [sys.executable, "-m", "service.cli", "replay", str(path), "--json", "--explain"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    booked = {
        (f["occurrence_start"][:10], f["by"]): f
        for f in json.loads(proc.stdout)["findings"]
        if f["type"] == "double_booked"
    }
    assert {key: f["conflict"] for key, f in booked.items()} == {
        ("2026-03-10", "manager"): "Board prep",
        ("2026-03-17", "report"): "Customer call",
        ("2026-03-24", "manager"): "",
        ("2026-03-31", "report"): "",
        ("2026-04-07", "report"): "",
        ("2026-04-14", "report"): "",
    }
    assert booked[("2026-03-17", "report")]["evidence"] == [
        "'Maya / Li 1:1' slot 2026-03-17T09:00:00Z (maya@acme.test, event mayali0weekly, uid mayali0weekly@google.com)"
        " 2026-03-17T09:00:00Z-2026-03-17T09:30:00Z overlaps"
        " 'Customer call' 2026-03-17T09:15:00Z-2026-03-17T09:45:00Z on li@acme.test (event AAMkAGli0customer=)"
    ]
    assert "(event maya0therapy)" in booked[("2026-03-24", "manager")]["evidence"][0]
