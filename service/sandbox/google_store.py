"""Fake Google Calendar v3 storage: calendars keyed by email, each holding its own
copy of every event resource it shows, and the timeline operations that change
them the way Google would.

Google semantics reproduced here:
- one operation may list several calendars of a domain: they share the event
  and its id, each holding a copy;
- the store sets `updated`, `etag`, `created`, `sequence` from the op's `at`;
- deleting keeps the resource with `status: cancelled` (seen with showDeleted
  and in every incremental sync);
- a cancelled occurrence is an exception `<masterId>_<yyyymmddThhmmssZ>` (the
  original slot in UTC; `_<yyyymmdd>` for all-day) carrying only id,
  recurringEventId, originalStartTime and status (plus kind/etag/updated);
- a moved or individually answered occurrence is an exception with that id and
  the master's other fields;
- ending a series with UNTIL/COUNT deletes its exceptions past the new end.

Listing (sync tokens, paging, timeMin) lives in `google_listing`."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from service.sandbox.errors import GoogleApiError, ScenarioError, google_not_found
from service.sandbox.google_listing import GoogleListing
from service.sandbox.google_series import Series, instance_suffix, series_of
from service.sandbox.timefmt import UTC, google_local, google_stamp, parse_instant

# Fields Google sets itself: never taken from a scenario's resource or patch.
_PROVIDER_FIELDS = ("updated", "etag", "created", "sequence", "kind", "htmlLink")
_RESPONSES = ("needsAction", "declined", "tentative", "accepted")
_TIME_FIELDS = ("start", "end", "recurrence")
_LEADING = ("kind", "etag", "id", "status", "htmlLink", "created", "updated")


@dataclass
class _Copy:
    resource: dict[str, Any]
    seq: int  # the calendar's change counter at its last change


@dataclass
class GoogleCalendar:
    email: str
    time_zone: str
    summary: str
    events: dict[str, _Copy] = field(default_factory=dict)
    counter: int = 0  # bumped by every change: sync tokens point into it
    epoch: int = 0  # bumped by expire_sync_tokens: older tokens get 410
    updated: datetime | None = None


def _merge(target: dict, patch: dict) -> dict:
    """events.patch semantics: objects merge, arrays and scalars replace, null clears."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


class GoogleStore(GoogleListing):
    """All Google calendars of one fake server. Thread-safe."""

    def __init__(self, *, html_base: str = "https://www.google.com/calendar/event") -> None:
        self._lock = threading.RLock()
        self._calendars: dict[str, GoogleCalendar] = {}
        self._stamp = 0  # keeps etags unique within one `at`
        self._html_base = html_base
        GoogleListing.__init__(self)

    # -- calendars ---------------------------------------------------------
    def add_calendar(self, email: str, *, time_zone: str = "UTC", summary: str | None = None) -> None:
        with self._lock:
            key = email.lower()
            if key not in self._calendars:
                self._calendars[key] = GoogleCalendar(key, time_zone, summary or key)

    def calendars(self) -> list[str]:
        return list(self._calendars)

    def has_calendar(self, email: str) -> bool:
        return email.lower() in self._calendars

    def rename_calendar(self, email: str, new: str) -> None:
        """The owner's primary address changed: so does the calendar's id. Event copies
        keep the addresses they were written with; sync tokens name the calendar by its
        old id and answer 410 (a full resync), the safe reading of what Google does."""
        with self._lock:
            cal = self._calendars.pop(email.lower())
            cal.email = new.lower()
            self._calendars[cal.email] = cal

    def remove_calendar(self, email: str) -> None:
        """The owner was deleted: the calendar is gone (404 from now on)."""
        with self._lock:
            self._calendars.pop(email.lower(), None)

    def get_calendar(self, email: str) -> dict[str, Any]:
        """calendars.get: the calendar resource (its zone names all-day dates)."""
        with self._lock:
            cal = self._calendar(email)
            return {
                "kind": "calendar#calendar",
                "etag": f'"c{cal.epoch}"',
                "id": cal.email,
                "summary": cal.summary,
                "timeZone": cal.time_zone,
            }

    def _calendar(self, email: str, *, create: bool = False) -> GoogleCalendar:
        key = email.lower()
        if key not in self._calendars:
            if not create:
                raise google_not_found()
            self.add_calendar(key)
        return self._calendars[key]

    def seed(self, calendar: str, resources: Iterable[dict[str, Any]]) -> int:
        """Store event resources exactly as given (provider fields included), one
        change each in the order given, bypassing the timeline operations: for
        benchmarks that need many events at once. Takes the dicts over; returns how
        many were stored."""
        with self._lock:
            cal = self._calendar(calendar, create=True)
            count = 0
            for resource in resources:
                cal.counter += 1
                cal.events.pop(resource["id"], None)
                cal.events[resource["id"]] = _Copy(resource, cal.counter)
                updated = parse_instant(resource["updated"])
                cal.updated = updated if cal.updated is None or updated > cal.updated else cal.updated
                count += 1
            self._stamp += count
            return count

    def expire_sync_tokens(self, calendar: str) -> None:
        """Knob: every sync token (and page token) issued so far for `calendar`
        now answers 410 fullSyncRequired."""
        with self._lock:
            self._calendar(calendar).epoch += 1

    # -- reading single resources -------------------------------------------
    def get_event(self, calendar: str, event_id: str) -> dict[str, Any]:
        """events.get: cancelled events are still returned (status cancelled); an
        instance id (`<masterId>_<slot>`) is served even if never modified."""
        with self._lock:
            cal = self._calendar(calendar)
            held = cal.events.get(event_id)
            if held is None:
                try:
                    return self._render(cal, self._held_or_instance(cal, event_id))
                except ScenarioError:  # `<id>_<suffix>` of an event that is no series
                    raise google_not_found() from None
            return self._render(cal, held.resource)

    # -- what a person would see next (the live sandbox's changes) ---------------------
    def upcoming(self, calendar: str, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
        """The timed occurrences of `calendar`'s recurring events that overlap [lo, hi)
        and are not cancelled, as the person sees them (a moved one where it now is):
        `event_id` (the master's), `uid`, `summary`, `zone`, `organizer`, `people`
        (organizer and attendees), `original_start`, `start`, `end` (aware, UTC). Ordered by start."""
        out: list[dict[str, Any]] = []
        with self._lock:
            cal = self._calendar(calendar)
            for held in list(cal.events.values()):
                master = held.resource
                live = master.get("status") != "cancelled" and not master.get("recurringEventId")
                if not live or not master.get("recurrence"):
                    continue
                series = series_of(master, cal.time_zone)
                if series.all_day:
                    continue
                for slot in series.between(lo, hi):
                    original = slot.astimezone(UTC)
                    instance = self._instance(cal, master["id"], original)
                    if instance.get("status") == "cancelled":
                        continue
                    start = parse_instant(instance["start"]["dateTime"])
                    end = parse_instant(instance["end"]["dateTime"])
                    if not (start < hi and end > lo):
                        continue
                    out.append(
                        {
                            "event_id": master["id"],
                            "uid": master.get("iCalUID"),
                            "summary": master.get("summary", ""),
                            "zone": master["start"].get("timeZone") or cal.time_zone,
                            "organizer": (master.get("organizer") or {}).get("email", "").lower(),
                            "people": {
                                e.lower()
                                for e in [(master.get("organizer") or {}).get("email", "")]
                                + [a.get("email", "") for a in master.get("attendees", [])]
                                if e
                            },
                            "original_start": original,
                            "start": start,
                            "end": end,
                        }
                    )
        out.sort(key=lambda o: (o["start"], o["event_id"]))
        return out

    # -- timeline operations --------------------------------------------------
    def apply(self, op: dict[str, Any]) -> None:
        """Apply one scenario timeline entry (`provider: google`)."""
        at = parse_instant(op["at"])
        kind = op["op"]
        cals = op["calendars"]
        if kind == "create":
            self.create(cals, op["event"], at=at)
        elif kind == "update":
            self.update(cals, op["event_id"], op["patch"], at=at)
        elif kind == "delete":
            self.delete(cals, op["event_id"], at=at)
        elif kind == "cancel_occurrence":
            self.cancel_occurrence(cals, op["event_id"], parse_instant(op["original_start"]), at=at)
        elif kind == "move_occurrence":
            self.move_occurrence(
                cals, op["event_id"], parse_instant(op["original_start"]), op["start"], op["end"], at=at
            )
        elif kind == "respond":
            original = op.get("original_start")
            self.respond(
                cals,
                op["event_id"],
                op["attendee"],
                op["response"],
                at=at,
                original_start=parse_instant(original) if original else None,
            )
        else:
            raise ScenarioError(f"unknown op {kind!r}")

    def create(self, calendars: Iterable[str], event: dict[str, Any], *, at: datetime) -> None:
        with self._lock:
            event_id = event.get("id")
            if not event_id:
                raise ScenarioError("a Google event needs an id")
            start = event.get("start") or {}
            if event.get("recurrence") and start.get("dateTime") and not start.get("timeZone"):
                # Google refuses recurring events without a zone to expand them in.
                raise GoogleApiError(400, "required", "Missing time zone definition for start time.")
            for email in calendars:
                cal = self._calendar(email, create=True)
                if event_id in cal.events:
                    raise GoogleApiError(409, "duplicate", "The requested identifier already exists.")
                resource = {k: copy.deepcopy(v) for k, v in event.items() if k not in _PROVIDER_FIELDS}
                resource.setdefault("status", "confirmed")
                resource.setdefault("iCalUID", f"{event_id}@google.com")
                resource.setdefault("creator", {"email": cal.email})
                resource.setdefault("organizer", {"email": cal.email})
                resource.setdefault("reminders", {"useDefault": True})
                resource.setdefault("eventType", "default")
                resource["created"] = google_stamp(at)
                resource["sequence"] = 0
                self._save(cal, resource, at)

    def update(self, calendars: Iterable[str], event_id: str, patch: dict[str, Any], *, at: datetime) -> None:
        """A series edit (or an edit of one event / one materialized instance)."""
        with self._lock:
            clean = {k: v for k, v in patch.items() if k not in _PROVIDER_FIELDS + ("id",)}
            for email in calendars:
                cal = self._calendar(email, create=True)
                resource = copy.deepcopy(self._held_or_instance(cal, event_id))
                _merge(resource, clean)
                if any(k in clean for k in _TIME_FIELDS):
                    resource["sequence"] = resource.get("sequence", 0) + 1
                self._save(cal, resource, at)
                if resource.get("recurrence") and any(k in clean for k in _TIME_FIELDS):
                    self._drop_exceptions_past_end(cal, resource, at)

    def delete(self, calendars: Iterable[str], event_id: str, *, at: datetime) -> None:
        with self._lock:
            for email in calendars:
                cal = self._calendar(email, create=True)
                held = cal.events.get(event_id)
                target = held.resource if held is not None else self._held_or_instance(cal, event_id)
                if target.get("status") == "cancelled":
                    raise GoogleApiError(410, "deleted", "Resource has been deleted")
                if target.get("recurringEventId"):  # deleting one instance cancels it
                    self._save(cal, self._cancelled_stub(target), at)
                    continue
                assert held is not None
                resource = copy.deepcopy(held.resource)
                resource["status"] = "cancelled"
                self._save(cal, resource, at)
                for other in list(cal.events.values()):  # a series takes its exceptions along
                    if (
                        other.resource.get("recurringEventId") == event_id
                        and other.resource.get("status") != "cancelled"
                    ):
                        self._save(cal, self._cancelled_stub(other.resource), at)

    def cancel_occurrence(
        self, calendars: Iterable[str], event_id: str, original_start: datetime, *, at: datetime
    ) -> None:
        with self._lock:
            for email in calendars:
                cal = self._calendar(email, create=True)
                instance = self._instance(cal, event_id, original_start)
                if instance.get("status") == "cancelled":
                    raise GoogleApiError(410, "deleted", "Resource has been deleted")
                self._save(cal, self._cancelled_stub(instance), at)

    def move_occurrence(
        self,
        calendars: Iterable[str],
        event_id: str,
        original_start: datetime,
        start: dict[str, Any],
        end: dict[str, Any],
        *,
        at: datetime,
    ) -> None:
        with self._lock:
            for email in calendars:
                cal = self._calendar(email, create=True)
                instance = self._instance(cal, event_id, original_start)
                if instance.get("status") == "cancelled":
                    raise GoogleApiError(410, "deleted", "Resource has been deleted")
                instance["start"] = copy.deepcopy(start)
                instance["end"] = copy.deepcopy(end)
                instance["sequence"] = instance.get("sequence", 0) + 1
                self._save(cal, instance, at)

    def respond(
        self,
        calendars: Iterable[str],
        event_id: str,
        attendee: str,
        response: str,
        *,
        at: datetime,
        original_start: datetime | None = None,
    ) -> None:
        if response not in _RESPONSES:
            raise ScenarioError(f"unknown response {response!r}")
        with self._lock:
            for email in calendars:
                cal = self._calendar(email, create=True)
                if original_start is not None:
                    targets = [self._instance(cal, event_id, original_start)]
                    if targets[0].get("status") == "cancelled":
                        raise GoogleApiError(410, "deleted", "Resource has been deleted")
                else:
                    held = cal.events.get(event_id)
                    if held is None:
                        raise google_not_found()
                    # Answering "all events" also answers the modified instances.
                    targets = [copy.deepcopy(held.resource)] + [
                        copy.deepcopy(c.resource)
                        for c in cal.events.values()
                        if c.resource.get("recurringEventId") == event_id and c.resource.get("status") != "cancelled"
                    ]
                for resource in targets:
                    people = [
                        a for a in resource.get("attendees", []) if a.get("email", "").lower() == attendee.lower()
                    ]
                    if not people:
                        raise ScenarioError(f"{attendee} is not an attendee of {resource['id']}")
                    people[0]["responseStatus"] = response
                    self._save(cal, resource, at)

    # -- helpers -----------------------------------------------------------------
    def _save(self, cal: GoogleCalendar, resource: dict[str, Any], at: datetime) -> None:
        self._stamp += 1
        cal.counter += 1
        resource["kind"] = "calendar#event"
        resource["updated"] = google_stamp(at)
        # Google etags are quoted decimal strings that change with every write.
        resource["etag"] = f'"{int(at.timestamp() * 1000)}{self._stamp:06d}"'
        if resource.get("status") != "cancelled" or not resource.get("recurringEventId"):
            resource["htmlLink"] = f"{self._html_base}?eid={resource['id']}"
        cal.events.pop(resource["id"], None)  # re-insert: insertion order = change order
        cal.events[resource["id"]] = _Copy(resource, cal.counter)
        cal.updated = at if cal.updated is None or at > cal.updated else cal.updated

    def _held_or_instance(self, cal: GoogleCalendar, event_id: str) -> dict[str, Any]:
        held = cal.events.get(event_id)
        if held is not None:
            return held.resource
        master_id, _, suffix = event_id.rpartition("_")
        if master_id in cal.events and suffix:
            fmt = "%Y%m%d" if len(suffix) == 8 else "%Y%m%dT%H%M%SZ"
            try:
                slot = datetime.strptime(suffix, fmt).replace(tzinfo=UTC)
            except ValueError:
                raise google_not_found() from None
            return self._instance(cal, master_id, slot)
        raise google_not_found()

    def _master(self, cal: GoogleCalendar, event_id: str) -> tuple[dict[str, Any], Series]:
        held = cal.events.get(event_id)
        if held is None or held.resource.get("recurringEventId"):
            raise google_not_found()
        if not held.resource.get("recurrence"):
            raise ScenarioError(f"{event_id} is not a recurring event")
        return held.resource, series_of(held.resource, cal.time_zone)

    def _instance(self, cal: GoogleCalendar, event_id: str, original_start: datetime) -> dict[str, Any]:
        """A copy of the exception for one slot, materialized from the master if
        the slot has none yet (404 if the series has no such slot)."""
        master, series = self._master(cal, event_id)
        slot = series.slot_at(original_start)
        suffix = original_start.strftime("%Y%m%d") if series.all_day else instance_suffix(original_start, False)
        instance_id = f"{event_id}_{suffix}"
        held = cal.events.get(instance_id)
        if held is not None:
            return copy.deepcopy(held.resource)
        if slot is None:
            raise google_not_found()
        return self._materialize(master, series, slot, instance_id)

    @staticmethod
    def _materialize(master: dict, series: Series, slot: datetime, instance_id: str) -> dict[str, Any]:
        instance = {k: copy.deepcopy(v) for k, v in master.items() if k not in ("recurrence", "id")}
        instance["id"] = instance_id
        instance["recurringEventId"] = master["id"]
        if series.all_day:
            day = {"date": slot.date().isoformat()}
            instance["originalStartTime"] = dict(day)
            instance["start"] = day
            instance["end"] = {"date": (slot + series.duration).date().isoformat()}
        else:
            zone = master["start"].get("timeZone")
            instance["originalStartTime"] = {"dateTime": google_local(slot), "timeZone": zone}
            instance["start"] = {"dateTime": google_local(slot), "timeZone": zone}
            instance["end"] = {
                "dateTime": google_local(slot + series.duration),
                "timeZone": master["end"].get("timeZone", zone),
            }
        return instance

    @staticmethod
    def _cancelled_stub(instance: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": instance["id"],
            "status": "cancelled",
            "recurringEventId": instance["recurringEventId"],
            "originalStartTime": copy.deepcopy(instance["originalStartTime"]),
        }

    def _drop_exceptions_past_end(self, cal: GoogleCalendar, master: dict, at: datetime) -> None:
        series = series_of(master, cal.time_zone)
        last = series.last()
        if last is None:
            return
        for held in list(cal.events.values()):
            res = held.resource
            if res.get("recurringEventId") != master["id"] or res.get("status") == "cancelled":
                continue
            slot_id = res["id"].rpartition("_")[2]
            if slot_id > instance_suffix(last, series.all_day):
                self._save(cal, self._cancelled_stub(res), at)

    def _render(self, cal: GoogleCalendar, resource: dict[str, Any]) -> dict[str, Any]:
        """The resource as `cal` shows it: `self` marks the calendar's owner;
        kind/etag/id lead, as in Google's own JSON."""
        out = {k: copy.deepcopy(resource[k]) for k in _LEADING if k in resource}
        out.update((k, copy.deepcopy(v)) for k, v in resource.items() if k not in out)
        for key in ("organizer", "creator"):
            if isinstance(out.get(key), dict) and out[key].get("email", "").lower() == cal.email:
                out[key]["self"] = True
        for person in out.get("attendees", []):
            if person.get("email", "").lower() == cal.email:
                person["self"] = True
        return out
