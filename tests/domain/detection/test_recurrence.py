"""Series slots: expanded in the series' own zone, with UNTIL/EXDATE/RDATE/COUNT."""

from __future__ import annotations

from service.domain.detection.recurrence import EXCLUDED, LIVE, interval_days, slot_set
from tests.domain.detection.builders import local, utc


def slots(lines, start, tz, lo, hi):
    found = slot_set(tuple(lines), local(start, tz), tz).between(utc(lo), utc(hi))
    return {k.strftime("%Y-%m-%dT%H:%MZ"): v for k, v in sorted(found.items())}


def test_berlin_weekly_keeps_local_time_across_dst():
    got = slots(
        ["RRULE:FREQ=WEEKLY;BYDAY=MO"], "2026-03-16T09:00", "Europe/Berlin", "2026-03-16T00:00Z", "2026-04-07T00:00Z"
    )
    # CET (+1) until Sunday 29 March, CEST (+2) after: 09:00 local is 08:00Z then 07:00Z.
    assert list(got) == ["2026-03-16T08:00Z", "2026-03-23T08:00Z", "2026-03-30T07:00Z", "2026-04-06T07:00Z"]


def test_new_york_weekly_across_us_dst():
    got = slots(
        ["RRULE:FREQ=WEEKLY;BYDAY=TH"], "2026-02-26T10:00", "America/New_York", "2026-02-20T00:00Z", "2026-03-13T00:00Z"
    )
    assert list(got) == ["2026-02-26T15:00Z", "2026-03-05T15:00Z", "2026-03-12T14:00Z"]


def test_wall_time_in_the_spring_gap_takes_the_offset_before_the_change():
    got = slots(["RRULE:FREQ=DAILY"], "2026-03-28T02:30", "Europe/Berlin", "2026-03-28T00:00Z", "2026-03-30T23:00Z")
    # 02:30 does not exist on 29 March: it lands one hour later (01:30Z = 03:30 CEST).
    assert list(got) == ["2026-03-28T01:30Z", "2026-03-29T01:30Z", "2026-03-30T00:30Z"]


def test_until_in_utc_date_and_floating_forms():
    for until in ("UNTIL=20260119T080000Z", "UNTIL=20260119", "UNTIL=20260119T090000"):
        got = slots(
            [f"RRULE:FREQ=WEEKLY;BYDAY=MO;{until}"],
            "2026-01-05T09:00",
            "Europe/Berlin",
            "2026-01-01T00:00Z",
            "2026-03-01T00:00Z",
        )
        assert list(got) == ["2026-01-05T08:00Z", "2026-01-12T08:00Z", "2026-01-19T08:00Z"], until


def test_until_just_before_a_slot_excludes_it():
    got = slots(
        ["RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20260119T075959Z"],
        "2026-01-05T09:00",
        "Europe/Berlin",
        "2026-01-01T00:00Z",
        "2026-03-01T00:00Z",
    )
    assert list(got) == ["2026-01-05T08:00Z", "2026-01-12T08:00Z"]


def test_exdate_forms_mark_slots_excluded():
    lines = [
        "RRULE:FREQ=WEEKLY;BYDAY=MO",
        "EXDATE;TZID=Europe/Berlin:20260112T090000",
        "EXDATE:20260119T080000Z",
        "EXDATE;VALUE=DATE:20260126",
    ]
    got = slots(lines, "2026-01-05T09:00", "Europe/Berlin", "2026-01-01T00:00Z", "2026-02-03T00:00Z")
    assert got == {
        "2026-01-05T08:00Z": LIVE,
        "2026-01-12T08:00Z": EXCLUDED,
        "2026-01-19T08:00Z": EXCLUDED,
        "2026-01-26T08:00Z": EXCLUDED,
        "2026-02-02T08:00Z": LIVE,
    }


def test_rdate_adds_a_slot_and_count_ends_the_rule():
    lines = ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=2", "RDATE;TZID=Europe/Berlin:20260204T150000"]
    got = slots(lines, "2026-01-05T09:00", "Europe/Berlin", "2026-01-01T00:00Z", "2026-03-01T00:00Z")
    assert list(got) == ["2026-01-05T08:00Z", "2026-01-12T08:00Z", "2026-02-04T14:00Z"]


def test_monthly_by_month_day_in_kolkata():
    got = slots(
        ["RRULE:FREQ=MONTHLY;BYMONTHDAY=12"],
        "2026-01-12T16:30",
        "Asia/Kolkata",
        "2026-01-01T00:00Z",
        "2026-03-31T00:00Z",
    )
    assert list(got) == ["2026-01-12T11:00Z", "2026-02-12T11:00Z", "2026-03-12T11:00Z"]


def test_ends_before_sees_until():
    series = slot_set(
        ("RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20260119T080000Z",),
        local("2026-01-05T09:00", "Europe/Berlin"),
        "Europe/Berlin",
    )
    assert not series.ends_before(utc("2026-01-19T08:00Z"))
    assert series.ends_before(utc("2026-01-19T08:00:01Z"))


def test_interval_days_per_frequency():
    assert interval_days(("RRULE:FREQ=WEEKLY;BYDAY=MO",)) == 7
    assert interval_days(("RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TU",)) == 14
    assert interval_days(("RRULE:FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=3",)) == 60
    assert interval_days(("RRULE:FREQ=DAILY;INTERVAL=3",)) == 3
    assert interval_days(("EXDATE:20260105T080000Z", "RRULE:FREQ=MONTHLY")) == 30
    assert interval_days(()) is None
