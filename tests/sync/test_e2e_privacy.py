"""Calendar content on a need-to-know basis, end to end: events synced through the
production adapters from the fake Google and Graph servers, detected, and stored.

Maya (Google) manages Li (Outlook) and Ben (Google). Their 1:1s clash with events
on one side's own calendar, some of them marked private by their owner (Google
`visibility`, Graph `sensitivity`): such events are stored without their title or
their other people, and detection still sees their busy time."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from service.db.models import Calendar, CalendarEvent, EventRevision, Finding, Meeting, Person
from service.replay.harness import Harness
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
