"""Revision snapshots as stored JSON: every state an event can be in comes back
equal (a full recompute parses every revision this way)."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta

import orjson

from service.domain.event_codec import UNBOUNDED, from_json, horizon, to_json
from service.domain.events import Attendee, EventSnapshot, Kind, Response, Status

T = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def _round_trip(snapshot: EventSnapshot) -> EventSnapshot:
    return from_json(orjson.loads(orjson.dumps(to_json(snapshot))))


def test_every_kind_status_and_attendee_shape_round_trips():
    attendees = tuple(
        Attendee(f"p{i}@acme.test", response, resource, organizer)
        for i, (response, resource, organizer) in enumerate(itertools.product(Response, (False, True), (False, True)))
    )
    for kind, status in itertools.product(Kind, Status):
        snapshot = EventSnapshot(
            calendar="maya@acme.test",
            event_id=f"{kind.value}-{status.value}",
            kind=kind,
            status=status,
            updated=T,
            provider="microsoft",
            ical_uid="uid-1",
            series_id="master" if kind is Kind.instance else None,
            original_start=T if kind is Kind.instance else None,
            start=T,
            end=T + timedelta(minutes=30),
            timezone="Europe/Berlin",
            recurrence=("RRULE:FREQ=WEEKLY;BYDAY=SU",) if kind is Kind.series else (),
            organizer="maya@acme.test",
            attendees=attendees,
            busy=False,
            title="1:1",
        )
        assert _round_trip(snapshot) == snapshot


def test_a_cancelled_stub_without_times_round_trips():
    stub = EventSnapshot(
        calendar="li@acme.test",
        event_id="abc_20260329T013000Z",
        kind=Kind.instance,
        status=Status.cancelled,
        updated=T,
        series_id="abc",
        original_start=T,
    )
    assert _round_trip(stub) == stub


def test_attendees_parsed_again_are_equal_but_not_confused():
    """The same attendee in many revisions is built once; a different answer is not."""
    base = EventSnapshot(
        calendar="maya@acme.test",
        event_id="e",
        kind=Kind.single,
        status=Status.confirmed,
        updated=T,
        start=T,
        end=T + timedelta(minutes=30),
        attendees=(Attendee("li@acme.test", Response.accepted),),
    )
    declined = dataclasses.replace(base, attendees=(Attendee("li@acme.test", Response.declined),))
    first, again, other = _round_trip(base), _round_trip(base), _round_trip(declined)
    assert first == again == base
    assert first.attendees[0] is again.attendees[0]
    assert other.attendees[0].response is Response.declined


def test_horizon_is_the_latest_moment_a_state_reaches():
    single = EventSnapshot(
        calendar="maya@acme.test",
        event_id="e",
        kind=Kind.single,
        status=Status.confirmed,
        updated=T,
        start=T,
        end=T + timedelta(minutes=30),
    )
    moved_earlier = dataclasses.replace(single, kind=Kind.instance, series_id="s", original_start=T + timedelta(days=3))
    stub = EventSnapshot(
        calendar="li@acme.test",
        event_id="s_1",
        kind=Kind.instance,
        status=Status.cancelled,
        updated=T,
        series_id="s",
        original_start=T,
    )
    assert horizon(single) == T + timedelta(minutes=30)
    assert horizon(moved_earlier) == T + timedelta(days=3)  # its slot still counts
    assert horizon(stub) == T
    # A series expands into the future, and a state with no time cannot be placed.
    assert horizon(dataclasses.replace(single, kind=Kind.series)) == UNBOUNDED
    assert horizon(dataclasses.replace(single, start=None, end=None)) == UNBOUNDED
    # A removal says nothing by itself: the event's other revisions decide.
    assert horizon(None) < T


def test_private_round_trips_and_older_revisions_are_not_private():
    private = EventSnapshot(
        calendar="maya@acme.test",
        event_id="e",
        kind=Kind.single,
        status=Status.confirmed,
        updated=T,
        start=T,
        end=T + timedelta(minutes=30),
        private=True,
    )
    assert _round_trip(private) == private and to_json(private)["private"] is True
    stored_before = to_json(private)
    del stored_before["private"]
    assert from_json(stored_before) == dataclasses.replace(private, private=False)
