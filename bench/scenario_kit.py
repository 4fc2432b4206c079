"""Writing `oneonone-scenario/1` files: a story of meetings in, provider-native ops out.

    s = Story("demo", start="2026-08-24T00:00:00Z", now="2026-11-20T16:00:00Z")
    s.person("maya@acme.test", "Maya Diaz", tz="Europe/Berlin", provider="google")
    s.person("li@acme.test", "Li Wei", manager="maya@acme.test", tz="Europe/Berlin", provider="microsoft")
    m = s.series("maya@acme.test", ["li@acme.test"], at=s.start, first="2026-08-24T10:00",
                  rule=Weekly("MO"), minutes=30, title="Maya / Li 1:1")
    s.cancel(m, "2026-09-07T08:00:00Z", at="2026-09-04T12:00:00Z")
    s.write("demo.json")

A meeting is written the way the providers hold it (see ../shared/providers.md):
every Google participant's calendar shares one event (one op listing them all);
every Outlook participant's mailbox holds its own copy with its own id (one op
each); copies share the iCalendar UID. Local times are wall-clock times in the
meeting's IANA zone; Graph copies name the Windows zone. Changes to a meeting
(cancel, move, respond, delete, update) are written for every copy. Ids are
drawn from a seeded generator, so a story always gives the same file."""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from service.sync.providers.microsoft.windows_zones import to_windows

UTC = UTC
DAYS = {
    "MO": "monday",
    "TU": "tuesday",
    "WE": "wednesday",
    "TH": "thursday",
    "FR": "friday",
    "SA": "saturday",
    "SU": "sunday",
}
INDEX = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
GRAPH_RESPONSE = {
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentativelyAccepted",
    "needsAction": "none",
}
NEVER = "0001-01-01T00:00:00Z"


def instant(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- recurrence rules ------------------------------------------------------------------


@dataclass(frozen=True)
class Weekly:
    day: str  # MO … SU
    interval: int = 1

    def rrule(self) -> str:
        return f"FREQ=WEEKLY;{f'INTERVAL={self.interval};' if self.interval > 1 else ''}BYDAY={self.day}"

    def pattern(self) -> dict[str, Any]:
        return {
            "type": "weekly",
            "interval": self.interval,
            "month": 0,
            "dayOfMonth": 0,
            "daysOfWeek": [DAYS[self.day]],
            "firstDayOfWeek": "sunday",
            "index": "first",
        }


@dataclass(frozen=True)
class MonthlyOnDay:
    day: int  # day of the month
    interval: int = 1

    def rrule(self) -> str:
        return f"FREQ=MONTHLY;{f'INTERVAL={self.interval};' if self.interval > 1 else ''}BYMONTHDAY={self.day}"

    def pattern(self) -> dict[str, Any]:
        return {
            "type": "absoluteMonthly",
            "interval": self.interval,
            "month": 0,
            "dayOfMonth": self.day,
            "daysOfWeek": [],
            "firstDayOfWeek": "sunday",
            "index": "first",
        }


@dataclass(frozen=True)
class MonthlyOnWeekday:
    day: str  # MO … SU
    index: int  # 1..4, or -1 for the last
    interval: int = 1

    def rrule(self) -> str:
        return f"FREQ=MONTHLY;{f'INTERVAL={self.interval};' if self.interval > 1 else ''}BYDAY={self.index}{self.day}"

    def pattern(self) -> dict[str, Any]:
        return {
            "type": "relativeMonthly",
            "interval": self.interval,
            "month": 0,
            "dayOfMonth": 0,
            "daysOfWeek": [DAYS[self.day]],
            "firstDayOfWeek": "sunday",
            "index": INDEX[self.index],
        }


Rule = Weekly | MonthlyOnDay | MonthlyOnWeekday


# -- people and meetings ---------------------------------------------------------------


@dataclass
class Person:
    email: str
    name: str
    manager: str | None
    tz: str
    provider: str  # google | microsoft


@dataclass
class Meeting:
    """One event (single or series) and its copies."""

    organizer: str
    attendees: list[str]  # people besides the organizer
    rooms: list[str]
    title: str
    tz: str
    first: datetime  # local wall time of the (first) start, naive
    minutes: int
    rule: Rule | None
    all_day: bool
    busy: bool
    uid: str
    google_id: str | None = None
    google_calendars: list[str] = field(default_factory=list)
    graph_ids: dict[str, str] = field(default_factory=dict)  # mailbox → its copy's id

    @property
    def people(self) -> list[str]:
        return [self.organizer] + [a for a in self.attendees if a != self.organizer]


class Story:
    def __init__(self, name: str, *, start: str, now: str, description: str = "", seed: int = 1) -> None:
        self.name, self.description = name, description
        self.start, self.now = instant(start), instant(now)
        self.people: dict[str, Person] = {}
        self.policies: list[dict[str, Any]] = []
        self.timeline: list[dict[str, Any]] = []
        self.labels: list[dict[str, Any]] = []
        self.rnd = random.Random(seed)

    # -- org ---------------------------------------------------------------------------
    def person(
        self, email: str, name: str, *, manager: str | None = None, tz: str = "Europe/Berlin", provider: str = "google"
    ) -> str:
        self.people[email] = Person(email, name, manager, tz, provider)
        return email

    def policy(self, manager: str, report: str, cadence_days: int) -> None:
        self.policies.append({"manager": manager, "report": report, "cadence_days": cadence_days})

    def label(self, at: str | datetime, label: str, **fields: Any) -> None:
        self.labels.append({"at": rfc3339(instant(at)), "label": label, **fields})

    # -- ids -------------------------------------------------------------------------------
    def _google_id(self) -> str:
        return "".join(self.rnd.choice("0123456789abcdefghijklmnopqrstuv") for _ in range(26))

    def _graph_id(self) -> str:
        alphabet = string.ascii_letters + string.digits + "-_"
        return "AAMkAG" + "".join(self.rnd.choice(alphabet) for _ in range(58)) + "AAA="

    def _graph_uid(self) -> str:
        return "040000008200E00074C5B7101A82E00800000000" + "".join(
            self.rnd.choice("0123456789ABCDEF") for _ in range(72)
        )

    # -- creating ----------------------------------------------------------------------------
    def series(
        self,
        organizer: str,
        attendees: list[str],
        *,
        at: str | datetime,
        first: str,
        rule: Rule,
        minutes: int = 30,
        title: str | None = None,
        tz: str | None = None,
        rooms: list[str] = (),
        busy: bool = True,
    ) -> Meeting:
        """A recurring meeting; `first` is the local wall time of its first slot."""
        return self._create(organizer, attendees, at, first, minutes, title, tz, rooms, busy, rule, False)

    def single(
        self,
        organizer: str,
        attendees: list[str],
        *,
        at: str | datetime,
        start: str,
        minutes: int = 30,
        title: str | None = None,
        tz: str | None = None,
        rooms: list[str] = (),
        busy: bool = True,
        all_day: bool = False,
    ) -> Meeting:
        """A one-off event; `start` is local wall time (all-day: the date, `minutes` a multiple of a day)."""
        return self._create(organizer, attendees, at, start, minutes, title, tz, rooms, busy, None, all_day)

    def _create(self, organizer, attendees, at, first, minutes, title, tz, rooms, busy, rule, all_day) -> Meeting:
        org = self.people[organizer]
        zone = tz or org.tz
        uid_google = org.provider == "google"
        m = Meeting(
            organizer=organizer,
            attendees=list(attendees),
            rooms=list(rooms),
            title=title or self._title(organizer, attendees),
            tz=zone,
            first=datetime.fromisoformat(first),
            minutes=minutes,
            rule=rule,
            all_day=all_day,
            busy=busy,
            uid="",
        )
        google = [p for p in m.people if p in self.people and self.people[p].provider == "google"]
        outlook = [p for p in m.people if p in self.people and self.people[p].provider == "microsoft"]
        if google:
            m.google_id, m.google_calendars = self._google_id(), google
        m.graph_ids = {p: self._graph_id() for p in outlook}
        m.uid = f"{m.google_id}@google.com" if uid_google and m.google_id else self._graph_uid()
        when = rfc3339(instant(at))
        if google:
            self.timeline.append(
                {"at": when, "op": "create", "provider": "google", "calendars": google, "event": self._google_event(m)}
            )
        for mailbox in outlook:
            self.timeline.append(
                {
                    "at": when,
                    "op": "create",
                    "provider": "microsoft",
                    "calendars": [mailbox],
                    "event": self._graph_event(m, mailbox),
                }
            )
        return m

    def _title(self, organizer: str, attendees: list[str]) -> str:
        first = [self.people[p].name.split()[0] if p in self.people else p for p in [organizer, *attendees]]
        return f"{' / '.join(first)} 1:1" if len(first) == 2 else "Sync"

    def _name(self, email: str) -> str:
        return self.people[email].name if email in self.people else email.split("@")[0].title()

    # -- native shapes ---------------------------------------------------------------------------
    def google_time(self, m: Meeting, local: datetime) -> dict[str, str]:
        aware = local.replace(tzinfo=ZoneInfo(m.tz))
        text = aware.isoformat()
        return {"dateTime": text[:-6] + "Z" if text.endswith("+00:00") else text, "timeZone": m.tz}

    def graph_time(self, m: Meeting, local: datetime) -> dict[str, str]:
        return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": to_windows(m.tz) or "UTC"}

    def _google_event(self, m: Meeting) -> dict[str, Any]:
        end = m.first + timedelta(minutes=m.minutes)
        event: dict[str, Any] = {"id": m.google_id, "status": "confirmed", "summary": m.title}
        if m.all_day:
            event["start"], event["end"] = {"date": m.first.date().isoformat()}, {"date": end.date().isoformat()}
        else:
            event["start"], event["end"] = self.google_time(m, m.first), self.google_time(m, end)
        if m.rule is not None:
            event["recurrence"] = [f"RRULE:{m.rule.rrule()}"]
        event["iCalUID"] = m.uid
        event["organizer"] = {"email": m.organizer, "displayName": self._name(m.organizer)}
        event["creator"] = {"email": m.organizer}
        if m.attendees or m.rooms:
            event["attendees"] = (
                [
                    {
                        "email": m.organizer,
                        "displayName": self._name(m.organizer),
                        "organizer": True,
                        "responseStatus": "accepted",
                    }
                ]
                + [{"email": a, "displayName": self._name(a), "responseStatus": "needsAction"} for a in m.attendees]
                + [
                    {"email": r, "displayName": r.split("@")[0], "resource": True, "responseStatus": "accepted"}
                    for r in m.rooms
                ]
            )
        if not m.busy:
            event["transparency"] = "transparent"
        event["eventType"] = "default"
        return event

    def _graph_event(self, m: Meeting, mailbox: str) -> dict[str, Any]:
        end = m.first + timedelta(minutes=m.minutes)
        zone = to_windows(m.tz) or "UTC"
        if m.all_day:
            start_t = {"dateTime": m.first.strftime("%Y-%m-%dT00:00:00.0000000"), "timeZone": zone}
            end_t = {"dateTime": end.strftime("%Y-%m-%dT00:00:00.0000000"), "timeZone": zone}
        else:
            start_t, end_t = self.graph_time(m, m.first), self.graph_time(m, end)
        event: dict[str, Any] = {
            "id": m.graph_ids[mailbox],
            "iCalUId": m.uid,
            "uid": m.uid,
            "subject": m.title,
            "type": "seriesMaster" if m.rule is not None else "singleInstance",
            "start": start_t,
            "end": end_t,
            "originalStartTimeZone": zone,
            "originalEndTimeZone": zone,
            "recurrence": None,
            "organizer": {"emailAddress": {"name": self._name(m.organizer), "address": m.organizer}},
            "attendees": [
                {
                    "type": "required",
                    "status": {"response": "none", "time": NEVER},
                    "emailAddress": {"name": self._name(a), "address": a},
                }
                for a in m.attendees
            ]
            + [
                {
                    "type": "resource",
                    "status": {"response": "accepted", "time": NEVER},
                    "emailAddress": {"name": r.split("@")[0], "address": r},
                }
                for r in m.rooms
            ],
            "showAs": "busy" if m.busy else "free",
            "isAllDay": m.all_day,
            "isCancelled": False,
            "isReminderOn": True,
            "responseRequested": True,
            "sensitivity": "normal",
            "importance": "normal",
            "isOnlineMeeting": False,
        }
        if m.rule is not None:
            event["recurrence"] = {
                "pattern": m.rule.pattern(),
                "range": {
                    "type": "noEnd",
                    "startDate": m.first.date().isoformat(),
                    "endDate": "0001-01-01",
                    "recurrenceTimeZone": zone,
                    "numberOfOccurrences": 0,
                },
            }
        return event

    # -- changes ------------------------------------------------------------------------------
    def _each_copy(
        self,
        m: Meeting,
        at: str | datetime,
        op: str,
        google: dict[str, Any] | None = None,
        graph: dict[str, Any] | None = None,
        only: list[str] | None = None,
    ) -> None:
        when = rfc3339(instant(at))
        if m.google_id and (only is None or set(only) & set(m.google_calendars)):
            self.timeline.append(
                {
                    "at": when,
                    "op": op,
                    "provider": "google",
                    "calendars": m.google_calendars,
                    "event_id": m.google_id,
                    **(google or {}),
                }
            )
        for mailbox, event_id in m.graph_ids.items():
            if only is None or mailbox in only:
                self.timeline.append(
                    {
                        "at": when,
                        "op": op,
                        "provider": "microsoft",
                        "calendars": [mailbox],
                        "event_id": event_id,
                        **(graph or {}),
                    }
                )

    def cancel(self, m: Meeting, original_start: str | datetime, *, at: str | datetime) -> None:
        """Cancel one occurrence (`original_start` in UTC)."""
        fields = {"original_start": rfc3339(instant(original_start))}
        self._each_copy(m, at, "cancel_occurrence", fields, fields)

    def move(
        self, m: Meeting, original_start: str | datetime, *, at: str | datetime, start: str, minutes: int | None = None
    ) -> None:
        """Move one occurrence to `start` (local wall time in the meeting's zone)."""
        begin = datetime.fromisoformat(start)
        end = begin + timedelta(minutes=minutes or m.minutes)
        slot = {"original_start": rfc3339(instant(original_start))}
        self._each_copy(
            m,
            at,
            "move_occurrence",
            {**slot, "start": self.google_time(m, begin), "end": self.google_time(m, end)},
            {**slot, "start": self.graph_time(m, begin), "end": self.graph_time(m, end)},
        )

    def respond(
        self,
        m: Meeting,
        attendee: str,
        response: str,
        *,
        at: str | datetime,
        original_start: str | datetime | None = None,
    ) -> None:
        fields: dict[str, Any] = {"attendee": attendee, "response": response}
        if original_start is not None:
            fields["original_start"] = rfc3339(instant(original_start))
        self._each_copy(m, at, "respond", fields, fields)

    def delete(self, m: Meeting, *, at: str | datetime) -> None:
        self._each_copy(m, at, "delete")

    def end_series(self, m: Meeting, *, at: str | datetime, last: str) -> None:
        """End a series after the slot starting at `last` (local date-time): Google
        writes `UNTIL` (UTC), Graph an `endDate` range."""
        last_local = datetime.fromisoformat(last)
        until = last_local.replace(tzinfo=ZoneInfo(m.tz)).astimezone(UTC)
        google = {"patch": {"recurrence": [f"RRULE:{m.rule.rrule()};UNTIL={until.strftime('%Y%m%dT%H%M%SZ')}"]}}
        zone = to_windows(m.tz) or "UTC"
        graph = {
            "patch": {
                "recurrence": {
                    "pattern": m.rule.pattern(),
                    "range": {
                        "type": "endDate",
                        "startDate": m.first.date().isoformat(),
                        "endDate": last_local.date().isoformat(),
                        "recurrenceTimeZone": zone,
                        "numberOfOccurrences": 0,
                    },
                }
            }
        }
        self._each_copy(m, at, "update", google, graph)

    # -- output -----------------------------------------------------------------------------------
    def document(self, expect: dict[str, Any] | None = None) -> dict[str, Any]:
        timeline = sorted(self.timeline, key=lambda op: instant(op["at"]))  # stable: ties keep order
        out: dict[str, Any] = {
            "format": "oneonone-scenario/1",
            "name": self.name,
            "description": self.description,
            "start": rfc3339(self.start),
            "now": rfc3339(self.now),
            "org": {
                "people": [
                    {"email": p.email, "name": p.name, "manager": p.manager, "timezone": p.tz, "provider": p.provider}
                    for p in self.people.values()
                ]
            },
        }
        if self.policies:
            out["policies"] = self.policies
        if self.labels:
            out["labels"] = self.labels
        out["timeline"] = timeline
        if expect is not None:
            out["expect"] = expect
        return out

    def write(self, path: str | Path, expect: dict[str, Any] | None = None, *, indent: int | None = 1) -> None:
        Path(path).write_text(json.dumps(self.document(expect), indent=indent) + "\n")

    def table(self) -> str:
        """The timeline's operations per kind, as a Markdown table."""
        counts: dict[str, int] = {}
        for op in self.timeline:
            counts[op["op"]] = counts.get(op["op"], 0) + 1
        rows = [f"| {op} | {n} |" for op, n in sorted(counts.items(), key=lambda kv: -kv[1])]
        return "\n".join(["| operation | count |", "|---|---|", *rows, f"| all | {len(self.timeline)} |"])


def slots(m: Meeting, until: date) -> list[datetime]:
    """The UTC starts of a series' slots up to `until` (a date), for stories that
    need to name occurrences."""
    from dateutil.rrule import rrulestr

    zone = ZoneInfo(m.tz)
    first = m.first.replace(tzinfo=zone)
    rule = rrulestr(m.rule.rrule(), dtstart=first)
    end = datetime(until.year, until.month, until.day, 23, 59, tzinfo=zone)
    return [s.astimezone(UTC) for s in rule.between(first - timedelta(seconds=1), end, inc=True)]
