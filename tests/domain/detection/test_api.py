"""The public API: detect / detect_pair / to_replay_json, keys and evidence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from service.domain.detection import Detection, detect, detect_pair, people_index, to_replay_json
from service.domain.events import CalendarHistory
from tests.domain.detection.builders import World, email

NOW = "2026-03-02T09:00Z"


def story() -> World:
    w = World(now=NOW)
    w.person("maya", tz="Europe/Berlin")
    w.person("li", manager="maya")
    w.person("omar", manager="maya")
    w.person("zoe", manager="li")
    w.series(
        "a",
        at="2026-01-01T00:00Z",
        start="2026-01-05T09:00",
        tz="Europe/Berlin",
        rrule="FREQ=WEEKLY;BYDAY=MO",
        organizer="maya",
        attendees=["li"],
    )
    w.series(
        "b",
        at="2026-01-01T00:00Z",
        start="2026-01-06T09:00",
        tz="Europe/Berlin",
        rrule="FREQ=WEEKLY;BYDAY=TU",
        organizer="maya",
        attendees=["omar"],
        provider="graph",
    )
    w.cancel_occurrence("a", "2026-02-09T08:00Z", at="2026-02-05T16:30Z")
    w.respond("b", "omar", "declined", at="2026-02-01T00:00Z", original_start="2026-02-10T08:00Z")
    w.event(
        "x",
        at="2026-01-20T00:00Z",
        start="2026-02-16T08:10Z",
        organizer="maya",
        attendees=[],
        calendars=["maya"],
        title="Dentist",
    )
    return w


def test_replay_document_shape():
    out = story().replay()
    assert list(out) == ["format", "now", "pairs", "meetings", "findings"]
    assert (out["format"], out["now"]) == ("oneonone-replay/1", "2026-03-02T09:00:00Z")
    assert list(out["pairs"][0]) == ["manager", "report", "cadence", "interval_days", "last_held", "next_scheduled"]
    assert list(out["meetings"][0]) == ["manager", "report", "original_start", "start", "end", "status"]
    assert [(p["manager"], p["report"]) for p in out["pairs"]] == [
        ("li@acme.test", "zoe@acme.test"),
        ("maya@acme.test", "li@acme.test"),
        ("maya@acme.test", "omar@acme.test"),
    ]
    json.dumps(out)  # JSON-ready
    for meeting in out["meetings"]:
        assert meeting["start"].endswith("Z") and len(meeting["start"]) == 20


def test_output_is_deterministic_and_sorted():
    w = story()
    first, second = w.replay(), w.replay()
    assert first == second
    keys = [(m["manager"], m["report"], m["original_start"]) for m in first["meetings"]]
    assert keys == sorted(keys)


def test_history_order_across_events_does_not_matter():
    w = story()
    shuffled = CalendarHistory()
    for key in reversed(list(w.history.changes)):
        for change in w.history.changes[key]:
            shuffled.add(change)
    now = w.now
    assert to_replay_json(detect(shuffled, w.people, w.policies, now), now) == w.replay()


def test_detect_pair_matches_detect_and_reads_only_two_calendars():
    w = story()
    full = w.detect()
    one = w.pair("maya", "li")
    assert one.pair in full.pairs
    assert set(one.meetings) == {m for m in full.meetings if m.report == email("li")}
    assert set(one.findings) == {f for f in full.findings if f.report == email("li")}
    # Other calendars are not read: dropping them changes nothing.
    only = CalendarHistory({k: v for k, v in w.history.changes.items() if k[0] in (email("maya"), email("li"))})
    assert detect_pair(only, email("maya"), email("li"), people_index(w.people), None, w.now) == one


def test_finding_keys_details_and_evidence():
    found = {f.key: f for f in story().detect().findings}
    cancelled = found["cancelled_without_reschedule|maya@acme.test|li@acme.test|2026-02-09T08:00:00Z"]
    assert cancelled.notice_hours == 87.5
    assert cancelled.details == {"notice_hours": 87.5}
    assert any("cancelled" in line for line in cancelled.evidence)
    declined = found["declined|maya@acme.test|omar@acme.test|2026-02-10T08:00:00Z|report"]
    assert declined.evidence
    booked = found["double_booked|maya@acme.test|li@acme.test|2026-02-16T08:00:00Z|manager"]
    assert booked.conflict == "Dentist" and "Dentist" in booked.evidence[0]
    assert "no_upcoming|li@acme.test|zoe@acme.test" in found


def test_meetings_carry_their_source():
    detection = story().detect()
    meeting = next(m for m in detection.meetings if m.report == email("omar"))
    assert meeting.ical_uid == "b@uid"
    assert meeting.series_id == "b@maya@acme.test"  # the organizer's copy
    assert meeting.calendar == email("maya")
    cancelled = next(m for m in detection.meetings if m.status == "cancelled")
    assert cancelled.cancelled_at == datetime(2026, 2, 5, 16, 30, tzinfo=UTC)


def test_now_is_a_parameter_not_the_wall_clock():
    w = story()
    later = w.now + timedelta(days=30)
    a = to_replay_json(detect(w.history, w.people, w.policies, later), later)
    b = to_replay_json(detect(w.history, w.people, w.policies, later), later)
    assert a == b and a["now"] == "2026-04-01T09:00:00Z"
    assert a != w.replay()


def test_empty_history():
    w = World(now=NOW)
    w.person("maya")
    w.person("li", manager="maya")
    detection = w.detect()
    assert isinstance(detection, Detection)
    assert [f.type for f in detection.findings] == ["no_upcoming"]
    assert detection.meetings == ()
