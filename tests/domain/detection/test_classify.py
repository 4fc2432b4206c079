"""What is a 1:1: two org members, one the other's direct manager, 10–120 min,
timed, judged on the event or series as created."""

from __future__ import annotations

import pytest

from tests.domain.detection.builders import World, findings, meetings, pair, statuses

NOW = "2026-03-02T09:00Z"


def org() -> World:
    w = World(now=NOW)
    w.person("maya")
    w.person("li", manager="maya")
    w.person("omar", manager="maya")
    w.person("dev")  # another manager, not Maya's report
    return w


def one_single(**kw) -> dict:
    w = org()
    base = dict(at="2026-02-01T00:00Z", start="2026-02-10T10:00Z", organizer="maya", attendees=["li"])
    base.update(kw)
    w.event("e", **base)
    return w.replay()


def test_a_manager_report_meeting_is_a_one_on_one():
    out = one_single()
    assert statuses(out, report="li") == {"2026-02-10T10:00:00Z": "held"}


def test_the_report_may_organize():
    out = one_single(organizer="li", attendees=["maya"])
    assert statuses(out, report="li") == {"2026-02-10T10:00:00Z": "held"}


@pytest.mark.parametrize("minutes, counted", [(9, False), (10, True), (120, True), (121, False)])
def test_length_bounds(minutes, counted):
    out = one_single(minutes=minutes)
    assert bool(meetings(out, report="li")) is counted


def test_a_room_is_not_a_person():
    out = one_single(rooms=["room.berlin-3"])
    assert len(meetings(out, report="li")) == 1


@pytest.mark.parametrize("attendees", [["li", "omar"], ["li", "sam@other.test"], ["li", "dev"]])
def test_three_people_or_an_outsider_is_not_a_one_on_one(attendees):
    out = one_single(attendees=attendees)
    assert meetings(out) == {}


def test_peers_and_two_managers_are_not_pairs():
    assert meetings(one_single(organizer="li", attendees=["omar"])) == {}
    assert meetings(one_single(organizer="maya", attendees=["dev"])) == {}


def test_an_outsider_with_the_report_is_not_a_one_on_one():
    assert meetings(one_single(organizer="li", attendees=["sam@other.test"])) == {}


def test_all_day_event_is_not_a_one_on_one():
    out = one_single(start="2026-02-10T00:00Z", end="2026-02-11T00:00Z", all_day=True)
    assert meetings(out) == {}


def test_organizer_alone_is_not_a_one_on_one():
    assert meetings(one_single(attendees=[], calendars=["maya"])) == {}


def test_judged_as_created_later_edits_do_not_reclassify():
    w = org()
    w.event("e", at="2026-02-01T00:00Z", start="2026-02-10T10:00Z", organizer="maya", attendees=["li"])
    w.update("e", at="2026-02-02T00:00Z", attendees=["maya", "li", "omar"])
    w.event("f", at="2026-02-01T00:00Z", start="2026-02-11T10:00Z", organizer="maya", attendees=["li", "omar"])
    w.update("f", at="2026-02-02T00:00Z", attendees=["maya", "li"])
    assert list(meetings(w.replay())) == ["2026-02-10T10:00:00Z"]


def test_a_pair_without_one_on_ones_is_still_a_pair():
    out = org().replay()
    assert [(p["report"], p["cadence"], p["interval_days"]) for p in out["pairs"]] == [
        ("li@acme.test", "none", None),
        ("omar@acme.test", "none", None),
    ]
    assert [f["report"] for f in findings(out, "no_upcoming")] == ["li@acme.test", "omar@acme.test"]


def test_a_one_on_one_on_a_third_calendar_only_is_ignored():
    w = org()
    w.event(
        "e", at="2026-02-01T00:00Z", start="2026-02-10T10:00Z", organizer="maya", attendees=["li"], calendars=["dev"]
    )
    assert meetings(w.replay()) == {}
    assert pair(w.replay(), "maya", "li")["cadence"] == "none"
