"""Check a scenario file before replaying it: every problem names its entry.
A bad file makes `oneonone replay` exit with status 2."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

FORMAT = "oneonone-scenario/1"
OPS = {
    "create": ("provider", "calendars", "event"),
    "update": ("provider", "calendars", "event_id", "patch"),
    "delete": ("provider", "calendars", "event_id"),
    "cancel_occurrence": ("provider", "calendars", "event_id", "original_start"),
    "move_occurrence": ("provider", "calendars", "event_id", "original_start", "start", "end"),
    "respond": ("provider", "calendars", "event_id", "attendee", "response"),
}


class ScenarioError(Exception):
    """The scenario file is not a valid `oneonone-scenario/1` document."""


def instant(value: Any, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ScenarioError(f"{where}: {value!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise ScenarioError(f"{where}: {value!r} has no UTC offset")
    return parsed


def load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    validate(doc)
    return doc


def validate(doc: Any) -> None:
    if not isinstance(doc, dict):
        raise ScenarioError("the scenario must be a JSON object")
    if doc.get("format") != FORMAT:
        raise ScenarioError(f"format: expected {FORMAT!r}, got {doc.get('format')!r}")
    start, now = instant(doc.get("start"), "start"), instant(doc.get("now"), "now")
    if now < start:
        raise ScenarioError("now: is before start")
    people = (doc.get("org") or {}).get("people")
    if not isinstance(people, list) or not people:
        raise ScenarioError("org.people: a non-empty list is required")
    providers: dict[str, str] = {}
    for i, person in enumerate(people):
        where = f"org.people[{i}]"
        if not isinstance(person, dict) or not isinstance(person.get("email"), str):
            raise ScenarioError(f"{where}: needs an email")
        if person.get("provider") not in ("google", "microsoft"):
            raise ScenarioError(f"{where} ({person['email']}): provider must be google or microsoft")
        providers[person["email"].lower()] = person["provider"]
    for i, person in enumerate(people):
        manager = person.get("manager")
        if manager is not None and str(manager).lower() not in providers:
            raise ScenarioError(f"org.people[{i}] ({person['email']}): unknown manager {manager!r}")
    for i, policy in enumerate(doc.get("policies") or []):
        for role in ("manager", "report"):
            if str(policy.get(role, "")).lower() not in providers:
                raise ScenarioError(f"policies[{i}]: unknown {role} {policy.get(role)!r}")
        if not isinstance(policy.get("cadence_days"), int) or policy["cadence_days"] < 1:
            raise ScenarioError(f"policies[{i}]: cadence_days must be a positive integer")
    _validate_timeline(doc.get("timeline"), start, now, providers)


def _validate_timeline(timeline: Any, start: datetime, now: datetime, providers: dict[str, str]) -> None:
    if not isinstance(timeline, list):
        raise ScenarioError("timeline: a list is required")
    previous = start
    known: dict[str, set[str]] = {}  # event id → calendars holding it
    for i, entry in enumerate(timeline):
        where = f"timeline[{i}]"
        if not isinstance(entry, dict):
            raise ScenarioError(f"{where}: must be an object")
        op = entry.get("op")
        if op not in OPS:
            raise ScenarioError(f"{where}: unknown op {op!r}")
        where = f"{where} ({op})"
        at = instant(entry.get("at"), f"{where}.at")
        if at < previous:
            raise ScenarioError(f"{where}: at {entry['at']} is earlier than the entry before it (unsorted)")
        if at > now or at < start:
            raise ScenarioError(f"{where}: at {entry['at']} is outside [start, now]")
        previous = at
        for name in OPS[op]:
            if name not in entry:
                raise ScenarioError(f"{where}: missing {name!r}")
        calendars = entry["calendars"]
        if not isinstance(calendars, list) or not calendars:
            raise ScenarioError(f"{where}: calendars must be a non-empty list")
        for cal in calendars:
            if providers.get(str(cal).lower()) != entry["provider"]:
                raise ScenarioError(f"{where}: unknown calendar {cal!r} on {entry['provider']}")
        if entry["provider"] == "microsoft" and len(calendars) != 1:
            raise ScenarioError(f"{where}: a Microsoft op names exactly one mailbox")
        if op == "create":
            event_id = (entry["event"] or {}).get("id")
            if not event_id:
                raise ScenarioError(f"{where}: the event needs an id")
            known.setdefault(event_id, set()).update(c.lower() for c in calendars)
        else:
            holders = known.get(entry["event_id"], set())
            missing = [c for c in calendars if c.lower() not in holders]
            if missing:
                raise ScenarioError(f"{where}: unknown event id {entry['event_id']!r} in {missing[0]}")
        for name in ("original_start",):
            if name in entry:
                instant(entry[name], f"{where}.{name}")
