"""Test helper: a scenario turned into the CalendarHistory the detector reads,
the way the real sync engine will build it, but in-process and synchronous.

Only the stores' provider APIs are used (Google events.list with sync tokens,
Graph calendarView delta with delta links and GET of series masters); timeline
ops are applied to the stores and never read into the history directly.

    history, people, policies, now = history_from_scenario(path)
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from service.domain.events import CalendarHistory, EventChange, EventSnapshot, OrgPerson, Policy
from service.sandbox.errors import GoogleApiError, GraphApiError
from service.sandbox.google_store import GoogleStore
from service.sandbox.graph_store import GraphStore
from service.sandbox.scenario import Scenario, apply_op, build_stores, load_scenario
from service.sync.providers.google.normalize import normalize_google_event
from service.sync.providers.microsoft.normalize import normalize_graph_event

LOOKBACK = timedelta(days=120)
LOOKAHEAD = timedelta(days=400)
_EPOCH = datetime(1970, 1, 1)


def _link_param(link: str, name: str) -> str:
    return parse_qs(urlsplit(link).query)[name][0]


class Puller:
    """Keeps one cursor per calendar and turns what each pull returns into
    EventChanges. A change whose snapshot equals the last one seen for its key
    (apart from `updated`) is not recorded again: Graph resends every
    occurrence of a series whenever its master changes."""

    def __init__(self, scenario: Scenario, google: GoogleStore, graph: GraphStore) -> None:
        self.scenario = scenario
        self.google = google
        self.graph = graph
        self.history = CalendarHistory()
        self._google_tokens: dict[str, str] = {}
        self._graph_tokens: dict[str, str] = {}
        self._last: dict[tuple[str, str], EventSnapshot | None] = {}
        self._parent: dict[tuple[str, str], str] = {}  # Graph instance → its series master

    # -- recording -------------------------------------------------------------
    def _record(self, calendar: str, event_id: str, at: datetime, snapshot: EventSnapshot | None) -> None:
        key = (calendar, event_id)
        previous = self._last.get(key, "unseen")
        if snapshot is None:
            if previous is None or previous == "unseen":
                return
        elif isinstance(previous, EventSnapshot) and (
            dataclasses.replace(previous, updated=_EPOCH) == dataclasses.replace(snapshot, updated=_EPOCH)
        ):
            return
        self._last[key] = snapshot
        self.history.add(EventChange(calendar, event_id, at, snapshot))

    # -- Google ------------------------------------------------------------------
    def pull_google(self, calendar: str, observed: datetime) -> None:
        token = self._google_tokens.get(calendar)
        params: dict[str, Any] = (
            {"sync_token": token} if token else {"time_min": self.scenario.start - LOOKBACK, "show_deleted": True}
        )
        try:
            page = self.google.list_events(calendar, single_events=False, max_results=250, **params)
        except GoogleApiError as err:
            if err.status != 410:
                raise
            self._google_tokens.pop(calendar, None)  # fullSyncRequired: start over
            return self.pull_google(calendar, observed)
        while True:
            for item in page["items"]:
                snap = normalize_google_event(
                    calendar, item, calendar_time_zone=page.get("timeZone"), observed_at=observed
                )
                self._record(calendar, snap.event_id, snap.updated, snap)
            if "nextPageToken" not in page:
                self._google_tokens[calendar] = page["nextSyncToken"]
                return
            page = self.google.list_events(
                calendar, single_events=False, max_results=250, page_token=page["nextPageToken"], **params
            )

    # -- Graph -------------------------------------------------------------------
    def pull_graph(self, mailbox: str, observed: datetime) -> None:
        token = self._graph_tokens.get(mailbox)
        try:
            if token:
                page = self.graph.calendar_view_delta(mailbox, delta_token=token, prefer_utc=True)
            else:
                page = self.graph.calendar_view_delta(
                    mailbox, start=self.scenario.start - LOOKBACK, end=self.scenario.now + LOOKAHEAD, prefer_utc=True
                )
        except GraphApiError as err:
            if err.status != 410:
                raise
            self._graph_tokens.pop(mailbox, None)
            return self.pull_graph(mailbox, observed)
        masters: dict[str, dict[str, Any] | None] = {}
        while True:
            for item in page["value"]:
                self._graph_item(mailbox, item, observed, masters)
            if "@odata.nextLink" in page:
                page = self.graph.calendar_view_delta(
                    mailbox, skip_token=_link_param(page["@odata.nextLink"], "$skiptoken"), prefer_utc=True
                )
                continue
            self._graph_tokens[mailbox] = _link_param(page["@odata.deltaLink"], "$deltatoken")
            return

    def _master(
        self, mailbox: str, master_id: str, masters: dict[str, dict[str, Any] | None], observed: datetime
    ) -> dict[str, Any] | None:
        if master_id not in masters:
            try:
                masters[master_id] = self.graph.get_event(mailbox, master_id, prefer_utc=True)
            except GraphApiError as err:
                if err.status != 404:
                    raise
                masters[master_id] = None
            master = masters[master_id]
            if master is None:
                self._record(mailbox, master_id, observed, None)
            else:
                snap = normalize_graph_event(mailbox, master, observed_at=observed)
                self._record(mailbox, master_id, snap.updated, snap)
        return masters[master_id]

    def _graph_item(
        self, mailbox: str, item: dict[str, Any], observed: datetime, masters: dict[str, dict[str, Any] | None]
    ) -> None:
        if "@removed" in item:
            self._record(mailbox, item["id"], observed, None)
            parent = self._parent.get((mailbox, item["id"]))
            if parent is not None:
                self._master(mailbox, parent, masters, observed)  # records the master's removal if it is gone
            return
        master = None
        if item.get("seriesMasterId"):
            self._parent[(mailbox, item["id"])] = item["seriesMasterId"]
            master = self._master(mailbox, item["seriesMasterId"], masters, observed)
            if master is None:
                return
        snap = normalize_graph_event(mailbox, item, master, observed_at=observed)
        self._record(mailbox, snap.event_id, snap.updated, snap)

    # -- driving -------------------------------------------------------------------
    def pull(self, provider: str, calendar: str, observed: datetime) -> None:
        if provider == "google":
            self.pull_google(calendar, observed)
        else:
            self.pull_graph(calendar, observed)


def replay(scenario: Scenario, google: GoogleStore, graph: GraphStore) -> Puller:
    """Initial full sync at `start`, then each op applied at its `at` and the
    calendars it touched pulled at once."""
    puller = Puller(scenario, google, graph)
    synced = {p["email"].lower(): p["provider"] for p in scenario.people}
    for email, provider in synced.items():
        puller.pull(provider, email, scenario.start)
    for op in scenario.timeline:
        apply_op(google, graph, op)
        at = datetime.fromisoformat(op["at"])
        for email in op["calendars"]:
            if synced.get(email.lower()) == op["provider"]:
                puller.pull(op["provider"], email.lower(), at)
    return puller


def history_from_scenario(path: str | Path) -> tuple[CalendarHistory, list[OrgPerson], list[Policy], datetime]:
    scenario = load_scenario(path)
    google, graph = build_stores(scenario)
    puller = replay(scenario, google, graph)
    people = [
        OrgPerson(
            email=p["email"].lower(),
            manager=p["manager"].lower() if p.get("manager") else None,
            timezone=p.get("timezone") or "UTC",
            name=p.get("name") or "",
        )
        for p in scenario.people
    ]
    policies = [
        Policy(manager=p["manager"].lower(), report=p["report"].lower(), cadence_days=int(p["cadence_days"]))
        for p in scenario.policies
    ]
    return puller.history, people, policies, scenario.now
