"""An occurrence as one calendar copy sees it, and the small helpers the
replays of single events and series share (see `series` for the rules)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from service.domain.detection.records import EventRecord
from service.domain.events import EventSnapshot, Response, Status

# Why an occurrence is cancelled.
INSTANCE = "instance"  # that occurrence was cancelled / removed
DELETED = "deleted"  # the single event was deleted
EXDATE = "exdate"  # a series edit excluded the slot
SERIES_DELETED = "series_deleted"  # the whole series was deleted

# Per person: (when their answer last changed in a stream, the answer).
Responses = dict[str, tuple[datetime, Response]]


@dataclass(slots=True)
class Move:
    at: datetime
    old_start: datetime
    new_start: datetime

    @property
    def notice(self) -> timedelta:
        """Notice given: up to the earlier of the old and the new start."""
        return min(self.old_start, self.new_start) - self.at


@dataclass(slots=True, eq=False)
class CopyOccurrence:
    record: EventRecord
    original_start: datetime
    start: datetime
    end: datetime
    snapshot: EventSnapshot  # the snapshot in force (title, busy, organizer)
    responses: Responses
    reference: timedelta | None = None  # series length in force at its start
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    moves: tuple[Move, ...] = ()
    instance_id: str | None = None

    @property
    def calendar(self) -> str:
        return self.record.calendar

    @property
    def key(self) -> tuple[str, datetime | None]:
        """Meeting identity across calendars: (iCalendar UID, original start);
        single events are identified by their UID alone."""
        return (self.record.uid, self.original_start if self.record.is_series else None)

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at is not None

    def response(self, email: str) -> Response | None:
        found = self.responses.get(email)
        return found[1] if found else None

    def shown_by(self, snapshot: EventSnapshot | None) -> bool:
        """Once started: does this snapshot still show the occurrence (not cancelled,
        removed or moved)? While it does, its answers still count."""
        return not self.cancelled and is_live(snapshot) and snapshot.start in (None, self.start)

    def cancel(self, at: datetime, reason: str, instance_id: str | None = None) -> None:
        """The first cancellation counts; later ones change nothing."""
        if self.cancelled_at is None:
            self.cancelled_at, self.cancel_reason = at, reason
            if instance_id is not None:
                self.instance_id = instance_id

    def restore(self, reason: str | None = None) -> None:
        """Undo a cancellation (of the given kind, or of any kind)."""
        if reason is None or self.cancel_reason == reason:
            self.cancelled_at = self.cancel_reason = None

    def move_to(self, at: datetime, start: datetime, end: datetime) -> None:
        if start != self.start:
            self.moves += (Move(at, self.start, start),)
        self.start, self.end = start, end


def track(responses: Responses, snapshot: EventSnapshot, at: datetime, baseline: Responses | None = None) -> None:
    """Record, per person, when their answer last changed in this stream. An
    instance first restating the series' answer (`baseline`) is no new answer:
    it keeps the time the series got it."""
    for attendee in snapshot.attendees:
        if attendee.resource:
            continue
        known = responses.get(attendee.email)
        if known is None:
            base = baseline.get(attendee.email) if baseline else None
            if base is not None and base[1] is attendee.response:
                responses[attendee.email] = base
                continue
        if known is None or known[1] is not attendee.response:
            responses[attendee.email] = (at, attendee.response)


def merged(master: Responses, instance: Responses) -> Responses:
    """The later change wins: a series-wide answer overrides an older
    per-occurrence one and vice versa."""
    if not instance:
        return master
    out = dict(master)
    for email, (at, value) in instance.items():
        if email not in out or at >= out[email][0]:
            out[email] = (at, value)
    return out


def answers(snapshot: EventSnapshot) -> frozenset[tuple[str, Response]]:
    return frozenset((a.email, a.response) for a in snapshot.attendees if not a.resource)


def is_live(snapshot: EventSnapshot | None) -> bool:
    return snapshot is not None and snapshot.status is not Status.cancelled
