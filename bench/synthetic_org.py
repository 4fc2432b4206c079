"""A synthetic organisation with a year of calendar history (bench/detect.py; the
detector's agreement tests use a small one).

`synthetic_org(2000)` gives 2,000 people (managers with 8 reports each), one
weekly 1:1 series per reporting line (a quarter of them on Graph: per-mailbox
copies and every occurrence listed as an instance), a weekly team meeting per
manager, cancelled / moved / declined occurrences, and two busy one-off events
per person per week. EventChanges are built directly (no builders) so that
building the input stays cheap next to detecting on it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

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
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TEAM_SIZE = 8
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "Europe/London")
DAYS = ("MO", "TU", "WE", "TH", "FR")


def _weekday(moment: datetime) -> str:
    return DAYS[moment.weekday()] if moment.weekday() < 5 else "MO"


def _attendees(organizer: str, others: list[str]) -> tuple[Attendee, ...]:
    return (Attendee(organizer, Response.accepted, organizer=True),) + tuple(Attendee(o) for o in others)


class _Gen:
    def __init__(self, count: int, months: int, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.history = CalendarHistory()
        self.begin = NOW - timedelta(days=30 * months)
        self.emails = [f"p{i:05d}@big.test" for i in range(count)]
        self.people = [
            OrgPerson(e, self.emails[(i - 1) // TEAM_SIZE] if i else None, ZONES[i % 4])
            for i, e in enumerate(self.emails)
        ]

    def add(self, calendar: str, event_id: str, at: datetime, snap: EventSnapshot | None) -> None:
        self.history.add(EventChange(calendar, event_id, at, snap))

    def slot_starts(self, first: datetime, until: datetime) -> list[datetime]:
        # UTC weekly steps are close enough for choosing exception slots.
        out, t = [], first
        while t <= until:
            out.append(t)
            t += timedelta(days=7)
        return out

    def one_on_one(self, n: int, manager: str, report: str) -> None:
        rnd = self.rnd
        zone = ZONES[n % 4]
        first = (self.begin + timedelta(days=n % 5, hours=8 + n % 8)).replace(minute=0, second=0, microsecond=0)
        length = timedelta(minutes=rnd.choice((30, 45, 60)))
        graph = n % 4 == 0
        uid = f"uid-11-{n}"
        rule = (f"RRULE:FREQ=WEEKLY;BYDAY={_weekday(first)}",)
        base = dict(
            kind=Kind.series,
            status=Status.confirmed,
            updated=self.begin,
            provider="google",
            ical_uid=uid,
            start=first,
            end=first + length,
            timezone=zone,
            recurrence=rule,
            organizer=manager,
            attendees=_attendees(manager, [report]),
            title="1:1",
        )
        slots = self.slot_starts(first, NOW + timedelta(days=60))
        picked = rnd.sample(slots[2:-2], 8)
        for cal in (manager, report):
            sid = f"s{n}-{cal[:6]}" if graph else f"s{n}"
            master = EventSnapshot(calendar=cal, event_id=sid, **base)
            self.add(cal, sid, self.begin, master)
            instances = {}
            if graph:  # every occurrence listed individually
                for slot in slots:
                    iid = f"{sid}#{slot:%Y%m%d}"
                    instances[slot] = iid
                    self.add(
                        cal,
                        iid,
                        self.begin,
                        EventSnapshot(
                            calendar=cal,
                            event_id=iid,
                            kind=Kind.instance,
                            status=Status.confirmed,
                            updated=self.begin,
                            ical_uid=uid,
                            series_id=sid,
                            original_start=slot,
                            start=slot,
                            end=slot + length,
                            timezone=zone,
                            organizer=manager,
                            attendees=base["attendees"],
                            title="1:1",
                        ),
                    )
            for k, slot in enumerate(picked):
                iid = instances.get(slot, f"{sid}_{slot:%Y%m%dT%H%M%SZ}")
                at = slot - timedelta(hours=5 if k == 4 else (k + 1) * 11)  # k == 4: a late move
                if k < 3:  # cancelled
                    snap = (
                        None
                        if graph
                        else EventSnapshot(
                            calendar=cal,
                            event_id=iid,
                            kind=Kind.instance,
                            status=Status.cancelled,
                            updated=at,
                            series_id=sid,
                            original_start=slot,
                        )
                    )
                else:  # moved, shortened or declined
                    moved = slot + timedelta(hours=k - 3)
                    answer = Response.declined if k == 7 else Response.accepted
                    snap = EventSnapshot(
                        calendar=cal,
                        event_id=iid,
                        kind=Kind.instance,
                        status=Status.confirmed,
                        updated=at,
                        ical_uid=uid,
                        series_id=sid,
                        original_start=slot,
                        start=moved,
                        end=moved + (length / 2 if k == 6 else length),
                        timezone=zone,
                        organizer=manager,
                        attendees=_attendees(manager, [report])[:1] + (Attendee(report, answer),),
                        title="1:1",
                    )
                self.add(cal, iid, at, snap)

    def team_meeting(self, m: int, manager: str, reports: list[str]) -> None:
        first = (self.begin + timedelta(days=(m + 2) % 5, hours=14)).replace(minute=30)
        snap = dict(
            kind=Kind.series,
            status=Status.confirmed,
            updated=self.begin,
            ical_uid=f"uid-team-{m}",
            start=first,
            end=first + timedelta(minutes=60),
            timezone=ZONES[m % 4],
            recurrence=(f"RRULE:FREQ=WEEKLY;BYDAY={_weekday(first)}",),
            organizer=manager,
            attendees=_attendees(manager, reports),
            title="Team",
        )
        for cal in [manager, *reports]:
            self.add(cal, f"team{m}", self.begin, EventSnapshot(calendar=cal, event_id=f"team{m}", **snap))

    def busy_singles(self, i: int, person: str) -> None:
        # Arithmetic mixing instead of `random`: this loop makes ~220k events.
        day, k = self.begin, 0
        attendees = (Attendee(person, Response.accepted, organizer=True), Attendee("guest@other.test"))
        lengths = (timedelta(minutes=30), timedelta(minutes=60), timedelta(minutes=90))
        while day < NOW + timedelta(days=30):
            for _ in range(2):
                mix = (i * 7919 + k * 104729) % 1000003
                start = day + timedelta(days=mix % 5, hours=7 + mix % 10, minutes=30 * (mix % 2))
                created = start - timedelta(days=1 + mix % 19)
                eid = f"b{i}-{k}"
                k += 1
                self.add(
                    person,
                    eid,
                    created,
                    EventSnapshot(
                        calendar=person,
                        event_id=eid,
                        kind=Kind.single,
                        status=Status.confirmed,
                        updated=created,
                        ical_uid=f"{eid}@big",
                        start=start,
                        end=start + lengths[mix % 3],
                        organizer=person,
                        attendees=attendees,
                        busy=mix % 5 != 0,
                        title="Busy",
                    ),
                )
                if mix % 10 == 3:
                    self.add(person, eid, created + timedelta(hours=1), None)
            day += timedelta(days=7)

    def build(self) -> None:
        reports: dict[str, list[str]] = {}
        for n, person in enumerate(self.people):
            if person.manager:
                reports.setdefault(person.manager, []).append(person.email)
                self.one_on_one(n, person.manager, person.email)
        for m, (manager, team) in enumerate(sorted(reports.items())):
            self.team_meeting(m, manager, team)
        for i, person in enumerate(self.emails):
            self.busy_singles(i, person)


def synthetic_org(count: int = 2000, months: int = 12, seed: int = 7):
    """(history, people, policies, now) for `count` people over `months` months."""
    gen = _Gen(count, months, seed)
    gen.build()
    policies = [Policy(p.manager, p.email, 14) for p in gen.people[1::50] if p.manager]
    return gen.history, gen.people, policies, NOW
