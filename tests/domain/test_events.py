"""`withheld`: what is kept of an event its owner marked private."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from service.domain.detection.classify import one_on_one_pair
from service.domain.events import Attendee, EventSnapshot, Kind, OrgPerson, Response, Status, withheld

T = datetime(2026, 3, 2, 9, tzinfo=UTC)
PEOPLE = {
    p.email: p
    for p in (
        OrgPerson("maya@acme.test"),
        OrgPerson("li@acme.test", manager="maya@acme.test"),
        OrgPerson("omar@acme.test", manager="maya@acme.test"),
    )
}
EVERYONE = ("maya@acme.test", "li@acme.test", "omar@acme.test", "doc@clinic.test")
ROOM = Attendee("room-4@acme.test", Response.accepted, resource=True)


def _event(owner: str, organizer: str | None, guests: tuple[str, ...], *, room: bool = False) -> EventSnapshot:
    return EventSnapshot(
        calendar=owner,
        event_id="e1",
        kind=Kind.single,
        status=Status.confirmed,
        updated=T,
        ical_uid="e1@acme.test",
        start=T,
        end=T + timedelta(minutes=30),
        organizer=organizer,
        attendees=tuple(Attendee(g, Response.declined if g == owner else Response.accepted) for g in guests)
        + ((ROOM,) if room else ()),
        title="Salary talk",
    )


def _cases():
    for owner in ("maya@acme.test", "li@acme.test"):
        for organizer in (None, *EVERYONE):
            for n in range(4):
                for guests in itertools.combinations(EVERYONE, n):
                    yield _event(owner, organizer, guests, room=n % 2 == 1)


def test_a_private_event_is_a_one_on_one_exactly_when_it_was_and_loses_its_title():
    """Whatever its people: the same pair (or none), no title, no room, and only the
    owner's own entry when it cannot be a 1:1."""
    for event in _cases():
        kept = withheld(event)
        assert one_on_one_pair(kept, PEOPLE) == one_on_one_pair(event, PEOPLE), event
        assert kept.private and kept.title == "" and not any(a.resource for a in kept.attendees)
        assert (kept.start, kept.end, kept.ical_uid, kept.busy) == (event.start, event.end, event.ical_uid, event.busy)
        people = {a.email for a in event.attendees if not a.resource} | {event.organizer} - {None}
        if len(people) != 2:
            assert {a.email for a in kept.attendees} <= {event.calendar}
            assert kept.organizer in (None, event.calendar)


@pytest.mark.parametrize("guests", [("li@acme.test", "omar@acme.test"), ("li@acme.test", "doc@clinic.test")])
def test_the_owners_answer_stays(guests):
    kept = withheld(_event("maya@acme.test", "maya@acme.test", guests + ("maya@acme.test",)))
    assert [(a.email, a.response) for a in kept.attendees] == [("maya@acme.test", Response.declined)]
