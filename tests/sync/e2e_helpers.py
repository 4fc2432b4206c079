"""End-to-end sync helpers: scenarios built in code, a replay driver with fault
hooks, and the comparable final state of a run.

A replay here is `service.replay.harness.Harness`: the fake Google and Graph
servers on loopback, the service's webhooks on loopback, the production worker
pulling increments over HTTP, the detector after each increment. Tests inject
faults only through the fakes' knobs (service/sandbox/faults.py, token and
sync-token knobs) and the adapters' injectable `sleep`/`rng`; nothing of the
sync engine is mocked.

What "the same final state" means (`State`): the oneonone-replay/1 document, and
the stored rows with their volatile parts left out (row ids, observation times,
cursors, timestamps of the recomputation): calendar_events, every event revision
(change time and snapshot, in order), meetings, findings (with the meeting they
point at and whether they are resolved) and the pairs' cadence."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import aliased

from service.db.models import (
    Calendar,
    CalendarEvent,
    EventRevision,
    Finding,
    Meeting,
    Pair,
    Person,
    PushChannel,
    SyncRequest,
)
from service.domain.detection import to_replay_json
from service.replay.harness import Harness
from service.replay.validate import instant
from service.sync.providers.google.adapter import GoogleCalendarProvider, RetryPolicy
from service.sync.providers.microsoft.adapter import GraphCalendarProvider
from tests.conftest import PG_URL

UTC = UTC
BERLIN = "Europe/Berlin"
WIN_BERLIN = "W. Europe Standard Time"

MAYA, BEN, LI, OLA, KIM = (f"{n}@acme.test" for n in ("maya", "ben", "li", "ola", "kim"))


def database_url(backend: str) -> str | None:
    return None if backend == "sqlite" else PG_URL


def at(text: str) -> datetime:
    return instant(text, "at")


# -- provider-native events ---------------------------------------------------------------------
def _offset(local: str, zone: str) -> str:
    moment = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone))
    return moment.isoformat()


def google_time(local: str, zone: str = BERLIN) -> dict[str, str]:
    return {"dateTime": _offset(local, zone), "timeZone": zone}


def graph_time(local: str, zone: str = WIN_BERLIN) -> dict[str, str]:
    return {"dateTime": f"{local}.0000000", "timeZone": zone}


def google_event(
    event_id: str,
    summary: str,
    start: str,
    end: str,
    organizer: str,
    attendees: list[str],
    *,
    recurrence: list[str] | None = None,
    uid: str | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": event_id,
        "status": "confirmed",
        "summary": summary,
        "start": google_time(start),
        "end": google_time(end),
        "iCalUID": uid or f"{event_id}@google.com",
        "organizer": {"email": organizer},
        "creator": {"email": organizer},
        "attendees": [{"email": organizer, "organizer": True, "responseStatus": "accepted"}]
        + [{"email": a, "responseStatus": "needsAction"} for a in attendees],
        "eventType": "default",
    }
    if recurrence:
        event["recurrence"] = recurrence
    return event


def graph_weekly(day: str, start_date: str, *, end_date: str | None = None) -> dict[str, Any]:
    return {
        "pattern": {
            "type": "weekly",
            "interval": 1,
            "month": 0,
            "dayOfMonth": 0,
            "daysOfWeek": [day],
            "firstDayOfWeek": "sunday",
            "index": "first",
        },
        "range": {
            "type": "endDate" if end_date else "noEnd",
            "startDate": start_date,
            "endDate": end_date or "0001-01-01",
            "recurrenceTimeZone": WIN_BERLIN,
            "numberOfOccurrences": 0,
        },
    }


def graph_event(
    event_id: str,
    subject: str,
    start: str,
    end: str,
    organizer: str,
    attendees: list[str],
    *,
    uid: str,
    recurrence: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": event_id,
        "iCalUId": uid,
        "uid": uid,
        "subject": subject,
        "type": "seriesMaster" if recurrence else "singleInstance",
        "start": graph_time(start),
        "end": graph_time(end),
        "originalStartTimeZone": WIN_BERLIN,
        "originalEndTimeZone": WIN_BERLIN,
        "recurrence": recurrence,
        "organizer": {"emailAddress": {"name": organizer, "address": organizer}},
        "attendees": [
            {
                "type": "required",
                "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                "emailAddress": {"name": a, "address": a},
            }
            for a in attendees
        ],
        "showAs": "busy",
        "isAllDay": False,
        "isCancelled": False,
        "isReminderOn": True,
        "responseRequested": True,
        "sensitivity": "normal",
        "importance": "normal",
        "isOnlineMeeting": False,
    }


def _op(when: str, op: str, provider: str, calendars: list[str], **fields: Any) -> dict[str, Any]:
    return {"at": when, "op": op, "provider": provider, "calendars": calendars, **fields}


# -- the scenario every fault test replays ---------------------------------------------------------
# Graph item ids (one per mailbox copy) and iCalendar UIDs.
A = "maya0ben0weekly0a"  # Google maya–ben weekly, Mon 10:00 Berlin (crosses DST 03-29)
A2 = f"{A}_R20260413T090000"  # its "this and following" continuation, Mon 11:00
A_EXTRA = "maya0ben0extra0x"  # Google single event: updated, then deleted
B = "maya0li0weekly0b"  # mixed pair: Google copy (maya) + Graph copy (li), one UID
B_LI = "AAMkAGli0B0master0AAA="
C_OLA, C_KIM = "AAMkAGola0C0master0AAA=", "AAMkAGkim0C0master0AAA="  # Graph-only pair ola–kim
C_UID = "040000008200E00074C5B7101A82E00800000000C0C0C0C0C0C0C0C0000000000000000000000000"
C2_OLA, C2_KIM = "AAMkAGola0C2master0AAA=", "AAMkAGkim0C2master0AAA="  # its continuation
C2_UID = "040000008200E00074C5B7101A82E00800000000C2C2C2C2C2C2C2C2000000000000000000000000"
# Single events held only in the organizer's mailbox (kim was not invited with a copy).
R_OLA = "AAMkAGola0resched0AAA="  # the reschedule of a cancelled occurrence
R_UID = "040000008200E00074C5B7101A82E0080000000052525252525252520000000000000000000000000"
X_OLA = "AAMkAGola0extra0AAA="  # updated, then deleted
X_UID = "040000008200E00074C5B7101A82E0080000000058585858585858580000000000000000000000000"


def all_ops_scenario() -> dict[str, Any]:
    """Every timeline op on both providers, a mixed Google+Outlook pair, three weekly
    Europe/Berlin series across the 2026-03-29 DST change, and a "this and
    following" split on each provider.

    maya (Google) manages ben (Google) and li (Outlook); ola (Outlook) manages kim
    (Outlook). Series A maya–ben, Mon 10:00: an occurrence cancelled 90 h ahead, one
    moved 2 h ahead (late), one declined by ben, then split into A2 at 11:00 from
    04-13. B maya–li, Wed 14:00, mixed: li accepts the series on both copies, the
    series is re-timed to 15:00 on 03-20, an occurrence past `now` is cancelled on
    both copies. C ola–kim, Thu 09:00, one copy per mailbox: an occurrence
    cancelled and rescheduled by a single event the next day, one moved 6 days
    ahead, one declined by kim, then split into C2 at 10:00 from 04-16. A single
    event on each provider is created, updated (re-timed) and deleted."""
    g, m = "google", "microsoft"
    weekly_a = google_event(
        A,
        "Maya / Ben 1:1",
        "2026-03-02T10:00:00",
        "2026-03-02T10:30:00",
        MAYA,
        [BEN],
        recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO"],
    )
    weekly_a2 = google_event(
        A2,
        "Maya / Ben 1:1",
        "2026-04-13T11:00:00",
        "2026-04-13T11:30:00",
        MAYA,
        [BEN],
        recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO"],
    )
    extra_a = google_event(A_EXTRA, "Maya / Ben extra", "2026-03-27T14:00:00", "2026-03-27T14:30:00", MAYA, [BEN])
    weekly_b = google_event(
        B,
        "Maya / Li 1:1",
        "2026-03-04T14:00:00",
        "2026-03-04T14:30:00",
        MAYA,
        [LI],
        recurrence=["RRULE:FREQ=WEEKLY;BYDAY=WE"],
    )
    b_li = graph_event(
        B_LI,
        "Maya / Li 1:1",
        "2026-03-04T14:00:00",
        "2026-03-04T14:30:00",
        MAYA,
        [LI],
        uid=f"{B}@google.com",
        recurrence=graph_weekly("wednesday", "2026-03-04"),
    )

    def c(event_id: str, uid: str, start: str, end: str, recurrence: dict | None = None) -> dict[str, Any]:
        return graph_event(event_id, "Ola / Kim 1:1", start, end, OLA, [KIM], uid=uid, recurrence=recurrence)

    c_series = ("2026-03-05T09:00:00", "2026-03-05T09:30:00")
    c2_series = ("2026-04-16T10:00:00", "2026-04-16T10:30:00")
    resched = ("2026-03-13T09:00:00", "2026-03-13T09:30:00")
    extra_x = ("2026-04-14T10:00:00", "2026-04-14T10:30:00")
    moved_c = {"start": graph_time("2026-03-26T10:00:00"), "end": graph_time("2026-03-26T10:30:00")}
    split_c = {"recurrence": graph_weekly("thursday", "2026-03-05", end_date="2026-04-09")}
    timeline = [
        _op("2026-03-02T00:00:00Z", "create", g, [MAYA, BEN], event=weekly_a),
        _op("2026-03-02T00:00:00Z", "create", g, [MAYA], event=weekly_b),
        _op("2026-03-02T00:00:00Z", "create", m, [LI], event=b_li),
        _op(
            "2026-03-02T00:00:00Z",
            "create",
            m,
            [OLA],
            event=c(C_OLA, C_UID, *c_series, graph_weekly("thursday", "2026-03-05")),
        ),
        _op(
            "2026-03-02T00:00:00Z",
            "create",
            m,
            [KIM],
            event=c(C_KIM, C_UID, *c_series, graph_weekly("thursday", "2026-03-05")),
        ),
        _op("2026-03-03T09:00:00Z", "respond", g, [MAYA], event_id=B, attendee=LI, response="accepted"),
        _op("2026-03-03T09:00:00Z", "respond", m, [LI], event_id=B_LI, attendee=LI, response="accepted"),
        _op(
            "2026-03-10T10:00:00Z", "cancel_occurrence", m, [OLA], event_id=C_OLA, original_start="2026-03-12T08:00:00Z"
        ),
        _op(
            "2026-03-10T10:00:00Z", "cancel_occurrence", m, [KIM], event_id=C_KIM, original_start="2026-03-12T08:00:00Z"
        ),
        _op("2026-03-10T10:05:00Z", "create", m, [OLA], event=c(R_OLA, R_UID, *resched)),
        _op(
            "2026-03-12T15:00:00Z",
            "cancel_occurrence",
            g,
            [MAYA, BEN],
            event_id=A,
            original_start="2026-03-16T09:00:00Z",
        ),
        _op(
            "2026-03-20T12:00:00Z",
            "update",
            g,
            [MAYA],
            event_id=B,
            patch={"start": google_time("2026-03-04T15:00:00"), "end": google_time("2026-03-04T15:30:00")},
        ),
        _op(
            "2026-03-20T12:00:00Z",
            "update",
            m,
            [LI],
            event_id=B_LI,
            patch={"start": graph_time("2026-03-04T15:00:00"), "end": graph_time("2026-03-04T15:30:00")},
        ),
        _op(
            "2026-03-20T13:00:00Z",
            "move_occurrence",
            m,
            [OLA],
            event_id=C_OLA,
            original_start="2026-03-26T08:00:00Z",
            **moved_c,
        ),
        _op(
            "2026-03-20T13:00:00Z",
            "move_occurrence",
            m,
            [KIM],
            event_id=C_KIM,
            original_start="2026-03-26T08:00:00Z",
            **moved_c,
        ),
        _op("2026-03-22T18:00:00Z", "create", g, [MAYA, BEN], event=extra_a),
        _op(
            "2026-03-23T07:00:00Z",
            "move_occurrence",
            g,
            [MAYA, BEN],
            event_id=A,
            original_start="2026-03-23T09:00:00Z",
            start=google_time("2026-03-23T15:00:00"),
            end=google_time("2026-03-23T15:30:00"),
        ),
        _op(
            "2026-03-24T09:00:00Z",
            "update",
            g,
            [MAYA, BEN],
            event_id=A_EXTRA,
            patch={"start": google_time("2026-03-27T16:00:00"), "end": google_time("2026-03-27T16:30:00")},
        ),
        _op("2026-03-25T09:00:00Z", "delete", g, [MAYA, BEN], event_id=A_EXTRA),
        _op("2026-03-30T09:00:00Z", "create", m, [OLA], event=c(X_OLA, X_UID, *extra_x)),
        _op(
            "2026-04-01T08:00:00Z",
            "update",
            m,
            [OLA],
            event_id=X_OLA,
            patch={
                "subject": "Ola / Kim 1:1 (career)",
                "start": graph_time("2026-04-14T11:00:00"),
                "end": graph_time("2026-04-14T11:30:00"),
            },
        ),
        _op(
            "2026-04-01T09:00:00Z",
            "respond",
            m,
            [KIM],
            event_id=C_KIM,
            attendee=KIM,
            response="declined",
            original_start="2026-04-02T07:00:00Z",
        ),
        _op(
            "2026-04-01T09:00:00Z",
            "respond",
            m,
            [OLA],
            event_id=C_OLA,
            attendee=KIM,
            response="declined",
            original_start="2026-04-02T07:00:00Z",
        ),
        _op(
            "2026-04-02T10:00:00Z",
            "respond",
            g,
            [MAYA, BEN],
            event_id=A,
            attendee=BEN,
            response="declined",
            original_start="2026-04-06T08:00:00Z",
        ),
        _op(
            "2026-04-08T10:00:00Z",
            "update",
            g,
            [MAYA, BEN],
            event_id=A,
            patch={"recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20260412T215959Z"]},
        ),
        _op("2026-04-08T10:00:00Z", "create", g, [MAYA, BEN], event=weekly_a2),
        _op("2026-04-09T12:00:00Z", "update", m, [OLA], event_id=C_OLA, patch=split_c),
        _op("2026-04-09T12:00:00Z", "update", m, [KIM], event_id=C_KIM, patch=split_c),
        _op(
            "2026-04-09T12:05:00Z",
            "create",
            m,
            [OLA],
            event=c(C2_OLA, C2_UID, *c2_series, graph_weekly("thursday", "2026-04-16")),
        ),
        _op(
            "2026-04-09T12:05:00Z",
            "create",
            m,
            [KIM],
            event=c(C2_KIM, C2_UID, *c2_series, graph_weekly("thursday", "2026-04-16")),
        ),
        _op("2026-04-10T08:00:00Z", "delete", m, [OLA], event_id=X_OLA),
        _op("2026-04-15T09:00:00Z", "cancel_occurrence", g, [MAYA], event_id=B, original_start="2026-04-22T13:00:00Z"),
        _op("2026-04-15T09:00:00Z", "cancel_occurrence", m, [LI], event_id=B_LI, original_start="2026-04-22T13:00:00Z"),
    ]
    people = [
        {"email": MAYA, "name": "Maya", "manager": None, "timezone": BERLIN, "provider": g},
        {"email": BEN, "name": "Ben", "manager": MAYA, "timezone": BERLIN, "provider": g},
        {"email": LI, "name": "Li", "manager": MAYA, "timezone": BERLIN, "provider": m},
        {"email": OLA, "name": "Ola", "manager": None, "timezone": BERLIN, "provider": m},
        {"email": KIM, "name": "Kim", "manager": OLA, "timezone": BERLIN, "provider": m},
    ]
    return {
        "format": "oneonone-scenario/1",
        "name": "e2e-all-ops",
        "start": "2026-03-02T00:00:00Z",
        "now": "2026-04-20T10:00:00Z",
        "org": {"people": people},
        "timeline": timeline,
    }


def index_of(scenario: dict[str, Any], when: str, op: str, calendar: str) -> int:
    """The position of the timeline entry at `when` doing `op` on `calendar`."""
    for i, entry in enumerate(scenario["timeline"]):
        if entry["at"] == when and entry["op"] == op and calendar in entry["calendars"]:
            return i
    raise KeyError((when, op, calendar))


# -- injected waiting ---------------------------------------------------------------------------------
class RecordingSleep:
    """The adapters' `sleep`: records how long they asked to wait, returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(round(float(seconds), 3))
        await asyncio.sleep(0)

    def take(self) -> list[float]:
        calls, self.calls = self.calls, []
        return calls


def adapters(
    sleep: RecordingSleep, *, google_timeout: float = 30.0, graph_client: Any = None
) -> Callable[..., Mapping[str, Any]]:
    """A Harness `providers` factory: production adapters with an injected sleep and
    no jitter (Google's 1, 2, 4 s schedule exactly; Graph's equal jitter at its floor)."""
    import random

    class _Floor(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return a

    def build(settings, clock, msal_http_client) -> dict[str, Any]:
        return {
            "google": GoogleCalendarProvider(
                settings.google, clock=clock, sleep=sleep, rng=lambda: 0.0, retry=RetryPolicy(), timeout=google_timeout
            ),
            "microsoft": GraphCalendarProvider(
                settings, clock=clock, msal_http_client=msal_http_client, sleep=sleep, rng=_Floor(), client=graph_client
            ),
        }

    return build


# -- driving a replay --------------------------------------------------------------------------------
Hook = Callable[["Replay"], Awaitable[None] | None]


@dataclass
class Backoff:
    """A calendar found backing off after a step: how long, and why."""

    email: str
    seconds: float
    failures: int
    error: str


class Replay:
    """A Harness, driven one timeline entry at a time, with room for faults between
    the steps. `step(i)` is the harness's own (maintain the channels, apply the
    change, deliver its notifications, drain, detect), one entry per step, so
    that a fault aimed at an entry meets that entry's increment alone."""

    def __init__(self, harness: Harness, sleep: RecordingSleep) -> None:
        self.h = harness
        self.sleep = sleep
        self.timeline: list[dict[str, Any]] = harness.scenario["timeline"]
        self.backoffs: list[Backoff] = []

    @property
    def sandbox(self):
        return self.h.sandbox

    @property
    def faults(self):
        return self.h.sandbox.faults

    async def step(self, i: int) -> None:
        await self.h.apply(self.timeline[i])

    async def catch_up(self, i: int) -> None:
        """What `Harness.apply` does before entry i's change (clock at the entry, the
        calendars' channels maintained), done early, so that a request fault set
        next meets the sync of the change itself and not a channel renewal (Google's
        events.watch shares events.list's path)."""
        entry = self.timeline[i]
        self.h.clock.set(at(entry["at"]))
        emails = [e.lower() for e in entry["calendars"]]
        ids = {c.id for email, c in (await self.calendars()).items() if email in emails}
        await self.h.worker.maintain(ids)

    async def calendars(self) -> dict[str, Calendar]:
        async with self.h.sessions() as session:
            rows = (
                await session.execute(select(Person.email, Calendar).join(Calendar, Calendar.person_id == Person.id))
            ).all()
        return dict(rows)

    async def backing_off(self) -> list[Backoff]:
        now = self.h.clock.now()
        return [
            Backoff(email, (c.backoff_until - now).total_seconds(), c.failures, c.last_error or "")
            for email, c in (await self.calendars()).items()
            if c.backoff_until is not None and c.backoff_until > now
        ]

    async def retry_later(self, *, max_rounds: int = 10) -> list[Backoff]:
        """What production's worker does after a failure: wait until the backoff is
        over (on the injected clock) and sync again, until nothing backs off. Checks
        on the way that nothing was synced before its backoff ended."""
        seen: list[Backoff] = []
        for _ in range(max_rounds):
            pending = await self.backing_off()
            if not pending:
                return seen
            seen += pending
            before = {e: (c.cursor, c.last_synced_at) for e, c in (await self.calendars()).items()}
            shortest = min(b.seconds for b in pending)
            if shortest > 1:  # one second early: the worker must leave the calendar alone
                self.h.clock.set(self.h.clock.now() + timedelta(seconds=shortest - 1))
                await self.h.sync()
                after = await self.calendars()
                for b in pending:
                    assert (after[b.email].cursor, after[b.email].last_synced_at) == before[b.email], (
                        f"{b.email} was synced {shortest - 1:.0f}s into a {b.seconds:.0f}s backoff"
                    )
                self.h.clock.set(self.h.clock.now() + timedelta(seconds=1))
            else:
                self.h.clock.set(self.h.clock.now() + timedelta(seconds=shortest))
            await self.h.sync()
        raise AssertionError(f"still backing off after {max_rounds} rounds: {await self.backing_off()}")


@dataclass
class State:
    document: dict[str, Any]  # oneonone-replay/1
    rows: dict[str, Any]  # see stored_rows
    health: dict[str, Any]  # per calendar, see health


async def replay(
    scenario: dict[str, Any],
    backend: str,
    *,
    before: Mapping[int, Hook] | None = None,
    after: Mapping[int, Hook] | None = None,
    sleep: RecordingSleep | None = None,
    google_timeout: float = 30.0,
    graph_client: Any = None,
    at_end: Hook | None = None,
) -> tuple[State, Replay]:
    """Replay `scenario` entry by entry, running `before[i]` / `after[i]` around entry i;
    after each entry, calendars left backing off are retried once their backoff is over."""
    sleep = sleep or RecordingSleep()
    before, after = before or {}, after or {}
    factory = adapters(sleep, google_timeout=google_timeout, graph_client=graph_client)
    async with Harness(scenario, database_url=database_url(backend), providers=factory) as harness:
        run = Replay(harness, sleep)
        await harness.connect()
        for i in range(len(run.timeline)):
            if i in before:
                await _call(before[i], run)
            await run.step(i)
            if i in after:
                await _call(after[i], run)
            run.backoffs += await run.retry_later()
        detection = await harness.finish()
        state = State(to_replay_json(detection, harness.now), await stored_rows(harness), await health(harness))
        if at_end is not None:  # the database is still there: look at what the rows do not show
            await _call(at_end, run)
    return state, run


async def _call(hook: Hook, run: Replay) -> None:
    result = hook(run)
    if result is not None and hasattr(result, "__await__"):
        await result


# -- the comparable state ------------------------------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


async def stored_rows(harness: Harness) -> dict[str, Any]:
    """Events (and their revisions) only up to the end of the first window: every
    later window reaches further, by how much depends on when each calendar last
    re-baselined (a 410's full resync does, a quiet run may not have)."""
    manager, report = aliased(Person), aliased(Person)
    horizon = harness.start + timedelta(days=harness.settings.sync.lookahead_days)
    async with harness.sessions() as session:
        emails = dict(
            (
                await session.execute(select(Calendar.id, Person.email).join(Person, Person.id == Calendar.person_id))
            ).all()
        )
        events = {}
        beyond = set()
        for row in (await session.scalars(select(CalendarEvent))).all():
            if row.start is not None and row.start >= horizon:
                beyond.add((row.calendar_id, row.event_id))
                continue
            events[f"{emails[row.calendar_id]} {row.event_id}"] = {
                "ical_uid": row.ical_uid,
                "kind": row.kind,
                "series_id": row.series_id,
                "original_start": _iso(row.original_start),
                "status": row.status,
                "start": _iso(row.start),
                "end": _iso(row.end),
                "time_zone": row.time_zone,
                "all_day": row.all_day,
                "recurrence": row.recurrence,
                "organizer": row.organizer,
                "attendees": row.attendees,
                "busy": row.busy,
                "title": row.title,
                "updated": _iso(row.updated),
                "removed_at": _iso(row.removed_at),
            }
        revisions: dict[str, list] = {}
        for row in (await session.scalars(select(EventRevision).order_by(EventRevision.id))).all():
            if (row.calendar_id, row.event_id) in beyond:
                continue
            revisions.setdefault(f"{emails[row.calendar_id]} {row.event_id}", []).append(
                (_iso(row.changed_at), row.snapshot)
            )
        pairs = {}
        pair_rows = (
            await session.execute(
                select(Pair, manager.email, report.email)
                .join(manager, manager.id == Pair.manager_id)
                .join(report, report.id == Pair.report_id)
            )
        ).all()
        pair_key = {}
        for pair, m, r in pair_rows:
            pair_key[pair.id] = f"{m}>{r}"
            pairs[f"{m}>{r}"] = {
                "cadence": pair.cadence,
                "interval_days": pair.interval_days,
                "last_held": _iso(pair.last_held),
                "next_scheduled": _iso(pair.next_scheduled),
            }
        meetings, meeting_key = {}, {}
        for row in (await session.scalars(select(Meeting))).all():
            key = f"{pair_key[row.pair_id]} {row.source_uid} {_iso(row.original_start)}"
            meeting_key[row.id] = key
            meetings[key] = {
                "title": row.title,
                "start": _iso(row.start),
                "end": _iso(row.end),
                "status": row.status,
                "cancelled_at": _iso(row.cancelled_at),
                "source_series_id": row.source_series_id,
            }
        findings = {}
        for row in (await session.scalars(select(Finding))).all():
            findings[row.key] = {
                "pair": pair_key[row.pair_id],
                "type": row.type,
                "details": row.details,
                "meeting": meeting_key.get(row.meeting_id),
                "resolved": row.resolved_at is not None,
            }
    return {
        "calendar_events": events,
        "event_revisions": revisions,
        "pairs": pairs,
        "meetings": meetings,
        "findings": findings,
    }


async def health(harness: Harness) -> dict[str, Any]:
    """Per calendar: is it left clean (synced, no sync requested, not leased, not backing off)?"""
    async with harness.sessions() as session:
        rows = (
            await session.execute(select(Person.email, Calendar).join(Calendar, Calendar.person_id == Person.id))
        ).all()
        live = (await session.execute(select(PushChannel.calendar_id).where(PushChannel.stopped_at.is_(None)))).all()
        requested = set((await session.scalars(select(SyncRequest.calendar_id))).all())
    channels: dict[int, int] = {}
    for (calendar_id,) in live:
        channels[calendar_id] = channels.get(calendar_id, 0) + 1
    return {
        email: {
            "status": c.status,
            "requested": c.id in requested,
            "lease_owner": c.lease_owner,
            "failures": c.failures,
            "backoff_until": _iso(c.backoff_until),
            "synced": c.last_synced_at is not None,
            "live_channels": channels.get(c.id, 0),
        }
        for email, c in rows
    }


CLEAN = {
    "status": "active",
    "requested": False,
    "lease_owner": None,
    "failures": 0,
    "backoff_until": None,
    "synced": True,
    "live_channels": 1,
}


def assert_same_state(got: State, want: State) -> None:
    """Section by section, so a failure names what differs."""
    assert got.document == want.document, "oneonone-replay/1 documents differ"
    for section in want.rows:
        assert got.rows[section] == want.rows[section], f"stored {section} differ"
    assert got.health == dict.fromkeys(want.health, CLEAN), "calendars not left clean"
