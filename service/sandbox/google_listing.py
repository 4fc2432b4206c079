"""events.list for the fake Google Calendar: full listings bounded by timeMin,
incremental listings by syncToken, pages, and the errors Google gives.

Rules reproduced (see providers.md and the v3 reference):
- a page carries `nextPageToken` or, on the last page, `nextSyncToken`, never both;
- syncToken cannot be combined with timeMin/timeMax/updatedMin/q/orderBy/iCalUID/
  extended-property filters → 400 syncTokenWithRequestRestrictions;
- an incremental listing returns every event changed since the token, of any
  date, cancelled ones included whatever showDeleted says;
- an expired or unknown token → 410 fullSyncRequired;
- timeMin keeps events ending after it (a series if any instance may);
- showDeleted=false still returns cancelled instances of recurring events when
  singleEvents=false;
- maxResults is capped at 2500; a page may hold fewer items than asked (the
  `page_cap` knob makes that happen).
A listing is computed when its first page is asked for; later pages serve
that snapshot, and the sync token at its end points at the moment it was taken,
so changes made meanwhile come with the next increment."""

from __future__ import annotations

import base64
import copy
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from service.sandbox.errors import GoogleApiError
from service.sandbox.google_series import instance_suffix, series_of
from service.sandbox.timefmt import google_stamp, google_time, parse_instant

if TYPE_CHECKING:
    from service.sandbox.google_store import GoogleCalendar

MAX_RESULTS = 2500
KEPT_LISTINGS = 8  # per calendar (see GoogleListing)
_EXPANSION_DAYS = 730  # singleEvents without timeMax: how far instances go
_RESTRICTIONS = (
    "timeMin",
    "timeMax",
    "updatedMin",
    "q",
    "orderBy",
    "iCalUID",
    "privateExtendedProperty",
    "sharedExtendedProperty",
)


@dataclass
class _Run:
    calendar: str
    epoch: int
    params: tuple
    items: list[dict[str, Any]]
    next_sync_token: str


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def _decode(token: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def _bad(message: str, reason: str = "badRequest") -> GoogleApiError:
    return GoogleApiError(400, reason, message)


def _instant(value: str | datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError:
        raise _bad(f"Bad Request: {name} must be an RFC3339 timestamp with an offset") from None


class GoogleListing:
    """Mixin for GoogleStore: `list_events`."""

    _lock: Any
    _calendars: dict[str, GoogleCalendar]
    page_cap: int | None

    def __init__(self) -> None:
        # Listings in progress, by number; only a calendar's last few are kept (their
        # items are only needed to serve the next pages), so a long replay stays small.
        self._runs: dict[int, _Run] = {}
        self._run_count = 0
        self._recent_runs: dict[str, deque[int]] = {}
        self.page_cap = None  # knob: serve at most this many items per page

    def list_events(
        self,
        calendar: str,
        *,
        sync_token: str | None = None,
        page_token: str | None = None,
        time_min: str | datetime | None = None,
        time_max: str | datetime | None = None,
        updated_min: str | datetime | None = None,
        max_results: int | None = 250,
        show_deleted: bool = False,
        single_events: bool = False,
        order_by: str | None = None,
        q: str | None = None,
        i_cal_uid: str | None = None,
        private_extended_property: list[str] | None = None,
        shared_extended_property: list[str] | None = None,
    ) -> dict[str, Any]:
        """One page of events.list, shaped as Google returns it."""
        with self._lock:
            cal = self._calendar(calendar)  # type: ignore[attr-defined]
            size = MAX_RESULTS if max_results is None else int(max_results)
            if size < 1:
                raise GoogleApiError(400, "invalid", "Invalid value for maxResults")
            size = min(size, MAX_RESULTS, self.page_cap or MAX_RESULTS)
            given = {
                "timeMin": time_min,
                "timeMax": time_max,
                "updatedMin": updated_min,
                "q": q,
                "orderBy": order_by,
                "iCalUID": i_cal_uid,
                "privateExtendedProperty": private_extended_property,
                "sharedExtendedProperty": shared_extended_property,
            }
            params = (sync_token, *(str(given[k]) for k in _RESTRICTIONS), show_deleted, single_events)
            if page_token is not None:
                return self._next_page(cal, page_token, params, size)
            if order_by not in (None, "startTime", "updated"):
                raise GoogleApiError(400, "invalid", "Invalid value for orderBy")
            if order_by == "startTime" and not single_events:
                raise _bad("The requested ordering is not available for the particular query.")
            if sync_token is not None:
                if any(given[k] for k in _RESTRICTIONS):
                    raise GoogleApiError(
                        400,
                        "syncTokenWithRequestRestrictions",
                        "Sync token cannot be used with other request restrictions.",
                        domain="calendar",
                    )
                items = self._changed_since(cal, sync_token, single_events)
            else:
                items = self._full(
                    cal,
                    _instant(time_min, "timeMin"),
                    _instant(time_max, "timeMax"),
                    _instant(updated_min, "updatedMin"),
                    show_deleted,
                    single_events,
                    q,
                    i_cal_uid,
                )
            if order_by == "updated":
                items.sort(key=lambda r: r.get("updated", ""))
            elif order_by == "startTime":
                items.sort(key=lambda r: google_time(r.get("start") or r["originalStartTime"], cal.time_zone)[0])
            run = _Run(cal.email, cal.epoch, params, items, _encode(f"sync|{cal.email}|{cal.epoch}|{cal.counter}"))
            run_no = self._keep_run(cal.email, run)
            return self._page(cal, run_no, 0, size)

    def forget_listings(self, calendar: str) -> None:
        """Drop the listings kept for `calendar` (each holds its items to serve its
        next pages): their page tokens then answer 400 like unknown ones; sync
        tokens stay valid."""
        with self._lock:
            for run_no in self._recent_runs.pop(calendar.lower(), ()):
                self._runs.pop(run_no, None)

    def _keep_run(self, calendar: str, run: _Run) -> int:
        run_no, self._run_count = self._run_count, self._run_count + 1
        self._runs[run_no] = run
        recent = self._recent_runs.setdefault(calendar, deque())
        recent.append(run_no)
        while len(recent) > KEPT_LISTINGS:
            self._runs.pop(recent.popleft(), None)
        return run_no

    # -- pages -------------------------------------------------------------------
    def _page(self, cal: GoogleCalendar, run_no: int, offset: int, size: int) -> dict[str, Any]:
        run = self._runs[run_no]
        chunk = run.items[offset : offset + size]
        page: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"p{cal.counter:014d}"',
            "summary": cal.summary,
            "description": "",
            "updated": google_stamp(cal.updated) if cal.updated else "1970-01-01T00:00:00.000Z",
            "timeZone": cal.time_zone,
            "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}],
            "items": [copy.deepcopy(item) for item in chunk],
        }
        if offset + size < len(run.items):
            page["nextPageToken"] = _encode(f"page|{run_no}|{offset + size}")
        else:
            page["nextSyncToken"] = run.next_sync_token
        return page

    def _next_page(self, cal: GoogleCalendar, token: str, params: tuple, size: int) -> dict[str, Any]:
        parts = (_decode(token) or "").split("|")
        if len(parts) != 3 or parts[0] != "page" or not parts[1].isdigit() or not parts[2].isdigit():
            raise _bad("Invalid page token value.", "invalid")
        run_no, offset = int(parts[1]), int(parts[2])
        run = self._runs.get(run_no)
        if run is None or run.calendar != cal.email:
            raise _bad("Invalid page token value.", "invalid")
        if run.params != params:
            # Google wants the other parameters repeated unchanged with pageToken.
            raise _bad("Page token does not match the request parameters.", "invalid")
        if run.epoch != cal.epoch:
            raise _gone()
        return self._page(cal, run_no, offset, size)

    # -- incremental -------------------------------------------------------------
    def _changed_since(self, cal: GoogleCalendar, token: str, single_events: bool) -> list[dict[str, Any]]:
        parts = (_decode(token) or "").split("|")
        if (
            len(parts) != 4
            or parts[0] != "sync"
            or parts[1] != cal.email
            or not parts[2].isdigit()
            or not parts[3].isdigit()
            or int(parts[2]) != cal.epoch
        ):
            raise _gone()
        since = int(parts[3])
        changed = sorted((c for c in cal.events.values() if c.seq > since), key=lambda c: c.seq)
        out: list[dict[str, Any]] = []
        for held in changed:
            res = held.resource
            if single_events and res.get("recurrence"):
                out.extend(self._instances(cal, res, None, None, show_deleted=True))
            else:
                out.append(self._render(cal, res))  # type: ignore[attr-defined]
        return out

    # -- full --------------------------------------------------------------------
    def _full(
        self,
        cal: GoogleCalendar,
        time_min: datetime | None,
        time_max: datetime | None,
        updated_min: datetime | None,
        show_deleted: bool,
        single_events: bool,
        q: str | None,
        ical_uid: str | None,
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for held in cal.events.values():
            res = held.resource
            cancelled = res.get("status") == "cancelled"
            if updated_min is not None and parse_instant(res["updated"]) < updated_min:
                continue
            if ical_uid is not None and res.get("iCalUID") != ical_uid:
                continue
            if q and not _matches(res, q):
                continue
            if single_events and res.get("recurrence"):
                if not cancelled:
                    out.extend(self._instances(cal, res, time_min, time_max, show_deleted))
                continue
            if single_events and res.get("recurringEventId"):
                continue  # already placed by its series' expansion
            # Deleted events are hidden unless asked for; Google still returns
            # cancelled instances of series (singleEvents=false) and anything
            # deleted since updatedMin.
            if (
                cancelled
                and not show_deleted
                and updated_min is None
                and not (res.get("recurringEventId") and not single_events)
            ):
                continue
            if not self._in_window(cal, res, time_min, time_max):
                continue
            out.append(self._render(cal, res))  # type: ignore[attr-defined]
        return out

    def _in_window(self, cal: GoogleCalendar, res: dict, lo: datetime | None, hi: datetime | None) -> bool:
        if lo is None and hi is None:
            return True
        if res.get("recurrence"):
            series = series_of(res, cal.time_zone)
            first = series.first()
            if hi is not None and (first is None or series.instant(first, cal.time_zone) >= hi):
                return False
            return lo is None or series.ends_after(lo)
        if "start" in res:
            start, _ = google_time(res["start"], cal.time_zone)
            end, _ = google_time(res["end"], cal.time_zone)
        else:  # a cancelled instance: judge it by its original slot
            start, _ = google_time(res["originalStartTime"], cal.time_zone)
            master = cal.events.get(res.get("recurringEventId", ""))
            length = timedelta(0)
            if master is not None and "start" in master.resource:
                length = (
                    google_time(master.resource["end"], cal.time_zone)[0]
                    - google_time(master.resource["start"], cal.time_zone)[0]
                )
            end = start + length
        return (lo is None or end > lo) and (hi is None or start < hi)

    def _instances(
        self, cal: GoogleCalendar, master: dict, lo: datetime | None, hi: datetime | None, show_deleted: bool
    ) -> list[dict[str, Any]]:
        """singleEvents=true: the series' instances in [lo, hi), exceptions in place."""
        series = series_of(master, cal.time_zone)
        start_at = series.instant(series.dtstart, cal.time_zone)
        lo = lo or start_at
        hi = hi or max(lo, start_at) + timedelta(days=_EXPANSION_DAYS)
        out: list[dict[str, Any]] = []
        for slot in series.between(lo, hi):
            instance_id = f"{master['id']}_{instance_suffix(slot, series.all_day)}"
            held = cal.events.get(instance_id)
            if held is None:
                res = self._materialize(master, series, slot, instance_id)  # type: ignore[attr-defined]
            else:
                res = held.resource
                if res.get("status") == "cancelled" and not show_deleted:
                    continue
            out.append(self._render(cal, res))  # type: ignore[attr-defined]
        return out


def _gone() -> GoogleApiError:
    return GoogleApiError(
        410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required.", domain="calendar"
    )


def _matches(res: dict, q: str) -> bool:
    needle = q.lower()
    hay = [
        res.get("summary", ""),
        res.get("description", ""),
        res.get("location", ""),
        (res.get("organizer") or {}).get("email", ""),
    ]
    hay += [a.get("email", "") for a in res.get("attendees", [])]
    hay += [a.get("displayName", "") for a in res.get("attendees", [])]
    return any(needle in (h or "").lower() for h in hay)


__all__ = ["GoogleListing", "MAX_RESULTS"]
