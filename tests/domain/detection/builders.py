"""Readable CalendarHistory builders for detection tests.

    w = World(now="2026-03-02T09:00Z")
    w.person("maya")
    w.person("li", manager="maya")
    w.series("s", at="2026-01-01T00:00Z", start="2026-01-05T09:00", tz="Europe/Berlin",
             minutes=30, rrule="FREQ=WEEKLY;BYDAY=MO", organizer="maya", attendees=["li"])
    w.cancel_occurrence("s", "2026-02-09T08:00Z", at="2026-02-05T12:00Z")
    out = w.replay()                     # the oneonone-replay/1 document

Names without "@" become `<name>@acme.test`. Instants are UTC strings; a
series' `start` is local wall time in its `tz`.

Two provider styles, as the sync adapters present them:
- "google": one event id shared by every calendar; a modified occurrence is an
  instance `<id>_<slot>`; a cancelled occurrence an instance stub with status
  cancelled; a deleted event a snapshot with status cancelled (its exceptions
  become cancelled stubs too).
- "graph": each calendar has its own copy and id (`<id>@<calendar>`); every
  occurrence is listed as an instance; a cancelled occurrence is removed
  (snapshot None) and its slot added to the master as an EXDATE; a deleted
  series removes all instances and the master at the same moment."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from service.domain.detection import detect, detect_pair, people_index, to_replay_json
from service.domain.events import (
    Attendee,
    CalendarHistory,
    EventChange,
    EventSnapshot,
    Kind,
    OrgPerson,
    Policy,
    Response,
    Status,
)

UTC = UTC
GRAPH_LISTING = timedelta(days=120)  # how far past `now` Graph instances are listed


def email(name: str) -> str:
    return name.lower() if "@" in name else f"{name.lower()}@acme.test"


def utc(text: str | datetime) -> datetime:
    if isinstance(text, datetime):
        return text.astimezone(UTC)
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def local(text: str, tz: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


@dataclass
class _Event:
    provider: str
    calendars: list[str]
    ids: dict[str, str]  # calendar → that copy's event id
    series: bool
    instances: dict[tuple[str, datetime], str] = field(default_factory=dict)  # (cal, slot) → id
    exceptions: set[tuple[str, datetime]] = field(default_factory=set)  # modified individually


class World:
    def __init__(self, now: str) -> None:
        self.now = utc(now)
        self.people: list[OrgPerson] = []
        self.policies: list[Policy] = []
        self.history = CalendarHistory()
        self.latest: dict[tuple[str, str], EventSnapshot | None] = {}
        self.events: dict[str, _Event] = {}

    # -- org -------------------------------------------------------------------------
    def person(self, name: str, manager: str | None = None, tz: str = "UTC") -> str:
        self.people.append(OrgPerson(email(name), email(manager) if manager else None, tz))
        return email(name)

    def policy(self, manager: str, report: str, days: int) -> None:
        self.policies.append(Policy(email(manager), email(report), days))

    # -- low level -------------------------------------------------------------------
    def emit(self, calendar: str, event_id: str, at: datetime, snapshot: EventSnapshot | None) -> None:
        self.history.add(EventChange(calendar, event_id, at, snapshot))
        self.latest[(calendar, event_id)] = snapshot

    def _attendees(self, organizer: str, attendees, rooms, responses) -> tuple[Attendee, ...]:
        people = [organizer] + [email(a) for a in attendees if email(a) != organizer]
        out = [
            Attendee(
                p,
                Response(responses.get(p, "accepted" if p == organizer else "needsAction")),
                organizer=(p == organizer),
            )
            for p in people
        ]
        out += [Attendee(email(r), Response.accepted, resource=True) for r in rooms]
        return tuple(out)

    def _create(
        self, event_id: str, at: str, provider: str, calendars, base: dict, series: bool, uid: str | None = None
    ) -> None:
        moment = utc(at)
        cals = [email(c) for c in calendars]
        ids = {c: event_id if provider == "google" else f"{event_id}@{c}" for c in cals}
        self.events[event_id] = _Event(provider, cals, ids, series)
        for cal in cals:
            snap = EventSnapshot(
                calendar=cal,
                event_id=ids[cal],
                updated=moment,
                provider=provider,
                ical_uid=f"{uid or event_id}@uid",
                **base,
            )
            self.emit(cal, ids[cal], moment, snap)
            if series and provider == "graph":
                self._list_graph_instances(event_id, cal, moment)

    # -- creating ----------------------------------------------------------------------
    def event(
        self,
        event_id: str,
        *,
        at: str,
        start: str,
        organizer: str,
        attendees=(),
        minutes: int = 30,
        end: str | None = None,
        calendars=None,
        rooms=(),
        busy: bool = True,
        all_day: bool = False,
        title: str | None = None,
        provider: str = "google",
        responses: dict | None = None,
        tz: str = "UTC",
        uid: str | None = None,
    ) -> None:
        """A single event; `start`/`end` are UTC (all-day: the date's midnight).
        Copies on another provider: another `event_id` with the same `uid`."""
        org = email(organizer)
        begin = utc(start)
        finish = utc(end) if end else begin + timedelta(minutes=minutes)
        base = dict(
            kind=Kind.single,
            status=Status.confirmed,
            start=begin,
            end=finish,
            timezone=tz,
            all_day=all_day,
            organizer=org,
            busy=busy,
            title=title or event_id,
            attendees=self._attendees(org, attendees, rooms, {email(k): v for k, v in (responses or {}).items()}),
        )
        self._create(event_id, at, provider, calendars or [org, *attendees], base, series=False, uid=uid)

    def series(
        self,
        event_id: str,
        *,
        at: str,
        start: str,
        tz: str,
        rrule: str,
        organizer: str,
        attendees=(),
        minutes: int = 30,
        calendars=None,
        rooms=(),
        extra: tuple[str, ...] = (),
        provider: str = "google",
        title: str | None = None,
        busy: bool = True,
        uid: str | None = None,
    ) -> None:
        """A recurring series; `start` is local wall time in `tz`."""
        org = email(organizer)
        begin = local(start, tz)
        base = dict(
            kind=Kind.series,
            status=Status.confirmed,
            start=begin,
            end=begin + timedelta(minutes=minutes),
            timezone=tz,
            recurrence=(f"RRULE:{rrule}",) + tuple(extra),
            organizer=org,
            busy=busy,
            title=title or event_id,
            attendees=self._attendees(org, attendees, rooms, {}),
        )
        self._create(event_id, at, provider, calendars or [org, *attendees], base, series=True, uid=uid)

    # -- Graph instances ------------------------------------------------------------
    def _slots(self, master: EventSnapshot, until: datetime) -> list[datetime]:
        """Independent of the engine: dateutil on aware local times, like the fakes."""
        tz = ZoneInfo(master.timezone or "UTC")
        first = master.start.astimezone(tz)
        out = []
        excluded = set()
        for line in master.recurrence:
            name, _, value = line.partition(":")
            if name == "RRULE":
                if "UNTIL=" in value and not value.split("UNTIL=")[1][:16].endswith("Z"):
                    raise ValueError("builders only take UNTIL in UTC")
                out += [
                    s.astimezone(UTC)
                    for s in rrulestr(value, dtstart=first).between(
                        first - timedelta(days=1), until.astimezone(tz), inc=True
                    )
                ]
            elif name == "EXDATE":
                excluded |= {utc(v) for v in value.split(",")}
        return [s for s in out if s not in excluded]

    def _list_graph_instances(self, event_id: str, cal: str, at: datetime) -> None:
        """Graph lists every occurrence: after a series change the plain ones
        follow the master, vanished slots are removed, and exceptions (moved or
        answered individually) stay unless the series now ends before them."""
        meta = self.events[event_id]
        master = self.latest[(cal, meta.ids[cal])]
        length = master.end - master.start
        live = self._slots(master, self.now + GRAPH_LISTING)
        last = self._slots(master, self.now + 4 * GRAPH_LISTING)[-1:] or [master.start]
        ends = "UNTIL=" in master.recurrence[0] or "COUNT=" in master.recurrence[0]
        for (c, slot), iid in list(meta.instances.items()):
            if c != cal or self.latest.get((cal, iid)) is None or slot in live:
                continue
            if (cal, slot) not in meta.exceptions or (ends and slot > last[0]):
                self.emit(cal, iid, at, None)
        for slot in live:
            iid = meta.instances.setdefault((cal, slot), f"{meta.ids[cal]}#{stamp(slot)}")
            if (cal, slot) in meta.exceptions:
                continue
            wanted = dataclasses.replace(
                master,
                kind=Kind.instance,
                event_id=iid,
                updated=at,
                series_id=meta.ids[cal],
                original_start=slot,
                start=slot,
                end=slot + length,
                recurrence=(),
            )
            previous = self.latest.get((cal, iid))
            if previous is None or dataclasses.replace(previous, updated=at) != wanted:
                self.emit(cal, iid, at, wanted)

    # -- changing ---------------------------------------------------------------------
    def _cals(self, event_id: str, calendars) -> list[str]:
        return [email(c) for c in calendars] if calendars else self.events[event_id].calendars

    def update(self, event_id: str, *, at: str, calendars=None, **changes) -> None:
        """Change the event or series itself (`start`/`end` as UTC strings,
        `recurrence` as lines, `title`, `attendees` as names, `busy`…)."""
        meta, moment = self.events[event_id], utc(at)
        for key in ("start", "end"):
            if isinstance(changes.get(key), str):
                changes[key] = utc(changes[key])
        if "attendees" in changes:
            changes["attendees"] = tuple(Attendee(email(a)) for a in changes["attendees"])
        for cal in self._cals(event_id, calendars):
            old = self.latest[(cal, meta.ids[cal])]
            self.emit(cal, meta.ids[cal], moment, dataclasses.replace(old, updated=moment, **changes))
            if meta.series and meta.provider == "graph":
                self._list_graph_instances(event_id, cal, moment)

    def delete(self, event_id: str, *, at: str, calendars=None) -> None:
        meta, moment = self.events[event_id], utc(at)
        for cal in self._cals(event_id, calendars):
            old = self.latest[(cal, meta.ids[cal])]
            if meta.provider == "google":
                self.emit(cal, meta.ids[cal], moment, dataclasses.replace(old, status=Status.cancelled, updated=moment))
                for (c, slot), iid in meta.instances.items():
                    if c == cal and self.latest.get((cal, iid)) is not None:
                        self.emit(cal, iid, moment, self._stub(cal, iid, meta.ids[cal], slot, moment))
                continue
            for (c, _), iid in meta.instances.items():
                if c == cal and self.latest.get((cal, iid)) is not None:
                    self.emit(cal, iid, moment, None)
            self.emit(cal, meta.ids[cal], moment, None)

    def _stub(self, cal: str, iid: str, series_id: str, slot: datetime, at: datetime) -> EventSnapshot:
        return EventSnapshot(
            calendar=cal,
            event_id=iid,
            kind=Kind.instance,
            status=Status.cancelled,
            updated=at,
            provider="google",
            series_id=series_id,
            original_start=slot,
        )

    def _instance(self, event_id: str, cal: str, slot: datetime) -> tuple[str, EventSnapshot]:
        """The occurrence's current instance snapshot, materialized from the master."""
        meta = self.events[event_id]
        iid = meta.instances.setdefault((cal, slot), f"{meta.ids[cal]}_{stamp(slot)}")
        current = self.latest.get((cal, iid))
        if current is not None:
            return iid, current
        master = self.latest[(cal, meta.ids[cal])]
        return iid, dataclasses.replace(
            master,
            kind=Kind.instance,
            event_id=iid,
            series_id=meta.ids[cal],
            original_start=slot,
            start=slot,
            end=slot + (master.end - master.start),
            recurrence=(),
        )

    def cancel_occurrence(self, event_id: str, original_start: str, *, at: str, calendars=None) -> None:
        meta, moment, slot = self.events[event_id], utc(at), utc(original_start)
        for cal in self._cals(event_id, calendars):
            iid, _ = self._instance(event_id, cal, slot)
            if meta.provider == "google":
                self.emit(cal, iid, moment, self._stub(cal, iid, meta.ids[cal], slot, moment))
                continue
            master = self.latest[(cal, meta.ids[cal])]
            self.emit(
                cal,
                meta.ids[cal],
                moment,
                dataclasses.replace(master, updated=moment, recurrence=master.recurrence + (f"EXDATE:{stamp(slot)}",)),
            )
            self.emit(cal, iid, moment, None)

    def move_occurrence(
        self,
        event_id: str,
        original_start: str,
        *,
        at: str,
        start: str,
        end: str | None = None,
        minutes: int | None = None,
        calendars=None,
    ) -> None:
        moment, slot = utc(at), utc(original_start)
        for cal in self._cals(event_id, calendars):
            iid, current = self._instance(event_id, cal, slot)
            self.events[event_id].exceptions.add((cal, slot))
            begin = utc(start)
            finish = (
                utc(end) if end else begin + (timedelta(minutes=minutes) if minutes else current.end - current.start)
            )
            self.emit(cal, iid, moment, dataclasses.replace(current, start=begin, end=finish, updated=moment))

    def respond(
        self, event_id: str, who: str, response: str, *, at: str, original_start: str | None = None, calendars=None
    ) -> None:
        meta, moment, person = self.events[event_id], utc(at), email(who)

        def answered(snap: EventSnapshot) -> EventSnapshot:
            people = [
                dataclasses.replace(a, response=Response(response)) if a.email == person else a for a in snap.attendees
            ]
            if all(a.email != person for a in people):
                people.append(Attendee(person, Response(response)))
            return dataclasses.replace(snap, attendees=tuple(people), updated=moment)

        for cal in self._cals(event_id, calendars):
            if original_start is None:
                key = (cal, meta.ids[cal])
                self.emit(cal, meta.ids[cal], moment, answered(self.latest[key]))
                if meta.series and meta.provider == "graph":
                    self._list_graph_instances(event_id, cal, moment)
                continue
            iid, current = self._instance(event_id, cal, utc(original_start))
            meta.exceptions.add((cal, utc(original_start)))
            self.emit(cal, iid, moment, answered(current))

    def remove_instance(self, event_id: str, original_start: str, *, at: str, calendars=None) -> None:
        """Graph: an occurrence disappears from the listing, the master unchanged."""
        meta = self.events[event_id]
        for cal in self._cals(event_id, calendars):
            self.emit(cal, meta.instances[(cal, utc(original_start))], utc(at), None)

    def remove_copy(self, event_id: str, calendar: str, *, at: str) -> None:
        """Graph: an attendee's own copy of a single event disappears."""
        meta = self.events[event_id]
        self.emit(email(calendar), meta.ids[email(calendar)], utc(at), None)

    # -- running -----------------------------------------------------------------------
    def detect(self):
        return detect(self.history, self.people, self.policies, self.now)

    def replay(self) -> dict:
        return to_replay_json(self.detect(), self.now)

    def pair(self, manager: str, report: str):
        policy = next((p for p in self.policies if (p.manager, p.report) == (email(manager), email(report))), None)
        return detect_pair(self.history, email(manager), email(report), people_index(self.people), policy, self.now)


# -- reading results ---------------------------------------------------------------------


def meetings(out: dict, manager: str | None = None, report: str | None = None) -> dict[str, dict]:
    """Meetings by original start (`YYYY-MM-DDTHH:MM:SSZ`)."""
    return {
        m["original_start"]: m
        for m in out["meetings"]
        if (manager is None or m["manager"] == email(manager)) and (report is None or m["report"] == email(report))
    }


def statuses(out: dict, **kw) -> dict[str, str]:
    return {k: m["status"] for k, m in meetings(out, **kw).items()}


def findings(out: dict, type_: str | None = None) -> list[dict]:
    return [f for f in out["findings"] if type_ is None or f["type"] == type_]


def keys(out: dict, type_: str) -> list[str]:
    """The moment identifying each finding of a type (occurrence_start or since)."""
    return [f.get("occurrence_start") or f.get("since") for f in findings(out, type_)]


def pair(out: dict, manager: str, report: str) -> dict:
    wanted = (email(manager), email(report))
    return next(p for p in out["pairs"] if (p["manager"], p["report"]) == wanted)
