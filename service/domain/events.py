"""Provider-neutral calendar events: what the sync adapters produce and the
detector consumes. No Google or Microsoft detail appears past this module.

A calendar belongs to one person (identified by their email). Each calendar holds
its own *copy* of a meeting; copies of one meeting share `ical_uid` (and, for
instances, `original_start`)."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import datetime


class Kind(str, enum.Enum):
    single = "single"  # a one-off event
    series = "series"  # a recurring series (its master): carries `recurrence`
    instance = "instance"  # one occurrence of a series that differs from the master
    # (moved, re-timed, responded to, cancelled) or, on Graph,
    # any occurrence the provider lists individually


class Status(str, enum.Enum):
    confirmed = "confirmed"
    tentative = "tentative"
    cancelled = "cancelled"


class Response(str, enum.Enum):
    needs_action = "needsAction"
    accepted = "accepted"
    tentative = "tentative"
    declined = "declined"


# Members by value, for parsers that meet these values by the hundred thousand
# (a full recompute, a baseline): a dict lookup costs a fraction of calling the enum.
KINDS = {k.value: k for k in Kind}
STATUSES = {s.value: s for s in Status}
RESPONSES = {r.value: r for r in Response}


@dataclass(frozen=True, slots=True)
class Attendee:
    email: str  # lower-cased
    response: Response = Response.needs_action
    resource: bool = False  # rooms and equipment are not people
    organizer: bool = False


@dataclass(frozen=True, slots=True)
class EventSnapshot:
    """One calendar's copy of an event as the provider shows it at one moment."""

    calendar: str  # owner's email, lower-cased
    event_id: str  # provider id, unique within the calendar
    kind: Kind
    status: Status
    updated: datetime  # provider change time (UTC)
    provider: str = ""  # "google" | "microsoft": informative only
    ical_uid: str | None = None
    series_id: str | None = None  # instance: its series' event_id (same calendar)
    original_start: datetime | None = None  # instance: its slot in the series (UTC)
    start: datetime | None = None  # UTC; None on a cancelled instance stub
    end: datetime | None = None  # UTC, exclusive
    timezone: str | None = None  # IANA zone the event was scheduled in
    all_day: bool = False  # all-day: start/end are midnights UTC of the dates
    # Series only: iCalendar lines ("RRULE:…", "EXDATE;TZID=…:…", "RDATE…"), with
    # local times in `timezone`; expand with dateutil in that zone.
    recurrence: tuple[str, ...] = ()
    organizer: str | None = None  # email, lower-cased
    attendees: tuple[Attendee, ...] = ()
    busy: bool = True  # Google transparency != transparent; Graph showAs != free
    title: str = ""
    # Marked private by its owner (Google visibility, Graph sensitivity private or
    # confidential): stored as `withheld` leaves it, shown to nobody but as busy time.
    private: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.calendar, self.event_id)


def withheld(s: EventSnapshot) -> EventSnapshot:
    """What is kept of an event its owner marked private: what detection needs, no more.

    Its title goes, and so do rooms and equipment. Its people stay only if they may
    make it a 1:1 (SPEC: exactly two human participants, organizer included; a 1:1
    marked private is still a 1:1): then both addresses and answers stay, as the
    detector needs them to recognise the pair and see who declined. With any other
    number of people it can be no 1:1, and the owner's own entry is all that stays
    (their answer: an event they declined is not busy), so the list still counts
    one person and the event is judged as before. Times, recurrence, status, busy
    and the iCalendar UID stay: they are the busy time, and copies of one meeting
    are merged by UID."""
    people = tuple(a for a in s.attendees if not a.resource)
    humans = {a.email for a in people} | ({s.organizer} if s.organizer else set())
    if len(humans) == 2:
        organizer, attendees = s.organizer, people
    else:
        organizer = s.organizer if s.organizer == s.calendar else None
        attendees = tuple(a for a in people if a.email == s.calendar)
    return dataclasses.replace(s, title="", organizer=organizer, attendees=attendees, private=True)


@dataclass(frozen=True, slots=True)
class EventChange:
    """One observed change to one calendar's event: its new state, or its removal
    (`snapshot is None`: deleted, or — on Graph — an occurrence removed from view)."""

    calendar: str
    event_id: str
    changed_at: datetime  # provider change time; observation time for removals
    snapshot: EventSnapshot | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.calendar, self.event_id)


@dataclass(frozen=True, slots=True)
class OrgPerson:
    email: str
    manager: str | None = None
    timezone: str = "UTC"
    name: str = ""


@dataclass(frozen=True, slots=True)
class Policy:
    manager: str
    report: str
    cadence_days: int


@dataclass
class CalendarHistory:
    """Every change seen per event, oldest first: the detector's whole input
    besides the org chart, the policies and `now`."""

    changes: dict[tuple[str, str], list[EventChange]] = field(default_factory=dict)

    def add(self, change: EventChange) -> None:
        self.changes.setdefault(change.key, []).append(change)
