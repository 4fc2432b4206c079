"""Changes a person makes to their next 1:1 in the fakes: what `oneonone sandbox
cancel|decline|move|shorten` asks the live sandbox for.

A person's 1:1 with someone is the recurring event on their calendar whose only
participants are the two of them. Each of the two holds a copy (the organizer's
Google calendar, the attendee's Outlook mailbox: one iCalendar UID), and an edit
reaches every copy, as the organizer's edit does in reality; so a change is one
timeline op per Google event (listing its calendars) and per Graph mailbox, the
very ops a scenario's timeline holds, applied through the fakes, which notify
the channels and subscriptions watching those calendars."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from service.sandbox.errors import ScenarioError
from service.sandbox.providers import SandboxProviders
from service.sandbox.timefmt import UTC, google_local, graph_local

KINDS = ("cancel", "decline", "move", "shorten")
HORIZON = timedelta(days=400)  # how far ahead "next" looks
DEFAULT_MINUTES = {"move": 60, "shorten": 20}  # move: by how much; shorten: to how long


class NoSuchChange(ScenarioError):
    """The person, their 1:1 or the change asked for does not exist."""


@dataclass(frozen=True)
class Change:
    kind: str
    email: str
    partner: str
    summary: str
    original_start: datetime
    start: datetime  # as it was
    end: datetime
    ops: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "change": self.kind,
            "email": self.email,
            "with": self.partner,
            "summary": self.summary,
            "original_start": _utc(self.original_start),
            "start": _utc(self.start),
            "end": _utc(self.end),
            "ops": self.ops,
        }


def plan_next(
    sandbox: SandboxProviders,
    kind: str,
    email: str,
    *,
    partner: str | None = None,
    minutes: int | None = None,
    at: datetime | None = None,
    horizon: timedelta = HORIZON,
) -> Change:
    """The ops that make `kind` happen to the next occurrence (starting after `at`,
    the fakes' now by default, and before `at + horizon`) of `email`'s 1:1 with
    `partner` (default: their manager)."""
    if kind not in KINDS:
        raise NoSuchChange(f"unknown change {kind!r}: one of {', '.join(KINDS)}")
    at = at or sandbox.clock.now()
    email = email.lower()
    partner = (partner or _manager(sandbox, email)).lower()
    if partner == email:
        raise NoSuchChange("a 1:1 takes two people")
    mine = [
        o
        for o in _upcoming(sandbox, email, at, horizon)
        if o["people"] == {email, partner} and o["start"] > at and o["uid"]
    ]
    if not mine:
        raise NoSuchChange(f"{email} has no upcoming 1:1 series with {partner}")
    first = mine[0]
    copies = [
        (provider, calendar, o)
        for calendar in (email, partner)
        for provider, o in _copies(sandbox, calendar, first["uid"], first["original_start"], at, horizon)
    ]
    now = _utc(at)
    ops: list[dict[str, Any]] = []
    google: dict[str, tuple[list[str], dict[str, Any]]] = {}  # Google shares an event's id across calendars
    for provider, calendar, occurrence in copies:
        if provider == "google":
            google.setdefault(occurrence["event_id"], ([], occurrence))[0].append(calendar)
        else:  # a Graph op names one mailbox
            ops.append(_op(kind, "microsoft", [calendar], occurrence, email, minutes, now))
    ops[:0] = [
        _op(kind, "google", calendars, occurrence, email, minutes, now) for calendars, occurrence in google.values()
    ]
    return Change(kind, email, partner, first["summary"], first["original_start"], first["start"], first["end"], ops)


def apply(sandbox: SandboxProviders, change: Change) -> int:
    """Apply the change's ops; returns how many notifications the fakes sent (or queued)."""
    return sum(sandbox.apply(op) for op in change.ops)


def _manager(sandbox: SandboxProviders, email: str) -> str:
    people = {p["email"].lower(): p for p in (sandbox.scenario.people if sandbox.scenario else [])}
    if email not in people:
        raise NoSuchChange(f"{email} is nobody in the sandbox")
    manager = people[email].get("manager")
    if not manager:
        raise NoSuchChange(f"{email} has no manager: say whose 1:1 with them (`with`)")
    return manager


def _provider(sandbox: SandboxProviders, calendar: str) -> str | None:
    if sandbox.google.store.has_calendar(calendar):
        return "google"
    if sandbox.graph.store.has_mailbox(calendar):
        return "microsoft"
    return None


def _upcoming(
    sandbox: SandboxProviders, calendar: str, at: datetime, horizon: timedelta = HORIZON
) -> list[dict[str, Any]]:
    provider = _provider(sandbox, calendar)
    if provider is None:
        raise NoSuchChange(f"{calendar} has no calendar in the sandbox")
    store = sandbox.google.store if provider == "google" else sandbox.graph.store
    return sorted(store.upcoming(calendar, at, at + horizon), key=lambda o: o["start"])


def _copies(
    sandbox: SandboxProviders,
    calendar: str,
    uid: str,
    original_start: datetime,
    at: datetime,
    horizon: timedelta = HORIZON,
) -> list[tuple[str, dict[str, Any]]]:
    """`calendar`'s copy of the occurrence, if it holds one (an attendee may not)."""
    provider = _provider(sandbox, calendar)
    if provider is None:
        return []
    return [
        (provider, o)
        for o in _upcoming(sandbox, calendar, at, horizon)
        if o["uid"] == uid and o["original_start"] == original_start
    ]


def _op(
    kind: str,
    provider: str,
    calendars: list[str],
    occurrence: dict[str, Any],
    email: str,
    minutes: int | None,
    now: str,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "at": now,
        "provider": provider,
        "calendars": calendars,
        "event_id": occurrence["event_id"],
        "original_start": _utc(occurrence["original_start"]),
    }
    if kind == "cancel":
        return op | {"op": "cancel_occurrence"}
    if kind == "decline":
        if occurrence["organizer"] == email:
            raise NoSuchChange(f"{email} organizes this 1:1: the organizer cancels it rather than declines")
        return op | {"op": "respond", "attendee": email, "response": "declined"}
    minutes = DEFAULT_MINUTES[kind] if minutes is None else minutes
    start, end = occurrence["start"], occurrence["end"]
    if kind == "move":
        start, end = start + timedelta(minutes=minutes), end + timedelta(minutes=minutes)
    else:
        if not 0 < minutes < (end - start).total_seconds() / 60:
            raise NoSuchChange(f"shorten to between 1 and {int((end - start).total_seconds() // 60) - 1} minutes")
        end = start + timedelta(minutes=minutes)
    return op | {
        "op": "move_occurrence",
        "start": _when(provider, start, occurrence),
        "end": _when(provider, end, occurrence),
    }


def _when(provider: str, t: datetime, occurrence: dict[str, Any]) -> dict[str, str]:
    """An EventDateTime (Google: local with offset, in the series' zone) or a Graph
    dateTimeTimeZone (in UTC, which Graph takes as readily as a Windows zone)."""
    if provider == "google":
        from zoneinfo import ZoneInfo

        zone = occurrence["zone"]
        return {"dateTime": google_local(t.astimezone(ZoneInfo(zone))), "timeZone": zone}
    return {"dateTime": graph_local(t.astimezone(UTC)), "timeZone": "UTC"}


def _utc(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
