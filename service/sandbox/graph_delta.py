"""Reading a fake Graph mailbox: GET /events/{id} and calendarView/delta.

calendarView delta as Graph does it:
- the first request fixes the window (startDateTime/endDateTime); the links it
  hands out carry only tokens, and a window given again later is ignored;
- items are instances (singleInstance, occurrence, exception), never masters;
  occurrences may be stubs (id, type, seriesMasterId, originalStart, start,
  end) whose details live on the master;
- a round's pages carry `@odata.nextLink` ($skiptoken); its last page carries
  `@odata.deltaLink` ($deltatoken); a later round returns what changed since:
  new or changed items, and `{"id", "@removed": {"reason": "deleted"}}` for
  items gone, and for items that moved out of the window;
- a later round also sends `@removed` (reason "deleted") for instances outside
  the window of events added or updated since (up to `out_of_window_span`
  beyond each end: a series edit names its past and future occurrences), as
  Graph's event: delta documentation warns; clients must filter removals by
  date and must not take them for deletions of what they keep;
- when the master changes, every occurrence in the window comes again;
- start/end are in UTC unless `Prefer: outlook.timezone` names a zone (all-day
  items keep their floating midnights);
- an invalidated token answers 410 syncStateNotFound."""

from __future__ import annotations

import base64
import copy
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from service.sandbox.errors import GraphApiError, graph_not_found
from service.sandbox.graph_view import (
    Instance,
    Mailbox,
    instance_exists,
    materialize,
    render,
    stub,
    view,
)
from service.sandbox.timefmt import parse_instant
from service.sandbox.zones import UnknownTimeZone, to_iana

if TYPE_CHECKING:
    from service.sandbox.graph_view import GraphEvent

MAX_PAGE_SIZE = 1000
KEPT_ROUNDS = 8  # per mailbox (see GraphDelta)
OUT_OF_WINDOW_SPAN = timedelta(days=366)  # how far past the window a changed series' removals reach


@dataclass
class _DeltaState:
    mailbox: str
    epoch: int
    lo: datetime
    hi: datetime
    fingerprints: dict[str, tuple]
    serial: int  # the store's change serial when the round was taken


@dataclass
class _Round:
    mailbox: str
    epoch: int
    entries: list[dict[str, Any]]  # {"removed": reason} or {"item": Instance, "resource": dict|None}
    delta_no: int
    page_size: int


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def _decode(token: str) -> list[str]:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        return []


def _gone() -> GraphApiError:
    return GraphApiError(
        410, "syncStateNotFound", "The sync state generation is not found or has expired. Resync required."
    )


class GraphDelta:
    """Mixin for GraphStore: `get_event`, `calendar_view_delta`."""

    _lock: Any
    _mailboxes: dict[str, Mailbox]

    def __init__(self, *, base_url: str, stub_occurrences: bool, default_page_size: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.stub_occurrences = stub_occurrences  # knob: occurrences come as stubs
        self.default_page_size = default_page_size
        self.out_of_window_span = OUT_OF_WINDOW_SPAN  # knob: timedelta(0) sends no out-of-window removals
        # Rounds and the delta states they end in, by number. Only a mailbox's last few
        # are kept: an older token answers 410 (Graph also lets delta tokens expire),
        # and a long replay stays small.
        self._states: dict[int, _DeltaState] = {}
        self._rounds: dict[int, _Round] = {}
        self._round_count = 0
        self._recent: dict[str, deque[int]] = {}

    def invalidate_delta_tokens(self, mailbox: str) -> None:
        """Knob: every delta/skip token issued so far for `mailbox` now answers 410."""
        with self._lock:
            self._mailbox(mailbox).epoch += 1  # type: ignore[attr-defined]

    # -- GET /users/{id}/events/{id} --------------------------------------------
    def get_event(
        self,
        mailbox: str,
        event_id: str,
        *,
        prefer_timezone: str | None = None,
        prefer_utc: bool = False,
        select: list[str] | None = None,
    ) -> dict[str, Any]:
        """A master, single event, exception or occurrence, in full."""
        with self._lock:
            mb = self._mailbox(mailbox)  # type: ignore[attr-defined]
            label = self._label(prefer_timezone, prefer_utc)
            held = mb.events.get(event_id)
            if held is not None:
                return render(held.resource, label, select)
            if event_id not in mb.occurrences or not instance_exists(mb, event_id):
                raise graph_not_found()
            master_id, original = mb.occurrences[event_id]
            master: GraphEvent = mb.events[master_id]
            resource = master.exceptions.get(original) or materialize(mb, master.resource, original)
            return render(resource, label, select)

    # -- GET /users/{id}/calendarView/delta ---------------------------------------
    def calendar_view_delta(
        self,
        mailbox: str,
        *,
        start: str | datetime | None = None,
        end: str | datetime | None = None,
        delta_token: str | None = None,
        skip_token: str | None = None,
        max_page_size: int | None = None,
        prefer_timezone: str | None = None,
        prefer_utc: bool = False,
        segment: str | None = None,
    ) -> dict[str, Any]:
        """One page of calendarView delta, shaped as Graph returns it. `segment`: how
        the request named the mailbox (`users/{id or address}`, `me`): the links
        handed out name it the same way."""
        with self._lock:
            mb = self._mailbox(mailbox)  # type: ignore[attr-defined]
            label = self._label(prefer_timezone, prefer_utc)
            size = min(max(int(max_page_size or self.default_page_size), 1), MAX_PAGE_SIZE)
            if skip_token is not None:
                parts = _decode(skip_token)
                if (
                    len(parts) != 4
                    or parts[0] != "skip"
                    or parts[1] != mb.email
                    or not parts[2].isdigit()
                    or not parts[3].isdigit()
                ):
                    raise _gone()
                round_no, offset = int(parts[2]), int(parts[3])
                if round_no not in self._rounds or self._rounds[round_no].epoch != mb.epoch:
                    raise _gone()
                return self._page(mb, round_no, offset, max_page_size and size, label, segment)
            if delta_token is not None:
                parts = _decode(delta_token)
                if len(parts) != 3 or parts[0] != "delta" or parts[1] != mb.email or not parts[2].isdigit():
                    raise _gone()
                state_no = int(parts[2])
                if state_no not in self._states or self._states[state_no].epoch != mb.epoch:
                    raise _gone()
                old = self._states[state_no]
                lo, hi, before, since = old.lo, old.hi, old.fingerprints, old.serial  # the first request's window
            else:
                if start is None or end is None:
                    raise GraphApiError(
                        400,
                        "ErrorInvalidParameter",
                        "This request requires a time window specified by the query string "
                        "parameters StartDateTime and EndDateTime.",
                    )
                lo, hi, before, since = parse_instant(start), parse_instant(end), {}, None
                if hi <= lo:
                    raise GraphApiError(400, "ErrorInvalidParameter", "EndDateTime must be after StartDateTime.")
            current = view(mb, lo, hi)
            entries: list[dict[str, Any]] = []
            for item in current:
                if before.get(item.id) != item.fingerprint:
                    entries.append({"item": item, "resource": self._snapshot(mb, item)})
            now_ids = {item.id for item in current}
            removed = [gone for gone in before if gone not in now_ids]  # deleted, or moved out of the window
            if since is not None:
                removed += [i for i in self._changed_outside(mb, since, lo, hi) if i not in now_ids]
            entries += [{"removed": "deleted", "id": gone} for gone in dict.fromkeys(removed)]
            number, self._round_count = self._round_count, self._round_count + 1
            self._states[number] = _DeltaState(
                mb.email,
                mb.epoch,
                lo,
                hi,
                {item.id: item.fingerprint for item in current},
                self._serial,  # type: ignore[attr-defined]
            )
            self._rounds[number] = _Round(mb.email, mb.epoch, entries, number, size)
            recent = self._recent.setdefault(mb.email, deque())
            recent.append(number)
            while len(recent) > KEPT_ROUNDS:
                old_number = recent.popleft()
                del self._states[old_number], self._rounds[old_number]
            return self._page(mb, number, 0, size, label, segment)

    # -- helpers -------------------------------------------------------------------
    def _changed_outside(self, mb: Mailbox, since: int, lo: datetime, hi: datetime) -> list[str]:
        """Instances outside [lo, hi) (within the span) of the events added or updated
        after change serial `since`."""
        span = self.out_of_window_span
        if not span:
            return []
        out: list[str] = []
        for event_id, serial in mb.touched.items():
            held = mb.events.get(event_id)
            if serial <= since or held is None:
                continue
            if held.resource.get("type") != "seriesMaster":
                out.append(event_id)  # in the window, the caller drops it: it is listed
                continue
            for a, b in ((lo - span, lo), (hi, hi + span)):
                out += [i.id for i in held.occurrences_in(mb, event_id, a, b)]
            out += [exc["id"] for exc in held.exceptions.values()]
        return out

    @staticmethod
    def _label(prefer_timezone: str | None, prefer_utc: bool) -> str:
        label = "UTC" if prefer_utc or not prefer_timezone else prefer_timezone
        try:
            to_iana(label)
        except UnknownTimeZone:
            raise GraphApiError(
                400, "TimeZoneNotSupportedException", f"The following TimeZone value is not supported: '{label}'."
            ) from None
        return label

    def _snapshot(self, mb: Mailbox, item: Instance) -> dict[str, Any] | None:
        """The item's full resource as it is now (None: an occurrence sent as a stub)."""
        if item.type == "singleInstance":
            return copy.deepcopy(mb.events[item.id].resource)
        master = mb.events[item.master_id or ""]
        if item.type == "exception":
            return copy.deepcopy(master.exceptions[item.original_start])  # type: ignore[index]
        if self.stub_occurrences:
            return None
        return materialize(mb, master.resource, item.original_start)  # type: ignore[arg-type]

    def _page(
        self, mb: Mailbox, round_no: int, offset: int, size: int | None, label: str, segment: str | None = None
    ) -> dict[str, Any]:
        run = self._rounds[round_no]
        size = size or run.page_size
        chunk = run.entries[offset : offset + size]
        values: list[dict[str, Any]] = []
        for entry in chunk:
            if "removed" in entry:
                values.append(
                    {
                        "@odata.type": "#microsoft.graph.event",
                        "id": entry["id"],
                        "@removed": {"reason": entry["removed"]},
                    }
                )
            elif entry["resource"] is None:
                values.append(stub(entry["item"], label))
            else:
                values.append({"@odata.type": "#microsoft.graph.event", **render(entry["resource"], label)})
        base = f"{self.base_url}/{segment or 'users/' + quote(mb.email)}/calendarView/delta"
        page: dict[str, Any] = {"@odata.context": f"{self.base_url}/$metadata#Collection(event)", "value": values}
        if offset + size < len(run.entries):
            token = _encode(f"skip|{mb.email}|{round_no}|{offset + size}")
            page["@odata.nextLink"] = f"{base}?$skiptoken={quote(token, safe='')}"
        else:
            token = _encode(f"delta|{mb.email}|{run.delta_no}")
            page["@odata.deltaLink"] = f"{base}?$deltatoken={quote(token, safe='')}"
        return page
