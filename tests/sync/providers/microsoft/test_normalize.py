"""normalize_graph_event: Microsoft Graph v1.0 event resources → EventSnapshot,
and the Windows → IANA zone table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from dateutil.rrule import rrulestr

from service.domain.events import Kind, Response, Status
from service.sync.providers.microsoft.normalize import GraphEventError, normalize_graph_event
from service.sync.providers.microsoft.windows_zones import WINDOWS_TO_IANA, UnknownTimeZone, to_iana, to_windows

UTC = UTC
MAILBOX = "Li.Wei@acme.test"
MASTER_UID = "040000008200E00074C5B7101A82E00800000000959E34E439948EC0DFA61EABFCC1EE72"


def _dtz(value: str, zone: str = "W. Europe Standard Time") -> dict:
    return {"dateTime": value, "timeZone": zone}


def _master(**over) -> dict:
    base = {
        "id": "AAMkMaster=",
        "type": "seriesMaster",
        "subject": "Maya / Li 1:1",
        "iCalUId": MASTER_UID,
        "lastModifiedDateTime": "2026-01-05T00:00:00.0000000Z",
        "changeKey": "ck1",
        "start": _dtz("2026-01-05T09:00:00.0000000"),
        "end": _dtz("2026-01-05T09:30:00.0000000"),
        "originalStartTimeZone": "W. Europe Standard Time",
        "originalEndTimeZone": "W. Europe Standard Time",
        "recurrence": {
            "pattern": {
                "type": "weekly",
                "interval": 1,
                "month": 0,
                "dayOfMonth": 0,
                "daysOfWeek": ["monday"],
                "firstDayOfWeek": "sunday",
                "index": "first",
            },
            "range": {
                "type": "noEnd",
                "startDate": "2026-01-05",
                "endDate": "0001-01-01",
                "recurrenceTimeZone": "W. Europe Standard Time",
                "numberOfOccurrences": 0,
            },
        },
        "organizer": {"emailAddress": {"name": "Maya", "address": "Maya.Diaz@acme.test"}},
        "attendees": [
            {
                "type": "required",
                "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                "emailAddress": {"address": "li.wei@acme.test"},
            },
            {
                "type": "resource",
                "status": {"response": "accepted", "time": "2026-01-05T00:00:00Z"},
                "emailAddress": {"address": "Room.4@acme.test"},
            },
            {
                "type": "optional",
                "status": {"response": "tentativelyAccepted", "time": "2026-01-05T00:00:00Z"},
                "emailAddress": {"address": "sam@other.test"},
            },
        ],
        "responseStatus": {"response": "notResponded", "time": "0001-01-01T00:00:00Z"},
        "showAs": "busy",
        "isAllDay": False,
        "isCancelled": False,
        "isOrganizer": False,
    }
    base.update(over)
    return base


def _expand(snap, count: int) -> list[datetime]:
    dtstart = snap.start.astimezone(ZoneInfo(snap.timezone))
    rules = rrulestr("\n".join(snap.recurrence), dtstart=dtstart, forceset=True)
    return [s.astimezone(UTC) for s in list(rules)[:count]]


# -- zones ---------------------------------------------------------------------
def test_windows_table_is_complete_and_valid() -> None:
    assert len(WINDOWS_TO_IANA) >= 135
    zones = available_timezones()
    assert all(iana in zones for iana in WINDOWS_TO_IANA.values())
    assert to_iana("W. Europe Standard Time") == "Europe/Berlin"
    assert to_iana("Eastern Standard Time") == "America/New_York"
    assert to_iana("Pacific Standard Time") == "America/Los_Angeles"
    assert to_iana("GMT Standard Time") == "Europe/London"
    assert to_iana("India Standard Time") == "Asia/Kolkata"
    assert to_iana("AUS Eastern Standard Time") == "Australia/Sydney"
    assert to_iana("Romance Standard Time") == "Europe/Paris"
    assert to_iana("tokyo standard time") == "Asia/Tokyo"  # Graph's casing is not guaranteed
    assert to_iana("UTC") == to_iana("tzone://Microsoft/Utc") == "UTC"
    assert to_iana("Europe/Lisbon") == "Europe/Lisbon"  # IANA names pass through
    assert to_windows("Europe/Berlin") == "W. Europe Standard Time"
    with pytest.raises(UnknownTimeZone):
        to_iana("tzone://Microsoft/Custom")


# -- single events ---------------------------------------------------------------
def test_single_event_in_windows_zone_is_dst_correct() -> None:
    res = _master(
        id="AAMkSingle=",
        type="singleInstance",
        recurrence=None,
        start=_dtz("2026-03-30T10:00:00.0000000"),
        end=_dtz("2026-03-30T10:45:00.0000000"),
    )
    snap = normalize_graph_event(MAILBOX, res)
    assert snap.kind is Kind.single and snap.provider == "microsoft" and snap.calendar == "li.wei@acme.test"
    assert snap.start == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # CEST
    assert snap.end == datetime(2026, 3, 30, 8, 45, tzinfo=UTC)
    assert snap.timezone == "Europe/Berlin" and snap.recurrence == ()
    assert snap.updated == datetime(2026, 1, 5, tzinfo=UTC) and snap.ical_uid == MASTER_UID
    winter = normalize_graph_event(MAILBOX, {**res, "start": _dtz("2026-03-27T10:00:00.0000000")})
    assert winter.start == datetime(2026, 3, 27, 9, 0, tzinfo=UTC)


def test_times_already_in_utc_keep_the_scheduling_zone() -> None:
    res = _master(
        id="AAMkSingle=",
        type="singleInstance",
        recurrence=None,
        start=_dtz("2026-03-30T08:00:00.0000000", "UTC"),
        end=_dtz("2026-03-30T08:45:00.0000000", "UTC"),
    )
    snap = normalize_graph_event(MAILBOX, res)
    assert snap.start == datetime(2026, 3, 30, 8, 0, tzinfo=UTC) and snap.timezone == "Europe/Berlin"


def test_people_responses_rooms_and_organizer() -> None:
    snap = normalize_graph_event(MAILBOX, _master(type="singleInstance", recurrence=None))
    people = {a.email: a for a in snap.attendees}
    assert snap.organizer == "maya.diaz@acme.test"
    assert people["maya.diaz@acme.test"].organizer and people["maya.diaz@acme.test"].response is Response.accepted
    assert people["li.wei@acme.test"].response is Response.needs_action
    assert people["room.4@acme.test"].resource and not people["li.wei@acme.test"].resource
    assert people["sam@other.test"].response is Response.tentative
    declined = _master(
        type="singleInstance", recurrence=None, responseStatus={"response": "declined", "time": "2026-02-01T00:00:00Z"}
    )
    assert {a.email: a for a in normalize_graph_event(MAILBOX, declined).attendees}[
        "li.wei@acme.test"
    ].response is Response.declined  # the owner's own answer wins


def test_free_all_day_and_cancelled() -> None:
    assert not normalize_graph_event(MAILBOX, _master(type="singleInstance", recurrence=None, showAs="free")).busy
    assert normalize_graph_event(MAILBOX, _master(type="singleInstance", recurrence=None, showAs="oof")).busy
    all_day = normalize_graph_event(
        MAILBOX,
        _master(
            type="singleInstance",
            recurrence=None,
            isAllDay=True,
            start=_dtz("2026-02-19T00:00:00.0000000", "UTC"),
            end=_dtz("2026-02-20T00:00:00.0000000", "UTC"),
        ),
    )
    assert all_day.all_day and all_day.start == datetime(2026, 2, 19, tzinfo=UTC)
    assert all_day.end == datetime(2026, 2, 20, tzinfo=UTC)
    cancelled = normalize_graph_event(MAILBOX, _master(type="singleInstance", recurrence=None, isCancelled=True))
    assert cancelled.status is Status.cancelled


def test_custom_zone_falls_back_to_the_mailbox_zone() -> None:
    res = _master(
        type="singleInstance",
        recurrence=None,
        originalStartTimeZone="tzone://Microsoft/Custom",
        start=_dtz("2026-01-10T09:00:00.0000000", "tzone://Microsoft/Custom"),
        end=_dtz("2026-01-10T10:00:00.0000000", "tzone://Microsoft/Custom"),
    )
    snap = normalize_graph_event(MAILBOX, res, mailbox_time_zone="Asia/Kolkata")
    assert snap.timezone == "Asia/Kolkata" and snap.start == datetime(2026, 1, 10, 3, 30, tzinfo=UTC)


# -- series and instances -----------------------------------------------------------
def test_series_master_weekly_expands_across_dst() -> None:
    snap = normalize_graph_event(MAILBOX, _master())
    assert snap.kind is Kind.series and snap.timezone == "Europe/Berlin"
    assert snap.recurrence == ("RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;WKST=SU",)
    slots = _expand(snap, 14)
    assert slots[0] == datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    assert slots[11] == datetime(2026, 3, 23, 8, 0, tzinfo=UTC)
    assert slots[12] == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # 09:00 CEST


@pytest.mark.parametrize(
    ("pattern", "rng", "expected"),
    [
        (
            {"type": "daily", "interval": 2},
            {"type": "numbered", "numberOfOccurrences": 3},
            ["2026-01-05", "2026-01-07", "2026-01-09"],
        ),
        (
            {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "thursday"]},
            {"type": "endDate", "endDate": "2026-01-22"},
            ["2026-01-05", "2026-01-08", "2026-01-19", "2026-01-22"],
        ),
        (
            {"type": "absoluteMonthly", "dayOfMonth": 5},
            {"type": "numbered", "numberOfOccurrences": 3},
            ["2026-01-05", "2026-02-05", "2026-03-05"],
        ),
        (
            {"type": "relativeMonthly", "daysOfWeek": ["monday"], "index": "first"},
            {"type": "endDate", "endDate": "2026-04-06"},
            ["2026-01-05", "2026-02-02", "2026-03-02", "2026-04-06"],
        ),
        (
            {"type": "relativeMonthly", "daysOfWeek": ["friday"], "index": "last"},
            {"type": "numbered", "numberOfOccurrences": 2},
            ["2026-01-30", "2026-02-27"],
        ),
        (
            {"type": "absoluteYearly", "month": 1, "dayOfMonth": 5},
            {"type": "numbered", "numberOfOccurrences": 2},
            ["2026-01-05", "2027-01-05"],
        ),
        (
            {"type": "relativeYearly", "month": 3, "daysOfWeek": ["sunday"], "index": "last"},
            {"type": "numbered", "numberOfOccurrences": 2},
            ["2026-03-29", "2027-03-28"],
        ),
    ],
)
def test_every_pattern_and_range(pattern: dict, rng: dict, expected: list[str]) -> None:
    rec = _master()["recurrence"]
    rec = {"pattern": {**rec["pattern"], **pattern}, "range": {**rec["range"], **rng}}
    snap = normalize_graph_event(MAILBOX, _master(recurrence=rec))
    slots = _expand(snap, 50)
    assert [s.astimezone(ZoneInfo("Europe/Berlin")).date().isoformat() for s in slots] == expected
    assert all(s.astimezone(ZoneInfo("Europe/Berlin")).hour == 9 for s in slots)


def test_end_date_is_inclusive_in_the_recurrence_zone() -> None:
    rec = _master()["recurrence"]
    rec = {
        "pattern": rec["pattern"],
        "range": {
            **rec["range"],
            "type": "endDate",
            "endDate": "2026-01-19",
            "recurrenceTimeZone": "Pacific Standard Time",
        },
    }
    late = _master(
        recurrence=rec,
        start=_dtz("2026-01-05T23:00:00.0000000", "Pacific Standard Time"),
        end=_dtz("2026-01-05T23:30:00.0000000", "Pacific Standard Time"),
    )
    snap = normalize_graph_event(MAILBOX, late)
    assert snap.timezone == "America/Los_Angeles"
    # 23:00 in Los Angeles on the end date is already the next day in UTC: still included.
    assert _expand(snap, 10)[-1] == datetime(2026, 1, 20, 7, 0, tzinfo=UTC)


def test_pattern_anchors_at_range_start_date() -> None:
    rec = _master()["recurrence"]
    rec = {"pattern": {**rec["pattern"], "interval": 2}, "range": {**rec["range"], "startDate": "2026-01-12"}}
    snap = normalize_graph_event(MAILBOX, _master(recurrence=rec))
    assert _expand(snap, 2) == [datetime(2026, 1, 12, 8, tzinfo=UTC), datetime(2026, 1, 26, 8, tzinfo=UTC)]


def test_cancelled_occurrences_become_exdates() -> None:
    master = _master(cancelledOccurrences=["OID.AAMkMaster=.2026-01-12"])
    snap = normalize_graph_event(MAILBOX, master)
    assert "EXDATE:20260112T080000Z" in snap.recurrence
    assert datetime(2026, 1, 12, 8, tzinfo=UTC) not in _expand(snap, 4)


def test_stub_occurrence_takes_details_from_master() -> None:
    stub = {
        "id": "AAMkOcc1",
        "type": "occurrence",
        "seriesMasterId": "AAMkMaster=",
        "originalStart": "2026-01-12T08:00:00Z",
        "start": _dtz("2026-01-12T08:00:00.0000000", "UTC"),
        "end": _dtz("2026-01-12T08:30:00.0000000", "UTC"),
    }
    snap = normalize_graph_event(MAILBOX, stub, _master())
    assert snap.kind is Kind.instance and snap.series_id == "AAMkMaster=" and snap.recurrence == ()
    assert snap.original_start == snap.start == datetime(2026, 1, 12, 8, tzinfo=UTC)
    assert snap.title == "Maya / Li 1:1" and snap.organizer == "maya.diaz@acme.test"
    assert snap.ical_uid == MASTER_UID and snap.timezone == "Europe/Berlin"
    assert snap.updated == datetime(2026, 1, 5, tzinfo=UTC)
    assert {a.email for a in snap.attendees} >= {"li.wei@acme.test", "maya.diaz@acme.test"}


def test_exception_and_per_occurrence_ical_uid() -> None:
    occurrence_uid = MASTER_UID[:32] + "07EA010C" + MASTER_UID[40:]
    exc = {
        **_master(),
        "id": "AAMkOcc1",
        "type": "exception",
        "seriesMasterId": "AAMkMaster=",
        "recurrence": None,
        "iCalUId": occurrence_uid,
        "originalStart": "2026-01-12T08:00:00Z",
        "lastModifiedDateTime": "2026-01-10T12:00:00.0000000Z",
        "start": _dtz("2026-01-12T14:00:00.0000000"),
        "end": _dtz("2026-01-12T14:20:00.0000000"),
    }
    with_master = normalize_graph_event(MAILBOX, exc, _master())
    alone = normalize_graph_event(MAILBOX, exc)
    for snap in (with_master, alone):
        assert snap.kind is Kind.instance and snap.ical_uid == MASTER_UID
        assert snap.start == datetime(2026, 1, 12, 13, tzinfo=UTC) and snap.end - snap.start == timedelta(minutes=20)
        assert snap.updated == datetime(2026, 1, 10, 12, tzinfo=UTC)


def test_bad_inputs() -> None:
    with pytest.raises(GraphEventError):
        normalize_graph_event(MAILBOX, {"id": "x", "@removed": {"reason": "deleted"}})
    with pytest.raises(GraphEventError):
        normalize_graph_event(MAILBOX, {"id": "x", "start": _dtz("2026-01-01T00:00:00")})


@pytest.mark.parametrize("sensitivity", ["private", "confidential"])
def test_private_event_keeps_only_what_detection_needs(sensitivity: str) -> None:
    """Maya, Li and Sam (and a room): no 1:1, so only the owner's own entry stays."""
    single = _master(type="singleInstance", recurrence=None, sensitivity=sensitivity, body={"content": "Salary"})
    snap = normalize_graph_event(MAILBOX, single)
    assert snap.private and snap.title == "" and snap.organizer is None
    assert [(a.email, a.response) for a in snap.attendees] == [("li.wei@acme.test", Response.needs_action)]
    assert snap.start == datetime(2026, 1, 5, 8, tzinfo=UTC) and snap.busy and snap.ical_uid == MASTER_UID


def test_private_series_stub_occurrence_inherits_it_and_two_people_stay() -> None:
    master = _master(
        sensitivity="private",
        attendees=[
            {
                "type": "required",
                "status": {"response": "accepted", "time": "2026-01-05T00:00:00Z"},
                "emailAddress": {"address": "li.wei@acme.test"},
            },
            {
                "type": "resource",
                "status": {"response": "accepted", "time": "2026-01-05T00:00:00Z"},
                "emailAddress": {"address": "Room.4@acme.test"},
            },
        ],
    )
    stub = {
        "id": "AAMkOcc1",
        "type": "occurrence",
        "seriesMasterId": "AAMkMaster=",
        "originalStart": "2026-01-12T08:00:00Z",
        "start": _dtz("2026-01-12T08:00:00.0000000", "UTC"),
        "end": _dtz("2026-01-12T08:30:00.0000000", "UTC"),
    }
    for snap in (normalize_graph_event(MAILBOX, master), normalize_graph_event(MAILBOX, stub, master)):
        assert snap.private and snap.title == "" and snap.organizer == "maya.diaz@acme.test"
        assert {a.email for a in snap.attendees} == {"li.wei@acme.test", "maya.diaz@acme.test"}


@pytest.mark.parametrize("sensitivity", [None, "normal", "personal"])
def test_other_sensitivities_keep_everything(sensitivity: str | None) -> None:
    snap = normalize_graph_event(MAILBOX, _master(type="singleInstance", recurrence=None, sensitivity=sensitivity))
    assert not snap.private and snap.title == "Maya / Li 1:1" and len(snap.attendees) == 4
