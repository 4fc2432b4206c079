"""normalize_google_event: Google Calendar v3 Event resources → EventSnapshot."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from service.domain.events import Kind, Response, Status
from service.sync.providers.google.normalize import GoogleEventError, normalize_google_event

UTC = UTC
CAL = "Maya.Diaz@acme.test"


def _event(**over) -> dict:
    base = {
        "kind": "calendar#event",
        "etag": '"1"',
        "id": "ev1",
        "status": "confirmed",
        "updated": "2026-01-05T10:11:12.345Z",
        "summary": "Maya / Li 1:1",
        "iCalUID": "ev1@google.com",
        "start": {"dateTime": "2026-03-27T10:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-03-27T10:30:00+01:00", "timeZone": "Europe/Berlin"},
        "organizer": {"email": "Maya.Diaz@acme.test", "self": True},
        "attendees": [
            {"email": "maya.diaz@acme.test", "organizer": True, "responseStatus": "accepted", "self": True},
            {"email": "LI.WEI@acme.test", "responseStatus": "declined"},
            {"email": "room-4@resource.calendar.google.com", "resource": True, "responseStatus": "accepted"},
            {"email": "guest@other.test", "responseStatus": "tentative", "optional": True},
            {"email": "new@acme.test"},
        ],
    }
    base.update(over)
    return base


def test_single_timed_event() -> None:
    snap = normalize_google_event(CAL, _event())
    assert snap.calendar == "maya.diaz@acme.test" and snap.event_id == "ev1" and snap.provider == "google"
    assert snap.kind is Kind.single and snap.status is Status.confirmed
    assert snap.start == datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
    assert snap.end == datetime(2026, 3, 27, 9, 30, tzinfo=UTC)
    assert snap.updated == datetime(2026, 1, 5, 10, 11, 12, 345000, tzinfo=UTC)
    assert snap.timezone == "Europe/Berlin" and not snap.all_day and snap.busy
    assert snap.ical_uid == "ev1@google.com" and snap.title == "Maya / Li 1:1"
    assert snap.organizer == "maya.diaz@acme.test"
    people = {a.email: a for a in snap.attendees}
    assert people["maya.diaz@acme.test"].organizer and people["maya.diaz@acme.test"].response is Response.accepted
    assert people["li.wei@acme.test"].response is Response.declined and not people["li.wei@acme.test"].organizer
    assert people["room-4@resource.calendar.google.com"].resource
    assert people["guest@other.test"].response is Response.tentative
    assert people["new@acme.test"].response is Response.needs_action


def test_dst_correct_utc_conversion() -> None:
    # Europe/Berlin switches to CEST on 2026-03-29: the same 10:00 is 08:00Z after it.
    after = normalize_google_event(
        CAL,
        _event(
            start={"dateTime": "2026-03-30T10:00:00+02:00", "timeZone": "Europe/Berlin"},
            end={"dateTime": "2026-03-30T10:30:00+02:00", "timeZone": "Europe/Berlin"},
        ),
    )
    assert after.start == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    # An offset-less dateTime (accepted by Google on input) is read in its timeZone.
    floating = normalize_google_event(
        CAL,
        _event(
            start={"dateTime": "2026-03-30T10:00:00", "timeZone": "America/New_York"},
            end={"dateTime": "2026-03-30T10:30:00", "timeZone": "America/New_York"},
        ),
    )
    assert floating.start == datetime(2026, 3, 30, 14, 0, tzinfo=UTC)


def test_all_day_event_uses_dates_and_calendar_zone() -> None:
    snap = normalize_google_event(
        CAL, _event(start={"date": "2026-01-26"}, end={"date": "2026-01-27"}), calendar_time_zone="Europe/Berlin"
    )
    assert snap.all_day
    assert snap.start == datetime(2026, 1, 26, tzinfo=UTC) and snap.end == datetime(2026, 1, 27, tzinfo=UTC)
    assert snap.timezone == "Europe/Berlin"


def test_transparent_is_free() -> None:
    assert not normalize_google_event(CAL, _event(transparency="transparent")).busy
    assert normalize_google_event(CAL, _event(transparency="opaque")).busy


def test_series_keeps_recurrence_and_zone() -> None:
    snap = normalize_google_event(
        CAL, _event(recurrence=["RRULE:FREQ=WEEKLY;BYDAY=FR", "EXDATE;TZID=Europe/Berlin:20260403T100000"])
    )
    assert snap.kind is Kind.series
    assert snap.recurrence == ("RRULE:FREQ=WEEKLY;BYDAY=FR", "EXDATE;TZID=Europe/Berlin:20260403T100000")
    # Expanding in the series' zone keeps 10:00 local across the DST change.
    dtstart = snap.start.astimezone(ZoneInfo(snap.timezone))
    slots = list(rrulestr(snap.recurrence[0].removeprefix("RRULE:"), dtstart=dtstart)[:2])
    assert [s.astimezone(UTC).hour for s in slots] == [9, 8]


def test_series_until_is_made_dateutil_ready() -> None:
    snap = normalize_google_event(CAL, _event(recurrence=["RRULE:FREQ=WEEKLY;BYDAY=FR;UNTIL=20260410"]))
    assert snap.recurrence == ("RRULE:FREQ=WEEKLY;BYDAY=FR;UNTIL=20260410T215959Z",)
    dtstart = snap.start.astimezone(ZoneInfo(snap.timezone))
    slots = list(rrulestr(snap.recurrence[0].removeprefix("RRULE:"), dtstart=dtstart))
    assert len(slots) == 3  # 27 Mar, 3 Apr, 10 Apr (UNTIL is inclusive of that local day)
    zulu = normalize_google_event(CAL, _event(recurrence=["RRULE:FREQ=WEEKLY;UNTIL=20260217T225959Z"]))
    assert zulu.recurrence == ("RRULE:FREQ=WEEKLY;UNTIL=20260217T225959Z",)


def test_modified_instance() -> None:
    snap = normalize_google_event(
        CAL,
        _event(
            id="ev1_20260327T090000Z",
            recurringEventId="ev1",
            originalStartTime={"dateTime": "2026-03-27T10:00:00+01:00", "timeZone": "Europe/Berlin"},
            start={"dateTime": "2026-03-27T15:00:00+01:00", "timeZone": "Europe/Berlin"},
            end={"dateTime": "2026-03-27T15:20:00+01:00", "timeZone": "Europe/Berlin"},
        ),
    )
    assert snap.kind is Kind.instance and snap.series_id == "ev1"
    assert snap.original_start == datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
    assert snap.start == datetime(2026, 3, 27, 14, 0, tzinfo=UTC) and snap.recurrence == ()


def test_cancelled_instance_stub() -> None:
    stub = {
        "kind": "calendar#event",
        "etag": '"2"',
        "id": "ev1_20260327T090000Z",
        "status": "cancelled",
        "recurringEventId": "ev1",
        "originalStartTime": {"dateTime": "2026-03-27T10:00:00+01:00", "timeZone": "Europe/Berlin"},
    }
    observed = datetime(2026, 3, 20, 8, 0, tzinfo=UTC)
    snap = normalize_google_event(CAL, stub, observed_at=observed)
    assert snap.kind is Kind.instance and snap.status is Status.cancelled
    assert snap.start is None and snap.end is None
    assert snap.original_start == datetime(2026, 3, 27, 9, 0, tzinfo=UTC)
    assert snap.updated == observed and snap.timezone == "Europe/Berlin" and snap.attendees == ()
    with pytest.raises(GoogleEventError):
        normalize_google_event(CAL, stub)  # neither `updated` nor an observation time


def test_cancelled_all_day_instance_stub() -> None:
    stub = {
        "id": "ev9_20260126",
        "status": "cancelled",
        "recurringEventId": "ev9",
        "originalStartTime": {"date": "2026-01-26"},
        "updated": "2026-01-20T09:00:00.000Z",
    }
    snap = normalize_google_event(CAL, stub, calendar_time_zone="Europe/Berlin")
    assert snap.all_day and snap.original_start == datetime(2026, 1, 26, tzinfo=UTC)


def test_deleted_event() -> None:
    snap = normalize_google_event(CAL, _event(status="cancelled"))
    assert snap.status is Status.cancelled and snap.kind is Kind.single and snap.start is not None


def test_tentative_status_and_missing_fields() -> None:
    snap = normalize_google_event(
        CAL,
        {
            "id": "x",
            "status": "tentative",
            "updated": "2026-01-01T00:00:00Z",
            "start": {"dateTime": "2026-01-02T00:00:00Z"},
            "end": {"dateTime": "2026-01-02T01:00:00Z"},
        },
        calendar_time_zone="Asia/Kolkata",
    )
    assert snap.status is Status.tentative and snap.attendees == () and snap.organizer is None
    assert snap.timezone == "Asia/Kolkata" and snap.title == ""


@pytest.mark.parametrize("visibility", ["private", "confidential"])
def test_private_event_keeps_only_what_detection_needs(visibility: str) -> None:
    """Three people (and a room): no 1:1 whatever they are, so only the owner's own
    answer stays; times, UID and busy stay; the title goes."""
    snap = normalize_google_event(CAL, _event(visibility=visibility, description="Salary talk"))
    assert snap.private and snap.title == ""
    assert snap.organizer == "maya.diaz@acme.test"
    assert [(a.email, a.response) for a in snap.attendees] == [("maya.diaz@acme.test", Response.accepted)]
    assert snap.start == datetime(2026, 3, 27, 9, 0, tzinfo=UTC) and snap.busy
    assert snap.ical_uid == "ev1@google.com" and snap.event_id == "ev1"


def test_private_event_of_two_people_keeps_both_as_it_may_be_a_one_on_one() -> None:
    two = _event(
        visibility="private",
        attendees=[
            {"email": "maya.diaz@acme.test", "organizer": True, "responseStatus": "accepted"},
            {"email": "li.wei@acme.test", "responseStatus": "declined"},
            {"email": "room-4@resource.calendar.google.com", "resource": True, "responseStatus": "accepted"},
        ],
    )
    snap = normalize_google_event(CAL, two)
    assert snap.private and snap.title == "" and snap.organizer == "maya.diaz@acme.test"
    assert [(a.email, a.response) for a in snap.attendees] == [
        ("maya.diaz@acme.test", Response.accepted),
        ("li.wei@acme.test", Response.declined),
    ]


def test_someone_elses_private_event_keeps_the_owners_answer_only() -> None:
    """Organized by another person: neither the organizer nor the other guests stay
    (the organizer with the owner would count two people: a 1:1 it is not)."""
    theirs = _event(
        visibility="private",
        organizer={"email": "ceo@acme.test"},
        attendees=[
            {"email": "ceo@acme.test", "organizer": True, "responseStatus": "accepted"},
            {"email": "maya.diaz@acme.test", "responseStatus": "declined", "self": True},
            {"email": "li.wei@acme.test", "responseStatus": "accepted"},
        ],
    )
    snap = normalize_google_event(CAL, theirs)
    assert snap.organizer is None
    assert [(a.email, a.response) for a in snap.attendees] == [("maya.diaz@acme.test", Response.declined)]


@pytest.mark.parametrize("visibility", [None, "default", "public"])
def test_other_visibilities_keep_everything(visibility: str | None) -> None:
    snap = normalize_google_event(CAL, _event(visibility=visibility))
    assert not snap.private and snap.title == "Maya / Li 1:1" and len(snap.attendees) == 5
