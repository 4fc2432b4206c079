"""What is a 1:1, and how the copies of one meeting in several calendars become
one occurrence.

A 1:1 is judged on the single event or the series *as created* (its first live
snapshot), never per occurrence: timed, 10–120 minutes, and exactly two human
participants — organizer plus non-resource attendees — who are both org
members, one the other's direct manager.

Copies of one meeting (same iCalendar UID and original start; single events by
UID alone) merge into one occurrence:
- times and cancellation come from the organizer's copy when it is available
  (an attendee removing or declining their own copy does not cancel the
  meeting; the organizer's calendar is the meeting's truth), else from the
  first copy in calendar order;
- each participant's answer is the most recent change seen in any copy; on a
  tie their own calendar's copy wins, then the organizer's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from service.domain.detection.rules import MAX_LENGTH, MIN_LENGTH
from service.domain.detection.timeline import CopyOccurrence, Move
from service.domain.events import EventSnapshot, OrgPerson, Response, Status


def participants(snapshot: EventSnapshot) -> set[str]:
    people = {a.email.lower() for a in snapshot.attendees if not a.resource}
    if snapshot.organizer:
        people.add(snapshot.organizer.lower())
    return people


def one_on_one_pair(snapshot: EventSnapshot, people: Mapping[str, OrgPerson]) -> tuple[str, str] | None:
    """(manager, report) if this event, as created, is a 1:1; else None."""
    if snapshot.all_day or snapshot.status is Status.cancelled:
        return None
    if snapshot.start is None or snapshot.end is None:
        return None
    if not MIN_LENGTH <= snapshot.end - snapshot.start <= MAX_LENGTH:
        return None
    who = participants(snapshot)
    if len(who) != 2:
        return None
    a, b = sorted(who)
    person_a, person_b = people.get(a), people.get(b)
    if person_a is None or person_b is None:
        return None
    if person_b.manager and person_b.manager.lower() == a:
        return a, b
    if person_a.manager and person_a.manager.lower() == b:
        return b, a
    return None


@dataclass(slots=True, eq=False)
class PairOccurrence:
    """One occurrence of a pair's 1:1, all copies merged."""

    manager: str
    report: str
    primary: CopyOccurrence
    copies: tuple[CopyOccurrence, ...]
    declined_by_manager: bool
    declined_by_report: bool

    @property
    def original_start(self) -> datetime:
        return self.primary.original_start

    @property
    def start(self) -> datetime:
        return self.primary.start

    @property
    def end(self) -> datetime:
        return self.primary.end

    @property
    def cancelled(self) -> bool:
        return self.primary.cancelled_at is not None

    @property
    def cancelled_at(self) -> datetime | None:
        return self.primary.cancelled_at

    @property
    def cancel_reason(self) -> str | None:
        return self.primary.cancel_reason

    @property
    def moves(self) -> tuple[Move, ...]:
        return self.primary.moves

    @property
    def is_series(self) -> bool:
        return self.primary.record.is_series

    @property
    def series_key(self) -> str | None:
        """Which series it belongs to (its UID); None for a single event."""
        return self.primary.record.uid if self.is_series else None

    @property
    def reference(self) -> timedelta | None:
        return self.primary.reference

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def key(self) -> tuple[str, datetime | None]:
        return self.primary.key

    @property
    def private(self) -> bool:
        """Marked private in a copy's state in force: no title for anyone."""
        return any(copy.snapshot.private for copy in self.copies)

    @property
    def title(self) -> str:
        if self.private:
            return ""
        return self.primary.snapshot.title or self.primary.record.created.title

    @property
    def declined(self) -> bool:
        return self.declined_by_manager or self.declined_by_report

    def status(self, now: datetime) -> str:
        if self.cancelled:
            return "cancelled"
        if self.end > now:
            return "scheduled"
        return "declined" if self.declined else "held"


def _answer(email: str, copies: Iterable[CopyOccurrence], primary: CopyOccurrence) -> Response | None:
    best = None
    for copy in copies:
        found = copy.responses.get(email)
        if found is None:
            continue
        rank = (found[0], 2 if copy.calendar == email else 1 if copy is primary else 0)
        if best is None or rank > best[0]:
            best = (rank, found[1])
    return best[1] if best else None


def _primary(copies: list[CopyOccurrence]) -> CopyOccurrence:
    def rank(copy: CopyOccurrence):
        organizer = (copy.record.created.organizer or "").lower()
        return (copy.calendar != organizer, copy.calendar, copy.record.event_id)

    return min(copies, key=rank)


def merge_copies(copies: Iterable[CopyOccurrence], manager: str, report: str) -> list[PairOccurrence]:
    """Deduplicate copies of the pair's 1:1 occurrences, sorted by original start."""
    groups: dict[tuple, list[CopyOccurrence]] = {}
    for copy in copies:
        groups.setdefault(copy.key, []).append(copy)
    out = []
    for group in groups.values():
        primary = _primary(group)
        out.append(
            PairOccurrence(
                manager,
                report,
                primary,
                tuple(group),
                _answer(manager, group, primary) is Response.declined,
                _answer(report, group, primary) is Response.declined,
            )
        )
    out.sort(key=lambda o: (o.original_start, o.start, o.key[0]))
    return out
