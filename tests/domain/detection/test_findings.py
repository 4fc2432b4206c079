"""Each finding's rule at its boundaries."""

from __future__ import annotations

import pytest

from tests.domain.detection.builders import World, findings, keys, statuses

NOW = "2026-03-02T09:00Z"
SLOT = "2026-02-09T08:00Z"  # a Monday slot of the weekly series, well inside the window


def org(now: str = NOW) -> World:
    w = World(now=now)
    w.person("maya", tz="Europe/Berlin")
    w.person("li", manager="maya", tz="Europe/Berlin")
    w.person("omar", manager="maya", tz="Europe/Berlin")
    return w


def weekly(now: str = NOW, minutes: int = 30, rrule: str = "FREQ=WEEKLY;BYDAY=MO", **kw) -> World:
    w = org(now)
    w.series(
        "s",
        at="2026-01-01T00:00Z",
        start="2026-01-05T09:00",
        tz="Europe/Berlin",
        rrule=rrule,
        organizer="maya",
        attendees=["li"],
        minutes=minutes,
        **kw,
    )
    return w


def single(w: World, event_id: str, start: str, minutes: int = 30, **kw) -> None:
    base = dict(at="2026-01-01T00:00Z", start=start, organizer="maya", attendees=["li"], minutes=minutes)
    base.update(kw)
    w.event(event_id, **base)


# -- cancelled_without_reschedule ------------------------------------------------------


@pytest.mark.parametrize(
    "replacement, flagged",
    [
        ("2026-02-12T20:00Z", False),  # +3.5 d: bound included
        ("2026-02-12T20:01Z", True),
        ("2026-02-05T20:00Z", False),  # -3.5 d
        ("2026-02-05T19:59Z", True),
    ],
)
def test_reschedule_window_is_half_the_interval(replacement, flagged):
    w = weekly()
    w.cancel_occurrence("s", SLOT, at="2026-02-01T00:00Z")
    single(w, "r", replacement)
    expected = ["2026-02-09T08:00:00Z"] if flagged else []
    assert keys(w.replay(), "cancelled_without_reschedule") == expected


@pytest.mark.parametrize("offset, flagged", [("2026-02-16T08:00Z", False), ("2026-02-16T08:01Z", True)])
def test_reschedule_half_window_is_capped_at_seven_days(offset, flagged):
    w = weekly(
        rrule="FREQ=MONTHLY;BYMONTHDAY=9",
    )  # interval 30: half 15 d, capped at 7
    w.cancel_occurrence("s", SLOT, at="2026-02-01T00:00Z")
    single(w, "r", offset)
    expected = ["2026-02-09T08:00:00Z"] if flagged else []
    assert keys(w.replay(), "cancelled_without_reschedule") == expected


@pytest.mark.parametrize("replacement, flagged", [("2026-02-12T10:00Z", False), ("2026-02-12T10:01Z", True)])
def test_reschedule_window_is_three_days_without_interval(replacement, flagged):
    w = org()
    single(w, "a", "2026-02-09T10:00Z")
    w.delete("a", at="2026-02-08T10:00Z")
    single(w, "r", replacement)
    out = w.replay()
    assert out["pairs"][0]["interval_days"] is None
    assert keys(out, "cancelled_without_reschedule") == (["2026-02-09T10:00:00Z"] if flagged else [])
    if flagged:
        assert findings(out, "cancelled_without_reschedule")[0]["notice_hours"] == 24.0


def test_an_occurrence_of_the_same_series_is_no_replacement():
    w = weekly()
    w.cancel_occurrence("s", SLOT, at="2026-02-01T00:00Z")
    w.move_occurrence("s", "2026-02-16T08:00Z", at="2026-02-01T00:00Z", start="2026-02-10T08:00Z")
    assert keys(w.replay(), "cancelled_without_reschedule") == ["2026-02-09T08:00:00Z"]


def test_a_cancelled_replacement_is_no_replacement_but_a_declined_one_is():
    w = weekly()
    w.cancel_occurrence("s", SLOT, at="2026-02-01T00:00Z")
    single(w, "r", "2026-02-10T08:00Z")
    w.delete("r", at="2026-02-02T00:00Z")
    # (the deleted replacement is itself a cancelled 1:1 with nothing around it)
    assert keys(w.replay(), "cancelled_without_reschedule") == ["2026-02-09T08:00:00Z", "2026-02-10T08:00:00Z"]
    single(w, "q", "2026-02-11T08:00Z", responses={"li": "declined"})
    assert keys(w.replay(), "cancelled_without_reschedule") == []


def test_another_series_replaces():
    w = weekly()
    w.cancel_occurrence("s", SLOT, at="2026-02-01T00:00Z")
    w.series(
        "t",
        at="2026-02-01T00:00Z",
        start="2026-02-10T09:00",
        tz="Europe/Berlin",
        rrule="FREQ=WEEKLY;BYDAY=TU;COUNT=1",
        organizer="li",
        attendees=["maya"],
    )
    assert keys(w.replay(), "cancelled_without_reschedule") == []


def test_a_replacement_is_looked_for_outside_the_meetings_window():
    w = org()
    w.policy("maya", "li", 7)
    single(w, "a", "2025-12-02T09:00Z")  # exactly now - 90 d: in the window
    single(w, "b", "2025-12-02T08:59:59Z", at="2025-11-01T00:00Z")  # just before: not listed
    w.delete("a", at="2025-11-20T00:00Z")
    single(w, "r", "2025-11-29T09:00Z", at="2025-11-20T00:00Z")  # replacement before the window
    out = w.replay()
    assert list(statuses(out)) == ["2025-12-02T09:00:00Z"]
    assert keys(out, "cancelled_without_reschedule") == []


# -- late_reschedule -------------------------------------------------------------------


@pytest.mark.parametrize("at, flagged", [("2026-02-08T08:00Z", False), ("2026-02-08T08:00:01Z", True)])
def test_late_reschedule_needs_less_than_24h_notice(at, flagged):
    w = weekly()
    w.move_occurrence("s", SLOT, at=at, start="2026-02-09T13:00Z")
    assert keys(w.replay(), "late_reschedule") == (["2026-02-09T08:00:00Z"] if flagged else [])


def test_notice_counts_to_the_earlier_new_start():
    w = weekly()
    # 68 h before the old start, but only 20 h before the new one
    w.move_occurrence("s", SLOT, at="2026-02-06T12:00Z", start="2026-02-07T08:00Z")
    out = w.replay()
    got = findings(out, "late_reschedule")
    assert [(f["occurrence_start"], f["start"], f["notice_hours"]) for f in got] == [
        ("2026-02-09T08:00:00Z", "2026-02-07T08:00:00Z", 20.0)
    ]


def test_a_length_change_is_not_a_move():
    w = weekly()
    w.move_occurrence("s", SLOT, at="2026-02-09T07:00Z", start=SLOT, minutes=20)
    assert keys(w.replay(), "late_reschedule") == []


def test_the_smallest_notice_of_several_moves_counts():
    w = weekly()
    w.move_occurrence("s", SLOT, at="2026-02-01T00:00Z", start="2026-02-10T08:00Z")
    w.move_occurrence("s", SLOT, at="2026-02-09T20:00Z", start="2026-02-11T08:00Z")  # 12 h before
    w.move_occurrence("s", SLOT, at="2026-02-10T00:00Z", start="2026-02-12T08:00Z")  # 2 d before
    got = findings(w.replay(), "late_reschedule")
    assert [(f["start"], f["notice_hours"]) for f in got] == [("2026-02-12T08:00:00Z", 12.0)]


def test_a_late_move_of_a_later_cancelled_occurrence_is_not_reported():
    w = weekly()
    w.move_occurrence("s", SLOT, at="2026-02-09T06:00Z", start="2026-02-09T10:00Z")
    w.cancel_occurrence("s", SLOT, at="2026-02-09T07:00Z")
    out = w.replay()
    assert keys(out, "late_reschedule") == []
    assert keys(out, "cancelled_without_reschedule") == ["2026-02-09T08:00:00Z"]


def test_late_move_of_a_single_event():
    w = weekly()
    single(w, "a", "2026-02-11T10:00Z")
    w.update("a", at="2026-02-11T09:00Z", start="2026-02-11T15:00Z", end="2026-02-11T15:30Z")
    got = findings(w.replay(), "late_reschedule")
    assert [(f["occurrence_start"], f["notice_hours"]) for f in got] == [("2026-02-11T10:00:00Z", 1.0)]


# -- shortened -------------------------------------------------------------------------


@pytest.mark.parametrize("minutes, flagged", [(45, False), (44, True)])
def test_shortened_below_75_percent_of_the_series_length(minutes, flagged):
    w = weekly(minutes=60)
    w.move_occurrence("s", SLOT, at="2026-02-01T00:00Z", start=SLOT, minutes=minutes)
    got = findings(w.replay(), "shortened")
    assert [(f["minutes"], f["reference_minutes"]) for f in got] == ([(44, 60)] if flagged else [])


def test_shortened_against_the_series_length_in_force_at_its_start():
    w = weekly(minutes=60)
    w.update("s", at="2026-02-10T00:00Z", end="2026-01-05T08:30Z")  # 30 minutes from then on
    w.move_occurrence("s", "2026-02-23T08:00Z", at="2026-02-11T00:00Z", start="2026-02-23T08:00Z", minutes=20)
    got = findings(w.replay(), "shortened")
    assert [(f["occurrence_start"], f["minutes"], f["reference_minutes"]) for f in got] == [
        ("2026-02-23T08:00:00Z", 20, 30)
    ]


def test_shortened_single_against_the_median_single_length():
    w = org()
    for i, (day, minutes) in enumerate([(2, 30), (9, 30), (16, 30), (23, 15), (24, 23)]):
        single(w, f"e{i}", f"2026-02-{day:02d}T10:00Z", minutes=minutes)
    single(w, "gone", "2026-02-25T10:00Z", minutes=10 + 5)
    w.delete("gone", at="2026-02-24T00:00Z")
    got = findings(w.replay(), "shortened")
    assert [(f["occurrence_start"], f["minutes"], f["reference_minutes"]) for f in got] == [
        ("2026-02-23T10:00:00Z", 15, 30)
    ]


# -- declined --------------------------------------------------------------------------


def test_declined_by_manager_or_report_past_and_future():
    w = weekly()
    w.respond("s", "li", "declined", at="2026-02-01T00:00Z", original_start=SLOT)
    w.respond("s", "maya", "declined", at="2026-02-01T00:00Z", original_start="2026-03-09T08:00Z")
    w.respond("s", "li", "tentative", at="2026-02-01T00:00Z", original_start="2026-02-16T08:00Z")
    out = w.replay()
    assert [(f["occurrence_start"], f["by"]) for f in findings(out, "declined")] == [
        ("2026-02-09T08:00:00Z", "report"),
        ("2026-03-09T08:00:00Z", "manager"),
    ]
    got = statuses(out)
    assert (got["2026-02-09T08:00:00Z"], got["2026-03-09T08:00:00Z"], got["2026-02-16T08:00:00Z"]) == (
        "declined",
        "scheduled",
        "held",
    )


def test_declining_the_whole_series_declines_every_occurrence_it_has():
    """SPEC: `respond` answers "for the whole event"; a decline has no time
    condition, so past occurrences are declined too."""
    w = weekly()
    w.respond("s", "li", "declined", at="2026-02-20T00:00Z")
    out = w.replay()
    assert keys(out, "declined") == [f"2026-{d}T08:00:00Z" for d in ("01-05", "01-12", "01-19", "01-26")] + [
        f"2026-{d}T08:00:00Z" for d in ("02-02", "02-09", "02-16", "02-23", "03-02", "03-09", "03-16")
    ]
    assert set(statuses(out).values()) == {"declined", "scheduled"}
    assert findings(out, "cadence_gap") == []  # nothing held: no gap to measure


def test_a_later_occurrence_answer_overrides_a_series_decline():
    w = weekly()
    w.respond("s", "li", "declined", at="2026-02-20T00:00Z")
    w.respond("s", "li", "accepted", at="2026-02-21T00:00Z", original_start="2026-02-16T08:00Z")
    assert statuses(w.replay())["2026-02-16T08:00:00Z"] == "held"


def test_a_later_series_answer_overrides_an_earlier_occurrence_answer():
    w = weekly()
    w.respond("s", "li", "declined", at="2026-02-01T00:00Z", original_start="2026-02-23T08:00Z")
    w.respond("s", "li", "accepted", at="2026-02-02T00:00Z")
    assert keys(w.replay(), "declined") == []


def test_no_declined_finding_for_a_cancelled_occurrence():
    w = weekly()
    w.respond("s", "li", "declined", at="2026-02-01T00:00Z", original_start=SLOT)
    w.cancel_occurrence("s", SLOT, at="2026-02-02T00:00Z")
    assert keys(w.replay(), "declined") == []


# -- double_booked ---------------------------------------------------------------------


def busy_block(w: World, event_id: str, start: str, end: str, owner: str = "maya", **kw) -> None:
    w.event(
        event_id, at="2026-01-20T00:00Z", start=start, end=end, organizer=owner, attendees=[], calendars=[owner], **kw
    )


@pytest.mark.parametrize(
    "start, end, flagged",
    [
        ("2026-02-09T08:30Z", "2026-02-09T09:00Z", False),  # touching the end
        ("2026-02-09T07:30Z", "2026-02-09T08:00Z", False),  # touching the start
        ("2026-02-09T08:29Z", "2026-02-09T09:00Z", True),
        ("2026-02-09T07:00Z", "2026-02-09T10:00Z", True),  # around it
    ],
)
def test_double_booked_needs_a_strict_overlap(start, end, flagged):
    w = weekly()
    busy_block(w, "x", start, end)
    got = findings(w.replay(), "double_booked")
    assert [(f["occurrence_start"], f["by"]) for f in got] == ([("2026-02-09T08:00:00Z", "manager")] if flagged else [])


@pytest.mark.parametrize("kw", [dict(busy=False), dict(all_day=True)])
def test_free_or_all_day_events_do_not_double_book(kw):
    w = weekly()
    if kw.get("all_day"):
        busy_block(w, "x", "2026-02-09T00:00Z", "2026-02-10T00:00Z", **kw)
    else:
        busy_block(w, "x", "2026-02-09T08:00Z", "2026-02-09T08:30Z", **kw)
    assert findings(w.replay(), "double_booked") == []


def test_an_event_declined_by_its_owner_does_not_double_book():
    w = weekly()
    w.event(
        "x",
        at="2026-01-20T00:00Z",
        start="2026-02-09T08:00Z",
        organizer="omar",
        attendees=["maya", "sam@other.test"],
        calendars=["maya", "omar"],
    )
    assert keys(w.replay(), "double_booked") == ["2026-02-09T08:00:00Z"]
    w.respond("x", "maya", "declined", at="2026-01-21T00:00Z")
    assert keys(w.replay(), "double_booked") == []


def test_declines_after_the_fact_end_a_double_booking():
    """Declining the busy block, or the 1:1, after it took place: SPEC's "not
    declined" has no time condition."""
    w = weekly()
    w.event(
        "x",
        at="2026-01-20T00:00Z",
        start="2026-02-09T08:00Z",
        organizer="omar",
        attendees=["maya", "sam@other.test"],
        calendars=["maya", "omar"],
    )
    busy_block(w, "y", "2026-02-16T08:00Z", "2026-02-16T09:00Z")
    assert keys(w.replay(), "double_booked") == ["2026-02-09T08:00:00Z", "2026-02-16T08:00:00Z"]
    w.respond("x", "maya", "declined", at="2026-02-10T00:00Z")
    w.respond("s", "li", "declined", at="2026-02-17T00:00Z", original_start="2026-02-16T08:00Z")
    assert keys(w.replay(), "double_booked") == []


def test_another_one_on_one_counts_and_each_side_is_judged_on_its_own_calendar():
    w = weekly()
    single(w, "o", "2026-02-09T08:15Z", organizer="maya", attendees=["omar"])
    busy_block(w, "d", "2026-02-16T08:00Z", "2026-02-16T09:00Z", owner="li")
    busy_block(w, "elsewhere", "2026-02-23T08:00Z", "2026-02-23T09:00Z", owner="omar")
    got = {(f["occurrence_start"], f["by"], f["report"]) for f in findings(w.replay(), "double_booked")}
    assert got == {
        ("2026-02-09T08:00:00Z", "manager", "li@acme.test"),
        ("2026-02-09T08:15:00Z", "manager", "omar@acme.test"),
        ("2026-02-16T08:00:00Z", "report", "li@acme.test"),
    }


def test_a_busy_block_deleted_after_it_took_place_still_counts():
    w = weekly()
    busy_block(w, "x", "2026-02-09T08:00Z", "2026-02-09T09:00Z")
    busy_block(w, "y", "2026-02-16T08:00Z", "2026-02-16T09:00Z")
    w.delete("x", at="2026-02-10T00:00Z")  # after: still happened
    w.delete("y", at="2026-02-15T00:00Z")  # before: never happened
    assert keys(w.replay(), "double_booked") == ["2026-02-09T08:00:00Z"]


def test_future_occurrences_count_but_declined_or_cancelled_ones_do_not():
    w = weekly()
    for day in ("09", "16", "23"):
        busy_block(w, f"x{day}", f"2026-03-{day}T08:00Z", f"2026-03-{day}T08:30Z")
    w.respond("s", "li", "declined", at="2026-03-01T00:00Z", original_start="2026-03-16T08:00Z")
    w.cancel_occurrence("s", "2026-03-23T08:00Z", at="2026-03-01T00:00Z")
    assert keys(w.replay(), "double_booked") == ["2026-03-09T08:00:00Z"]


def test_a_recurring_busy_block_double_books():
    w = weekly()
    w.series(
        "team",
        at="2026-01-01T00:00Z",
        start="2026-02-09T09:15",
        tz="Europe/Berlin",
        rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=2",
        organizer="maya",
        attendees=["li", "omar"],
    )
    got = {(f["occurrence_start"], f["by"]) for f in findings(w.replay(), "double_booked")}
    assert got == {(d, by) for d in ("2026-02-09T08:00:00Z", "2026-02-16T08:00:00Z") for by in ("manager", "report")}


# -- cadence_gap -----------------------------------------------------------------------


@pytest.mark.parametrize("second, flagged", [("2026-02-11T22:00Z", False), ("2026-02-11T22:01Z", True)])
def test_cadence_gap_more_than_one_and_a_half_intervals(second, flagged):
    w = org(now="2026-02-15T00:00Z")
    w.policy("maya", "li", 7)
    single(w, "a", "2026-02-01T10:00Z")
    single(w, "b", second)
    got = findings(w.replay(), "cadence_gap")
    assert [(f["since"], f["gap_days"]) for f in got] == ([("2026-02-01T10:00:00Z", 10.5)] if flagged else [])


@pytest.mark.parametrize("now, flagged", [("2026-02-11T22:00Z", False), ("2026-02-11T22:00:01Z", True)])
def test_cadence_gap_between_the_last_held_and_now(now, flagged):
    w = org(now=now)
    w.policy("maya", "li", 7)
    single(w, "a", "2026-02-01T10:00Z")
    assert keys(w.replay(), "cadence_gap") == (["2026-02-01T10:00:00Z"] if flagged else [])


def test_no_cadence_gap_without_interval_or_held_occurrence():
    w = org()
    single(w, "a", "2026-01-01T10:00Z")
    assert keys(w.replay(), "cadence_gap") == []  # no interval
    w2 = org()
    w2.policy("maya", "li", 7)
    single(w2, "a", "2026-03-05T10:00Z")
    assert keys(w2.replay(), "cadence_gap") == []  # nothing held yet


# -- no_upcoming -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "start, flagged",
    [
        ("2026-03-16T09:00Z", False),  # now + 14 d: bound included
        ("2026-03-16T09:00:01Z", True),
        ("2026-03-02T09:00Z", True),  # starting exactly now is not upcoming
    ],
)
def test_no_upcoming_within_fourteen_days_without_interval(start, flagged):
    w = org()
    single(w, "a", start)
    got = [f for f in findings(w.replay(), "no_upcoming") if f["report"] == "li@acme.test"]
    assert bool(got) is flagged


def test_no_upcoming_horizon_is_twice_the_interval_and_looks_past_the_window():
    w = org()
    w.policy("maya", "li", 30)
    single(w, "a", "2026-04-30T09:00Z")  # now + 59 d, past the meetings window
    out = w.replay()
    assert [f["report"] for f in findings(out, "no_upcoming")] == ["omar@acme.test"]
    assert "2026-04-30T09:00:00Z" not in statuses(out)
    w.update("a", at="2026-02-01T00:00Z", start="2026-05-01T09:01Z", end="2026-05-01T09:31Z")
    got = [f for f in findings(w.replay(), "no_upcoming") if f["report"] == "li@acme.test"]
    assert [f["horizon_days"] for f in got] == [60]


def test_declined_or_cancelled_upcoming_do_not_count():
    w = org()
    single(w, "a", "2026-03-05T09:00Z", responses={"li": "declined"})
    single(w, "b", "2026-03-06T09:00Z")
    w.delete("b", at="2026-03-01T00:00Z")
    got = [f["report"] for f in findings(w.replay(), "no_upcoming")]
    assert got == ["li@acme.test", "omar@acme.test"]


def test_a_long_inferred_interval_expands_series_far_enough():
    """Interval from held singles (median 40 d); a series starts in 50 days."""
    w = org(now="2026-06-01T00:00Z")
    for i, day in enumerate(["2026-03-05", "2026-04-14", "2026-05-24"]):
        single(w, f"e{i}", f"{day}T09:00Z", at="2026-02-01T00:00Z")
    w.series(
        "later",
        at="2026-05-01T00:00Z",
        start="2026-07-21T09:00",
        tz="Europe/Berlin",
        rrule="FREQ=WEEKLY;BYDAY=TU",
        organizer="maya",
        attendees=["li"],
    )
    out = w.replay()
    assert out["pairs"][0]["interval_days"] == 40
    assert [f["report"] for f in findings(out, "no_upcoming")] == ["omar@acme.test"]
