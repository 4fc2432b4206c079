"""Fake Microsoft Graph v1.0 calendar storage: one calendar per mailbox, each
mailbox holding its own copy (own id) of every event, and the timeline
operations that change them the way Exchange would.

Graph semantics reproduced here:
- the store sets createdDateTime, lastModifiedDateTime, changeKey from `at`;
- a series is one seriesMaster with pattern-generated occurrences; an
  occurrence that is moved or answered on its own becomes an `exception`
  keeping its id; a cancelled occurrence disappears (it is listed in the
  master's cancelledOccurrences, returned only with $select);
- changing an occurrence changes its master (Exchange keeps exceptions inside
  the master item), so the master's changeKey moves too;
- deleting removes the event for good (a master with all its instances);
- v1.0 has no `uid` property: it is kept internally and never served;
- the directory names each mailbox's user by an immutable object id and by
  addresses that can change: `mail` (the primary SMTP address),
  `userPrincipalName` (the sign-in name, not necessarily the mail address) and
  `proxyAddresses` (`SMTP:` primary, `smtp:` aliases). Paths resolve any of
  them; `rename_mailbox` changes the UPN and mail, after which the old
  address names nobody (404) unless it is kept as an alias.

Reading (get_event, calendar_view_delta) lives in `graph_delta`."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from service.sandbox.errors import GraphApiError, ScenarioError, graph_not_found
from service.sandbox.graph_delta import GraphDelta
from service.sandbox.graph_view import GraphEvent, Mailbox, change_key, materialize, shape_of, view
from service.sandbox.oauth_entra import object_id
from service.sandbox.timefmt import UTC, graph_offset, graph_stamp, graph_time, parse_instant
from service.sandbox.zones import UnknownTimeZone, to_iana

_PROVIDER_FIELDS = ("createdDateTime", "lastModifiedDateTime", "changeKey", "@odata.etag", "@odata.type")
_RESPONSES = {
    "accepted": "accepted",
    "tentative": "tentativelyAccepted",
    "declined": "declined",
    "tentativelyAccepted": "tentativelyAccepted",
    "none": "none",
    "notResponded": "notResponded",
}
_NEVER = "0001-01-01T00:00:00Z"


def _check_zone(name: str | None) -> None:
    try:
        to_iana(name or "UTC")
    except UnknownTimeZone:
        raise GraphApiError(
            400,
            "TimeZoneNotSupportedException",
            f"A valid TimeZone value must be specified. The following TimeZone value is not supported: '{name}'.",
        ) from None


class GraphStore(GraphDelta):
    """All mailboxes of one fake Graph server. Thread-safe."""

    def __init__(
        self,
        *,
        base_url: str = "https://graph.microsoft.com/v1.0",
        stub_occurrences: bool = True,
        default_page_size: int = 10,
    ) -> None:
        self._lock = threading.RLock()
        self._mailboxes: dict[str, Mailbox] = {}
        self._by_object_id: dict[str, str] = {}  # Entra object id → mailbox (`/users/{id}` paths)
        self._addresses: dict[str, str] = {}  # mail, UPN and aliases → mailbox
        self._serial = 0
        self._uids: dict[tuple[str, str], str] = {}  # (mailbox, id) → iCalendar UID (beta `uid`)
        GraphDelta.__init__(
            self, base_url=base_url, stub_occurrences=stub_occurrences, default_page_size=default_page_size
        )

    # -- mailboxes -------------------------------------------------------------
    def add_mailbox(
        self, email: str, *, time_zone: str = "UTC", upn: str | None = None, aliases: Iterable[str] = ()
    ) -> None:
        """`upn`: a sign-in name other than the address; `aliases`: secondary addresses."""
        with self._lock:
            key = email.lower()
            if key not in self._mailboxes:
                mb = Mailbox(key, time_zone, key, (upn or key).lower(), [a.lower() for a in aliases])
                self._mailboxes[key] = mb
                self._by_object_id[object_id(key)] = key
                self._index(mb)

    def rename_mailbox(self, address: str, new_address: str, *, keep_alias: bool = False) -> None:
        """Knob: the user's UPN and primary address become `new_address` (a name or
        domain change); the object id stays. The old ones name nobody from now on,
        unless `keep_alias` keeps them as secondary addresses."""
        with self._lock:
            mb = self._mailboxes[self.mailbox_named(address)]
            old = [a for a in (mb.mail, mb.upn) if a != new_address.lower()]
            for gone in {mb.mail, mb.upn, *mb.aliases}:
                self._addresses.pop(gone, None)
            mb.mail = mb.upn = new_address.lower()
            mb.aliases = [a for a in dict.fromkeys([*mb.aliases, *(old if keep_alias else [])]) if a != mb.mail]
            self._index(mb)

    def _index(self, mb: Mailbox) -> None:
        for address in (mb.mail, mb.upn, *mb.aliases):
            self._addresses[address] = mb.email

    def mailboxes(self) -> list[str]:
        return list(self._mailboxes)

    def has_mailbox(self, email: str) -> bool:
        return self.resolve(email) is not None

    def resolve(self, user: str) -> str | None:
        """The mailbox (its key) an object id or any current address names."""
        key = user.lower()
        return self._by_object_id.get(key) or self._addresses.get(key)

    def mailbox_named(self, user: str) -> str:
        """The mailbox a path segment names (its object id or a current address);
        404 ErrorInvalidUser when it names nobody."""
        found = self.resolve(user)
        if found is None:
            raise GraphApiError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
        return found

    def directory_user(self, mailbox: str) -> dict[str, Any]:
        """The mailbox's user as the directory (GET /users/{id}) has it."""
        mb = self._mailbox(mailbox)
        return {
            "id": object_id(mb.email),
            "displayName": mb.email.split("@", 1)[0].replace(".", " ").title(),
            "mail": mb.mail,
            "userPrincipalName": mb.upn,
            "proxyAddresses": [f"SMTP:{mb.mail}", *(f"smtp:{a}" for a in mb.aliases)],
        }

    def _mailbox(self, email: str, *, create: bool = False) -> Mailbox:
        key = email.lower()
        if key not in self._mailboxes:
            if not create:
                raise GraphApiError(404, "ErrorInvalidUser", f"The requested user '{email}' is invalid.")
            self.add_mailbox(key)
        return self._mailboxes[key]

    @staticmethod
    def _one(calendars: Iterable[str]) -> str:
        listed = list(calendars)
        if len(listed) != 1:
            raise ScenarioError("a microsoft operation lists exactly one mailbox")
        return listed[0]

    # -- what a person would see next (the live sandbox's changes) ---------------------
    def upcoming(self, mailbox: str, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
        """The timed occurrences of `mailbox`'s series that overlap [lo, hi) and are not
        cancelled, as its calendar view shows them: the same keys as
        `GoogleStore.upcoming` (`zone` the master's Windows or IANA label)."""
        out: list[dict[str, Any]] = []
        with self._lock:
            mb = self._mailbox(self.mailbox_named(mailbox))
            for item in view(mb, lo, hi):
                if item.master_id is None or item.all_day_zone is not None:
                    continue
                master = mb.events[item.master_id].resource
                people = [master.get("organizer") or {}] + list(master.get("attendees") or [])
                out.append(
                    {
                        "event_id": item.master_id,
                        "uid": self._uids.get((mb.email, item.master_id)) or master.get("iCalUId"),
                        "summary": master.get("subject", ""),
                        "zone": master["start"].get("timeZone") or "UTC",
                        "organizer": ((people[0].get("emailAddress") or {}).get("address") or "").lower(),
                        "people": {
                            a.lower() for a in ((p.get("emailAddress") or {}).get("address") for p in people) if a
                        },
                        "original_start": item.original_start.astimezone(UTC),
                        "start": item.start.astimezone(UTC),
                        "end": item.end.astimezone(UTC),
                    }
                )
        return out

    # -- timeline operations ---------------------------------------------------
    def apply(self, op: dict[str, Any]) -> None:
        """Apply one scenario timeline entry (`provider: microsoft`)."""
        at = parse_instant(op["at"])
        kind = op["op"]
        cals = op["calendars"]
        original = parse_instant(op["original_start"]) if op.get("original_start") else None
        if kind == "create":
            self.create(cals, op["event"], at=at)
        elif kind == "update":
            self.update(cals, op["event_id"], op["patch"], at=at)
        elif kind == "delete":
            self.delete(cals, op["event_id"], at=at)
        elif kind == "cancel_occurrence" and original is not None:
            self.cancel_occurrence(cals, op["event_id"], original, at=at)
        elif kind == "move_occurrence" and original is not None:
            self.move_occurrence(cals, op["event_id"], original, op["start"], op["end"], at=at)
        elif kind == "respond":
            self.respond(cals, op["event_id"], op["attendee"], op["response"], at=at, original_start=original)
        else:
            raise ScenarioError(f"cannot apply op {kind!r}")

    def create(self, calendars: Iterable[str], event: dict[str, Any], *, at: datetime) -> None:
        with self._lock:
            mb = self._mailbox(self._one(calendars), create=True)
            event_id = event.get("id")
            if not event_id or event_id in mb.events or event_id in mb.occurrences:
                raise ScenarioError(f"a new Graph event needs a fresh id, got {event_id!r}")
            res = {k: copy.deepcopy(v) for k, v in event.items() if k not in _PROVIDER_FIELDS}
            uid = res.pop("uid", None)
            self._uids[(mb.email, event_id)] = uid or res.get("iCalUId") or event_id
            organizer = ((res.get("organizer") or {}).get("emailAddress") or {}).get("address") or mb.email
            res.setdefault("organizer", {"emailAddress": {"name": mb.email, "address": mb.email}})
            res.setdefault("iCalUId", uid or f"{event_id}@fake.graph")
            res.setdefault("attendees", [])
            for key, default in (
                ("isAllDay", False),
                ("isCancelled", False),
                ("showAs", "busy"),
                ("sensitivity", "normal"),  # normal | personal | private | confidential
                ("categories", []),
                ("hasAttachments", False),
                ("seriesMasterId", None),
            ):
                res.setdefault(key, default)
            res["isOrganizer"] = organizer.lower() == mb.email
            res.setdefault(
                "responseStatus", {"response": "organizer" if res["isOrganizer"] else "notResponded", "time": _NEVER}
            )
            res["createdDateTime"] = graph_stamp(at)
            self._shape(res, event.get("type"))
            mb.events[event_id] = GraphEvent(res)
            self._touch(mb, res, at)

    def update(self, calendars: Iterable[str], event_id: str, patch: dict[str, Any], *, at: datetime) -> None:
        with self._lock:
            mb = self._mailbox(self._one(calendars), create=True)
            clean = {k: copy.deepcopy(v) for k, v in patch.items() if k not in _PROVIDER_FIELDS + ("id", "type")}
            clean.pop("uid", None)
            held = mb.events.get(event_id)
            if held is not None:
                held.resource.update(clean)  # PATCH replaces each top-level property given
                self._shape(held.resource, None)
                if held.resource["type"] != "seriesMaster":
                    held.exceptions.clear()
                    held.cancelled.clear()
                elif any(k in clean for k in ("start", "end", "recurrence")):
                    self._prune(held)
                self._touch(mb, held.resource, at)
                return
            master, original = self._occurrence(mb, event_id)
            exc = self._exception(mb, master, original)
            exc.update({k: v for k, v in clean.items() if k != "recurrence"})
            self._save_exception(mb, master, original, exc, at)

    def delete(self, calendars: Iterable[str], event_id: str, *, at: datetime) -> None:
        with self._lock:
            mb = self._mailbox(self._one(calendars), create=True)
            if event_id in mb.events:
                del mb.events[event_id]  # a master takes its occurrences and exceptions along
                return
            master, original = self._occurrence(mb, event_id)
            self.cancel_occurrence([mb.email], master.resource["id"], original, at=at)

    def cancel_occurrence(
        self, calendars: Iterable[str], event_id: str, original_start: datetime, *, at: datetime
    ) -> None:
        with self._lock:
            mb = self._mailbox(self._one(calendars), create=True)
            master = self._master(mb, event_id)
            original = original_start.astimezone(UTC)
            self._require_slot(master, original)
            master.exceptions.pop(original, None)
            master.cancelled.add(original)
            master.resource["cancelledOccurrences"] = self._cancelled_ids(master)
            self._touch(mb, master.resource, at)

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
            mb = self._mailbox(self._one(calendars), create=True)
            _check_zone(start.get("timeZone"))
            _check_zone(end.get("timeZone"))
            master = self._master(mb, event_id)
            original = original_start.astimezone(UTC)
            self._require_slot(master, original)
            exc = self._exception(mb, master, original)
            exc["start"], exc["end"] = copy.deepcopy(start), copy.deepcopy(end)
            self._save_exception(mb, master, original, exc, at)

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
            mb = self._mailbox(self._one(calendars), create=True)
            answer = {"response": _RESPONSES[response], "time": graph_offset(at)}
            if original_start is not None:
                master = self._master(mb, event_id)
                original = original_start.astimezone(UTC)
                self._require_slot(master, original)
                exc = self._exception(mb, master, original)
                self._answer(mb, exc, attendee, answer)
                self._save_exception(mb, master, original, exc, at)
                return
            held = mb.events.get(event_id)
            if held is None:
                raise graph_not_found()
            self._answer(mb, held.resource, attendee, answer)
            for exc in held.exceptions.values():  # answering the series answers its exceptions too
                self._answer(mb, exc, attendee, answer)
                self._touch(mb, exc, at)
            self._touch(mb, held.resource, at)

    # -- helpers -----------------------------------------------------------------
    def _touch(self, mb: Mailbox, res: dict[str, Any], at: datetime) -> None:
        self._serial += 1
        res["lastModifiedDateTime"] = graph_stamp(at)
        res["changeKey"] = change_key(mb.email, res["id"], self._serial)
        mb.touched[res["id"]] = self._serial

    @staticmethod
    def _shape(res: dict[str, Any], declared: str | None) -> None:
        """type, recurrence range defaults, zones: as Graph completes a new event."""
        for key in ("start", "end"):
            if not isinstance(res.get(key), dict) or "dateTime" not in res[key]:
                raise GraphApiError(400, "ErrorInvalidRequest", f"The event needs '{key}'.")
            _check_zone(res[key].get("timeZone"))
        res.setdefault("originalStartTimeZone", res["start"].get("timeZone") or "UTC")
        res.setdefault("originalEndTimeZone", res["end"].get("timeZone") or "UTC")
        recurrence = res.get("recurrence")
        if not recurrence:
            if declared == "seriesMaster":
                raise ScenarioError(f"{res.get('id')}: a seriesMaster needs a recurrence")
            res["recurrence"] = None
            res["type"] = "singleInstance"
            return
        if declared not in (None, "seriesMaster"):
            raise ScenarioError(f"{res.get('id')}: an event with a recurrence is a seriesMaster")
        res["type"] = "seriesMaster"
        rng = recurrence.setdefault("range", {"type": "noEnd"})
        rng.setdefault("recurrenceTimeZone", res["start"].get("timeZone") or "UTC")
        _check_zone(rng["recurrenceTimeZone"])
        if not rng.get("startDate"):
            local = graph_time(res["start"]).astimezone(shape_of(res).tz)
            rng["startDate"] = local.date().isoformat()

    def _master(self, mb: Mailbox, event_id: str) -> GraphEvent:
        held = mb.events.get(event_id)
        if held is None:
            raise graph_not_found()
        if held.resource.get("type") != "seriesMaster":
            raise ScenarioError(f"{event_id} is not a series master")
        return held

    def _occurrence(self, mb: Mailbox, item_id: str) -> tuple[GraphEvent, datetime]:
        if item_id not in mb.occurrences:
            raise graph_not_found()
        master_id, original = mb.occurrences[item_id]
        held = mb.events.get(master_id)
        if held is None or original in held.cancelled:
            raise graph_not_found()
        return held, original

    @staticmethod
    def _require_slot(master: GraphEvent, original: datetime) -> None:
        if original in master.cancelled:
            raise graph_not_found()
        if original not in master.exceptions and not shape_of(master.resource).has_slot(original):
            raise graph_not_found()

    def _exception(self, mb: Mailbox, master: GraphEvent, original: datetime) -> dict[str, Any]:
        if original in master.exceptions:
            return copy.deepcopy(master.exceptions[original])
        exc = materialize(mb, master.resource, original)
        exc["type"] = "exception"
        exc.pop("cancelledOccurrences", None)
        return exc

    def _save_exception(
        self, mb: Mailbox, master: GraphEvent, original: datetime, exc: dict[str, Any], at: datetime
    ) -> None:
        self._touch(mb, exc, at)
        master.exceptions[original] = exc
        master.resource["exceptionOccurrences"] = [e["id"] for e in master.exceptions.values()]
        self._touch(mb, master.resource, at)

    def _prune(self, master: GraphEvent) -> None:
        """A series shortened by an edit loses the exceptions and cancellations past its end."""
        end = shape_of(master.resource).ends_by()
        if end is None:
            return
        master.exceptions = {o: e for o, e in master.exceptions.items() if o <= end}
        master.cancelled = {o for o in master.cancelled if o <= end}
        master.resource["cancelledOccurrences"] = self._cancelled_ids(master)
        master.resource["exceptionOccurrences"] = [e["id"] for e in master.exceptions.values()]

    @staticmethod
    def _cancelled_ids(master: GraphEvent) -> list[str]:
        tz = shape_of(master.resource).tz
        return [f"OID.{master.resource['id']}.{o.astimezone(tz).date().isoformat()}" for o in sorted(master.cancelled)]

    @staticmethod
    def _answer(mb: Mailbox, res: dict[str, Any], attendee: str, answer: dict[str, str]) -> None:
        who = attendee.lower()
        found = False
        for person in res.get("attendees", []):
            if ((person.get("emailAddress") or {}).get("address") or "").lower() == who:
                person["status"] = dict(answer)
                found = True
        if who == mb.email and not res.get("isOrganizer"):
            res["responseStatus"] = dict(answer)  # the mailbox owner's own answer
            found = True
        if not found:
            raise ScenarioError(f"{attendee} is not an attendee of {res.get('id')}")
