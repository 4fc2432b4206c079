"""Occurrences and their status: series expansion, edits, cancellations and
deletions, provider styles and copies — history is never rewritten."""

from __future__ import annotations

import pytest

from tests.domain.detection.builders import World, findings, keys, meetings, pair, statuses

PROVIDERS = ["google", "graph"]
NOW = "2026-03-02T09:00Z"  # Monday; the 08:00Z 1:1 of that day has ended


def weekly(provider: str = "google", now: str = NOW, **kw) -> World:
    """Maya (Berlin) and Li: weekly Monday 09:00 Europe/Berlin (08:00Z in winter)."""
    w = World(now=now)
    w.person("maya", tz="Europe/Berlin")
    w.person("li", manager="maya", tz="Europe/Berlin")
    base = dict(
        at="2026-01-01T00:00Z",
        start="2026-01-05T09:00",
        tz="Europe/Berlin",
        rrule="FREQ=WEEKLY;BYDAY=MO",
        organizer="maya",
        attendees=["li"],
        provider=provider,
    )
    base.update(kw)
    w.series("s", **base)
    return w


@pytest.mark.parametrize("provider", PROVIDERS)
def test_clean_weekly_series(provider):
    out = weekly(provider).replay()
    got = statuses(out)
    assert got["2026-01-05T08:00:00Z"] == "held"
    assert got["2026-03-02T08:00:00Z"] == "held"
    assert got["2026-03-09T08:00:00Z"] == "scheduled"
    assert max(got) == "2026-03-16T08:00:00Z"  # window ends at now + 14 d
    assert len(got) == 11
    assert out["findings"] == []
    assert pair(out, "maya", "li")["cadence"] == "weekly"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_cancellation_after_the_start_leaves_the_occurrence_held(provider):
    w = weekly(provider)
    w.cancel_occurrence("s", "2026-02-09T08:00Z", at="2026-02-11T15:00Z")
    out = w.replay()
    assert statuses(out)["2026-02-09T08:00:00Z"] == "held"
    assert out["findings"] == []


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("at, status", [("2026-02-09T08:00:00Z", "held"), ("2026-02-09T07:59:59Z", "cancelled")])
def test_cancellation_exactly_at_the_start_is_too_late(provider, at, status):
    w = weekly(provider)
    w.cancel_occurrence("s", "2026-02-09T08:00Z", at=at)
    out = w.replay()
    assert statuses(out)["2026-02-09T08:00:00Z"] == status
    assert keys(out, "cancelled_without_reschedule") == (["2026-02-09T08:00:00Z"] if status == "cancelled" else [])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_cancelled_occurrence_keeps_its_slot_times(provider):
    w = weekly(provider)
    w.cancel_occurrence("s", "2026-02-09T08:00Z", at="2026-02-05T16:30Z")
    got = meetings(w.replay())["2026-02-09T08:00:00Z"]
    assert (got["start"], got["end"], got["status"]) == ("2026-02-09T08:00:00Z", "2026-02-09T08:30:00Z", "cancelled")
    finding = findings(w.replay(), "cancelled_without_reschedule")[0]
    assert finding["notice_hours"] == 87.5


@pytest.mark.parametrize("provider", PROVIDERS)
def test_series_deletion_cancels_later_occurrences_without_per_occurrence_findings(provider):
    w = weekly(provider)
    w.delete("s", at="2026-02-18T12:00Z")
    out = w.replay()
    got = statuses(out)
    assert got["2026-02-16T08:00:00Z"] == "held"
    assert {got[k] for k in got if k > "2026-02-18"} == {"cancelled"}
    assert "2026-03-16T08:00:00Z" in got
    assert keys(out, "cancelled_without_reschedule") == []
    assert keys(out, "cadence_gap") == ["2026-02-16T08:00:00Z"]
    assert len(findings(out, "no_upcoming")) == 1
    assert pair(out, "maya", "li")["interval_days"] == 7  # deleted series still gives the cadence


@pytest.mark.parametrize("provider", PROVIDERS)
def test_series_deleted_exactly_at_an_occurrence_start_keeps_it(provider):
    w = weekly(provider)
    w.delete("s", at="2026-02-23T08:00Z")
    got = statuses(w.replay())
    assert got["2026-02-23T08:00:00Z"] == "held"
    assert got["2026-03-02T08:00:00Z"] == "cancelled"


def test_exdate_added_by_an_edit_cancels_at_the_edit_time():
    w = weekly()
    w.update(
        "s",
        at="2026-02-20T12:00Z",
        recurrence=("RRULE:FREQ=WEEKLY;BYDAY=MO", "EXDATE;TZID=Europe/Berlin:20260223T090000"),
    )
    out = w.replay()
    assert statuses(out)["2026-02-23T08:00:00Z"] == "cancelled"
    assert findings(out, "cancelled_without_reschedule")[0]["notice_hours"] == 68.0


def test_exdate_added_after_the_slot_does_not_rewrite_history():
    w = weekly()
    w.update(
        "s",
        at="2026-02-24T12:00Z",
        recurrence=("RRULE:FREQ=WEEKLY;BYDAY=MO", "EXDATE;TZID=Europe/Berlin:20260223T090000"),
    )
    assert statuses(w.replay())["2026-02-23T08:00:00Z"] == "held"


def test_exdate_present_at_creation_means_no_occurrence():
    w = weekly(extra=("EXDATE:20260223T080000Z",))
    out = w.replay()
    assert "2026-02-23T08:00:00Z" not in meetings(out)
    assert keys(out, "cancelled_without_reschedule") == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_series_split_this_and_following(provider):
    w = weekly(provider)
    w.update("s", at="2026-02-09T12:00Z", recurrence=("RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20260215T225959Z",))
    w.series(
        "s2",
        at="2026-02-09T12:00Z",
        start="2026-02-19T11:00",
        tz="Europe/Berlin",
        rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=TH",
        organizer="maya",
        attendees=["li"],
        provider=provider,
    )
    out = w.replay()
    got = statuses(out)
    assert got["2026-02-09T08:00:00Z"] == "held"
    assert not [k for k in got if "2026-02-15" < k < "2026-02-19"]  # Monday slots are gone
    assert got["2026-02-19T10:00:00Z"] == "held"
    assert got["2026-03-05T10:00:00Z"] == "scheduled"
    assert keys(out, "cancelled_without_reschedule") == []
    assert pair(out, "maya", "li")["interval_days"] == 14  # the most recent series decides


@pytest.mark.parametrize("provider", PROVIDERS)
def test_series_time_change_makes_new_slots(provider):
    w = weekly(provider)
    w.update("s", at="2026-02-10T12:00Z", start="2026-01-05T09:00Z", end="2026-01-05T09:30Z")
    out = w.replay()
    got = meetings(out)
    assert got["2026-02-09T08:00:00Z"]["status"] == "held"  # before the edit: as it was
    assert "2026-02-16T08:00:00Z" not in got  # old future slots vanish
    assert got["2026-02-16T09:00:00Z"]["status"] == "held"  # new slots, new original starts
    # Slots of the new time before the edit never happened (Graph re-lists them).
    assert "2026-02-09T09:00:00Z" not in got and "2026-01-05T09:00:00Z" not in got
    assert len(got) == 11
    assert out["findings"] == []


def test_series_length_edit_applies_after_the_edit_only():
    w = weekly()
    w.update("s", at="2026-02-10T12:00Z", end="2026-01-05T09:00Z")  # 60 minutes from now on
    got = meetings(w.replay())
    assert got["2026-02-09T08:00:00Z"]["end"] == "2026-02-09T08:30:00Z"
    assert got["2026-02-16T08:00:00Z"]["end"] == "2026-02-16T09:00:00Z"
    assert w.replay()["findings"] == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_moved_occurrence_survives_a_series_time_change(provider):
    w = weekly(provider)
    w.move_occurrence("s", "2026-02-23T08:00Z", at="2026-02-01T00:00Z", start="2026-02-24T13:00Z")
    w.update("s", at="2026-02-10T12:00Z", start="2026-01-05T09:00Z", end="2026-01-05T09:30Z")
    got = meetings(w.replay())
    assert got["2026-02-23T08:00:00Z"]["start"] == "2026-02-24T13:00:00Z"
    assert got["2026-02-23T09:00:00Z"]["status"] == "held"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_moved_occurrence_cancelled_later_is_cancelled(provider):
    w = weekly(provider)
    w.move_occurrence("s", "2026-02-23T08:00Z", at="2026-02-01T00:00Z", start="2026-02-24T13:00Z")
    w.cancel_occurrence("s", "2026-02-23T08:00Z", at="2026-02-20T00:00Z")
    out = w.replay()
    assert meetings(out)["2026-02-23T08:00:00Z"]["status"] == "cancelled"
    assert keys(out, "cancelled_without_reschedule") == ["2026-02-23T08:00:00Z"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_occurrence_moved_past_a_series_deletion_is_cancelled_with_the_series(provider):
    w = weekly(provider)
    w.move_occurrence("s", "2026-02-16T08:00Z", at="2026-02-01T00:00Z", start="2026-02-20T13:00Z")
    w.delete("s", at="2026-02-18T00:00Z")
    out = w.replay()
    assert statuses(out)["2026-02-16T08:00:00Z"] == "cancelled"
    assert keys(out, "cancelled_without_reschedule") == []


def test_until_removes_moved_occurrences_past_the_new_end_too():
    w = weekly()
    w.move_occurrence("s", "2026-02-23T08:00Z", at="2026-02-01T00:00Z", start="2026-02-24T13:00Z")
    w.update("s", at="2026-02-10T12:00Z", recurrence=("RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20260216T225959Z",))
    got = statuses(w.replay())
    assert max(got) == "2026-02-16T08:00:00Z"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_single_event_deleted_before_or_after_it_happened(provider):
    w = weekly(provider)
    w.event(
        "a", at="2026-02-01T00:00Z", start="2026-02-11T10:00Z", organizer="maya", attendees=["li"], provider=provider
    )
    w.event(
        "b", at="2026-02-01T00:00Z", start="2026-02-12T10:00Z", organizer="maya", attendees=["li"], provider=provider
    )
    w.delete("a", at="2026-02-11T11:00Z")  # clean-up after the fact
    w.delete("b", at="2026-02-12T09:00Z")  # cancelled an hour ahead
    got = statuses(w.replay())
    assert got["2026-02-11T10:00:00Z"] == "held"
    assert got["2026-02-12T10:00:00Z"] == "cancelled"


def test_single_event_keeps_its_first_synced_start_as_original_start():
    w = weekly()
    w.event("a", at="2026-02-01T00:00Z", start="2026-02-11T10:00Z", organizer="maya", attendees=["li"])
    w.update("a", at="2026-02-05T00:00Z", start="2026-02-13T10:00Z", end="2026-02-13T10:30Z")
    got = meetings(w.replay())["2026-02-11T10:00:00Z"]
    assert (got["start"], got["status"]) == ("2026-02-13T10:00:00Z", "held")


def test_changes_after_an_occurrence_started_do_not_rewrite_it():
    w = weekly()
    w.move_occurrence("s", "2026-02-09T08:00Z", at="2026-02-09T08:10Z", start="2026-02-10T13:00Z")
    out = w.replay()
    got = meetings(out)
    assert (got["2026-02-09T08:00:00Z"]["start"], got["2026-02-09T08:00:00Z"]["status"]) == (
        "2026-02-09T08:00:00Z",
        "held",
    )
    assert out["findings"] == []


# -- answers: SPEC puts no time on a decline --------------------------------------------
# Only a cancellation or deletion at or after the start leaves an occurrence as it
# was; `declined` is "end <= now, not cancelled, but one participant declined".


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "at",
    [
        "2026-02-16T08:00Z",  # at the start
        "2026-02-16T08:10Z",  # while it runs
        "2026-02-16T08:30Z",  # at its end
        "2026-02-20T00:00Z",  # days after
    ],
)
def test_a_decline_at_or_after_the_start_counts(provider, at):
    w = weekly(provider)
    w.respond("s", "li", "declined", at=at, original_start="2026-02-16T08:00Z")
    out = w.replay()
    assert statuses(out)["2026-02-16T08:00:00Z"] == "declined"
    assert [(f["occurrence_start"], f["by"]) for f in findings(out, "declined")] == [("2026-02-16T08:00:00Z", "report")]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_single_event_declined_after_it_ended_is_declined(provider):
    w = weekly(provider)
    w.event(
        "a", at="2026-02-01T00:00Z", start="2026-02-11T10:00Z", organizer="maya", attendees=["li"], provider=provider
    )
    w.respond("a", "maya", "declined", at="2026-02-12T09:00Z")
    out = w.replay()
    assert statuses(out)["2026-02-11T10:00:00Z"] == "declined"
    assert [(f["occurrence_start"], f["by"]) for f in findings(out, "declined")] == [
        ("2026-02-11T10:00:00Z", "manager")
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_latest_answer_counts_after_the_end_too(provider):
    w = weekly(provider)
    w.respond("s", "li", "declined", at="2026-02-10T00:00Z", original_start="2026-02-16T08:00Z")
    w.respond("s", "li", "accepted", at="2026-02-17T00:00Z", original_start="2026-02-16T08:00Z")
    out = w.replay()
    assert statuses(out)["2026-02-16T08:00:00Z"] == "held"
    assert findings(out, "declined") == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_answer_after_a_cancellation_at_or_after_the_start_changes_nothing(provider):
    """Cancelled after its start, an occurrence stays as it was then (held or
    declined): a later answer to the series no longer reaches it."""
    w = weekly(provider)
    w.respond("s", "li", "declined", at="2026-02-01T00:00Z", original_start="2026-02-09T08:00Z")
    w.cancel_occurrence("s", "2026-02-09T08:00Z", at="2026-02-09T12:00Z")
    w.cancel_occurrence("s", "2026-02-16T08:00Z", at="2026-02-16T08:00Z")
    w.respond("s", "li", "accepted", at="2026-02-20T00:00Z")
    w.respond("s", "maya", "declined", at="2026-02-20T00:00Z")
    got = statuses(w.replay())
    assert (got["2026-02-09T08:00:00Z"], got["2026-02-16T08:00:00Z"]) == ("declined", "held")
    assert got["2026-02-02T08:00:00Z"] == "declined"  # still in the series: declined by maya


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_series_answer_after_a_time_change_leaves_the_old_slots(provider):
    """Slots the series no longer has (its time changed after they took place) are
    no longer answered by answering the series."""
    w = weekly(provider)
    w.update("s", at="2026-02-10T12:00Z", start="2026-01-05T09:00Z", end="2026-01-05T09:30Z")
    w.respond("s", "li", "declined", at="2026-02-20T00:00Z")
    got = statuses(w.replay())
    assert got["2026-02-09T08:00:00Z"] == "held"
    assert got["2026-02-16T09:00:00Z"] == "declined"


def test_a_decline_after_a_late_move_does_not_reach_the_occurrence_that_took_place():
    """A single event moved after it took place keeps its first occurrence as it
    was; an answer given to the moved event is not an answer to that one."""
    w = weekly()
    w.event("a", at="2026-02-01T00:00Z", start="2026-02-11T10:00Z", organizer="maya", attendees=["li"])
    w.update("a", at="2026-02-12T00:00Z", start="2026-02-13T10:00Z", end="2026-02-13T10:30Z")
    w.respond("a", "li", "declined", at="2026-02-12T01:00Z")
    got = meetings(w.replay())["2026-02-11T10:00:00Z"]
    assert (got["start"], got["status"]) == ("2026-02-11T10:00:00Z", "held")


def test_google_and_graph_copies_are_one_meeting():
    w = World(now=NOW)
    w.person("maya", tz="Europe/Berlin")
    w.person("li", manager="maya", tz="America/New_York")
    series = dict(
        at="2026-01-01T00:00Z",
        start="2026-01-05T09:00",
        tz="Europe/Berlin",
        rrule="FREQ=WEEKLY;BYDAY=MO",
        organizer="maya",
        attendees=["li"],
    )
    w.series("g", calendars=["maya"], provider="google", uid="s", **series)
    w.series("m", calendars=["li"], provider="graph", uid="s", **series)  # same iCalendar UID
    for copy in ("g", "m"):
        w.cancel_occurrence(copy, "2026-02-09T08:00Z", at="2026-02-05T16:30Z")
    w.respond("m", "li", "declined", at="2026-02-01T00:00Z", original_start="2026-02-16T08:00Z")
    out = w.replay()
    assert len(out["meetings"]) == 11
    assert statuses(out)["2026-02-09T08:00:00Z"] == "cancelled"
    assert statuses(out)["2026-02-16T08:00:00Z"] == "declined"
    assert keys(out, "cancelled_without_reschedule") == ["2026-02-09T08:00:00Z"]
    assert [(f["occurrence_start"], f["by"]) for f in findings(out, "declined")] == [("2026-02-16T08:00:00Z", "report")]


def test_an_attendee_removing_their_own_copy_does_not_cancel_the_meeting():
    w = weekly()
    w.event(
        "a", at="2026-02-01T00:00Z", start="2026-02-11T10:00Z", organizer="maya", attendees=["li"], provider="graph"
    )
    w.remove_copy("a", "li", at="2026-02-05T00:00Z")
    assert statuses(w.replay())["2026-02-11T10:00:00Z"] == "held"


def test_graph_instance_removal_without_master_change_is_a_cancellation():
    """Graph may report only the removed occurrence (no EXDATE on the master)."""
    w = weekly("graph")
    w.remove_instance("s", "2026-02-23T08:00Z", at="2026-02-20T08:00Z")
    out = w.replay()
    assert statuses(out)["2026-02-23T08:00:00Z"] == "cancelled"
    assert findings(out, "cancelled_without_reschedule")[0]["notice_hours"] == 72.0


@pytest.mark.parametrize(
    "tz, start, expected",
    [
        ("Europe/Berlin", "2026-03-23T09:00", ["2026-03-23T08:00:00Z", "2026-03-30T07:00:00Z"]),
        ("America/New_York", "2026-03-02T09:00", ["2026-03-02T14:00:00Z", "2026-03-09T13:00:00Z"]),
    ],
)
def test_dst_weeks_move_in_utc(tz, start, expected):
    w = World(now="2026-04-08T12:00Z")
    w.person("maya", tz=tz)
    w.person("li", manager="maya", tz=tz)
    w.series(
        "s",
        at="2026-02-20T00:00Z",
        start=start,
        tz=tz,
        rrule="FREQ=WEEKLY;BYDAY=MO",
        organizer="maya",
        attendees=["li"],
        provider="graph",
    )
    out = w.replay()
    assert list(statuses(out))[:2] == expected
    assert out["findings"] == []
