"""Microsoft Graph v1.0 adapter for the CalendarProvider port.

Reading is calendarView delta (see /shared/providers.md):
- no cursor: a baseline over the window, `GET /users/{id}/calendarView/delta
  ?startDateTime&endDateTime`, following `@odata.nextLink` to the
  `@odata.deltaLink`; the ChangeSet carries `baseline=window` because a
  baseline is complete for its window;
- a cursor (opaque to the caller) is the deltaLink with the window its round
  was taken over: GET the link, follow nextLinks. Links must point at our
  Graph endpoint (the bearer token goes with them); one that does not, or a
  cursor without its window (stored before windows were kept), is treated
  as an expired cursor: a new baseline;
- items are instances only. `@removed` → `removed`, relative to the round's
  window (`removed_window`): Graph also reports events outside the window
  that were added or updated, and events that moved out of it, as
  "deleted", so the engine counts a removal only for an event it keeps
  inside that window and that Graph confirms gone. Any occurrence or
  exception has its series master fetched once per call (stubs lack subject
  and attendees; exceptions need the master's iCalendar UID), and the master
  is upserted too: the delta never returns masters, and this is how a series'
  recurrence reaches the store;
- times are asked for in UTC (`Prefer: outlook.timezone="UTC"`); the zone an
  event was scheduled in comes from originalStartTimeZone / the recurrence
  (service.sync.providers.microsoft.normalize does the mapping).

Mailboxes are named by what cannot change: a person's own (delegated) grant
reads `/me` (whoever they are called now); an org grant reads
`/users/{object id}`, the id resolved once at a baseline with
`GET /users/{address}?$select=id,mail,userPrincipalName` (User.Read.All or
User.ReadBasic.All) and handed back in `ChangeSet.provider_user_id` for the
engine to store. An app that may not read the directory keeps addressing the
mailbox by its address (logged, tried again at the next baseline).

Pushing is Graph subscriptions on `/users/{id}/events`; Graph validates the
notification URL itself while creating (or renewing) one. A
reauthorizationRequired challenge is answered with
`POST /subscriptions/{id}/reauthorize`, which keeps the subscription.

Tokens: service.sync.providers.microsoft.auth; HTTP, retries and error mapping:
service.sync.providers.microsoft.http."""

from __future__ import annotations

import asyncio
import json
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from service.clock import Clock
from service.domain.events import EventSnapshot
from service.settings import Settings
from service.sync.port import (
    MAX_LISTED_EVENTS,
    MAX_LISTED_PAGES,
    UNLIMITED,
    CalendarRef,
    CallBudget,
    ChangeSet,
    Channel,
    FullResyncRequired,
    ListingBounds,
    ProviderError,
    SyncWindow,
)
from service.sync.providers.microsoft.auth import GraphTokens, RefreshTokenHook
from service.sync.providers.microsoft.http import GraphHttp, Sleep, error_code, graph_instant
from service.sync.providers.microsoft.normalize import GraphEventError, normalize_graph_event

log = structlog.get_logger(__name__)

UTC = UTC
PREFER_UTC = 'outlook.timezone="UTC"'
# What normalize_microsoft reads; cancelledOccurrences (→ EXDATE) is served only when selected.
EVENT_SELECT = ",".join(
    (
        "id",
        "type",
        "subject",
        "start",
        "end",
        "isAllDay",
        "isCancelled",
        "showAs",
        "sensitivity",
        "responseStatus",
        "attendees",
        "organizer",
        "iCalUId",
        "recurrence",
        "seriesMasterId",
        "originalStart",
        "originalStartTimeZone",
        "originalEndTimeZone",
        "lastModifiedDateTime",
        "changeKey",
        "cancelledOccurrences",
    )
)
_INSTANCE_TYPES = ("occurrence", "exception")
_NOT_FOUND = "ErrorItemNotFound"
# Asked of calendarView delta (Graph may send fewer). An increment after a series edit also
# names the series' instances outside the window as removed (see the module doc): with pages
# of 100 that took a second round trip for a single change.
PAGE_SIZE = 500
MAX_CLIENT_STATE = 128
USER_SELECT = "id,mail,userPrincipalName"
_OBJECT_ID = re.compile(r"[A-Za-z0-9-]{1,64}")  # Entra object ids are GUIDs


class _Increment:
    """What one fetch_changes call has seen, last word per id winning."""

    def __init__(self) -> None:
        self.upserts: dict[str, EventSnapshot] = {}
        self.removed: dict[str, None] = {}  # ordered set
        self.masters: dict[str, dict[str, Any] | None] = {}  # fetched this call; None: gone

    def upsert(self, snapshot: EventSnapshot) -> None:
        self.removed.pop(snapshot.event_id, None)
        self.upserts[snapshot.event_id] = snapshot

    def remove(self, event_id: str) -> None:
        self.upserts.pop(event_id, None)
        self.removed[event_id] = None


class GraphCalendarProvider:
    """CalendarProvider for Microsoft Graph. One instance per process: it owns
    the shared HTTP client and the MSAL applications (call `aclose()`)."""

    name = "microsoft"
    windowed = True  # a delta cursor covers only its baseline's window: the engine re-baselines

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        msal_http_client: Any = None,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        page_size: int = PAGE_SIZE,
        max_retries: int = 3,
        max_wait: float = 30.0,
        on_refresh_token: RefreshTokenHook | None = None,
        budget: CallBudget = UNLIMITED,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self.page_size = page_size
        self.listing_limits = (MAX_LISTED_EVENTS, MAX_LISTED_PAGES)  # (events, pages): see ListingBounds
        self.tokens = GraphTokens(
            settings.microsoft, clock=clock, http_client=msal_http_client, on_refresh_token=on_refresh_token
        )
        # Object ids resolved by this process, by calendar: until the engine has stored
        # one (committed with the baseline that learnt it), the next calls still use it.
        self._user_ids: dict[int, str] = {}
        self.http = GraphHttp(
            settings.microsoft.graph_endpoint,
            self.tokens,
            clock=clock,
            client=client,
            sleep=sleep,
            rng=rng,
            max_retries=max_retries,
            max_wait=max_wait,
            budget=budget,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- reading -----------------------------------------------------------------------------
    async def fetch_changes(self, calendar: CalendarRef, cursor: str | None, window: SyncWindow) -> ChangeSet:
        prefer = (f"odata.maxpagesize={self.page_size}", PREFER_UTC)
        learnt = None
        if cursor is None and calendar.connection_kind == "org" and not calendar.provider_user_id:
            learnt = await self._resolve_user_id(calendar)
        if cursor is None:
            url = self.http.url(f"{self._mailbox(calendar)}/calendarView/delta")
            params: dict[str, str] | None = {
                "startDateTime": graph_instant(window.start),
                "endDateTime": graph_instant(window.end),
            }
        else:
            url, window = _parse_cursor(cursor)
            if not self.http.owns(url):
                # e.g. graph_endpoint was reconfigured: re-baseline rather than send the token elsewhere.
                raise FullResyncRequired("delta cursor does not belong to the configured Graph endpoint")
            params = None
        seen = _Increment()
        observed = self._clock.now()
        bounds = ListingBounds("graph calendarView.delta", *self.listing_limits)
        while True:
            page = await self.http.json(calendar, "GET", url, op="calendarView.delta", params=params, prefer=prefer)
            items = page.get("value") or []
            link = page.get("@odata.nextLink")
            bounds.page(len(items), link)
            for item in items:
                await self._absorb(calendar, item, seen, observed)
            if link:
                if not self.http.owns(link):
                    raise ProviderError("calendarView.delta: nextLink outside the Graph endpoint", transient=False)
                url, params = link, None
                continue
            delta = page.get("@odata.deltaLink")
            if not delta or not self.http.owns(delta):
                raise ProviderError("calendarView.delta: round ended without a usable deltaLink")
            break
        log.info(
            "graph.delta",
            calendar_id=calendar.calendar_id,
            baseline=cursor is None,
            pages=bounds.pages,
            upserts=len(seen.upserts),
            removed=len(seen.removed),
            masters=len(seen.masters),
        )
        return ChangeSet(
            upserts=list(seen.upserts.values()),
            removed=list(seen.removed),
            cursor=_cursor(delta, window),
            baseline=window if cursor is None else None,
            removed_window=window,
            provider_user_id=learnt,
        )

    def _mailbox(self, calendar: CalendarRef) -> str:
        """How paths name the calendar's mailbox (see the module doc)."""
        if calendar.connection_kind == "user":
            return "me"
        user = calendar.provider_user_id or self._user_ids.get(calendar.calendar_id) or calendar.external_id
        return f"users/{quote(user, safe='@')}"

    async def _resolve_user_id(self, calendar: CalendarRef) -> str | None:
        """The org calendar's Entra object id, from its address; None when the app
        may not read the directory (403): the address is used meanwhile. An address
        naming nobody is AuthorizationFailed(user_not_found)."""
        url = self.http.url(f"users/{quote(calendar.external_id, safe='@')}")
        response = await self.http.request(
            calendar, "GET", url, op="users.get", params={"$select": USER_SELECT}, accept=(403,)
        )
        if response.status_code == 403:
            log.warning("graph.user_id_unavailable", calendar_id=calendar.calendar_id, error=error_code(response))
            return None
        try:
            user_id = response.json().get("id")
        except (ValueError, AttributeError):
            user_id = None
        if not isinstance(user_id, str) or not _OBJECT_ID.fullmatch(user_id):
            raise ProviderError("users.get: Graph answered without a user id")
        self._user_ids[calendar.calendar_id] = user_id
        log.info("graph.user_id_resolved", calendar_id=calendar.calendar_id)
        return user_id

    async def _absorb(self, calendar: CalendarRef, item: dict[str, Any], seen: _Increment, observed: datetime) -> None:
        event_id = item.get("id")
        if not event_id:
            return
        if "@removed" in item:
            seen.remove(event_id)
            return
        master = None
        master_id = item.get("seriesMasterId")
        if master_id and item.get("type") in _INSTANCE_TYPES:
            master = await self._master(calendar, master_id, seen, observed)
            if master is None:
                seen.remove(event_id)  # the series went away between the delta page and now
                return
        snapshot = self._normalize(calendar, item, master, observed)
        if snapshot is not None:
            seen.upsert(snapshot)

    async def _master(
        self, calendar: CalendarRef, master_id: str, seen: _Increment, observed: datetime
    ) -> dict[str, Any] | None:
        if master_id in seen.masters:
            return seen.masters[master_id]
        master = await self._get_resource(calendar, master_id, op="events.get(master)")
        seen.masters[master_id] = master
        if master is None:
            seen.remove(master_id)
        else:
            snapshot = self._normalize(calendar, master, None, observed)
            if snapshot is not None:
                seen.upsert(snapshot)
        return master

    async def get_event(self, calendar: CalendarRef, event_id: str) -> EventSnapshot | None:
        resource = await self._get_resource(calendar, event_id, op="events.get")
        if resource is None:
            return None
        master = None
        master_id = resource.get("seriesMasterId")
        if master_id and resource.get("type") in _INSTANCE_TYPES:
            master = await self._get_resource(calendar, master_id, op="events.get(master)")
            if master is None:
                return None  # an instance without its series no longer exists
        snapshot = self._normalize(calendar, resource, master, self._clock.now())
        if snapshot is None:
            raise ProviderError("events.get: Graph returned an unreadable event", transient=False)
        return snapshot

    async def _get_resource(self, calendar: CalendarRef, event_id: str, *, op: str) -> dict[str, Any] | None:
        url = self.http.url(f"{self._mailbox(calendar)}/events/{quote(event_id, safe='')}")
        response = await self.http.request(
            calendar, "GET", url, op=op, params={"$select": EVENT_SELECT}, prefer=(PREFER_UTC,), accept=(404,)
        )
        if response.status_code == 404:
            if error_code(response) == _NOT_FOUND:
                return None
            raise self.http.error(response, op, calendar)  # e.g. ErrorInvalidUser: the mailbox, not the event
        body = response.json()
        if not isinstance(body, dict):
            raise ProviderError(f"{op}: Graph answered an unexpected body")
        return body

    def _normalize(
        self, calendar: CalendarRef, resource: dict[str, Any], master: dict[str, Any] | None, observed: datetime
    ) -> EventSnapshot | None:
        try:
            return normalize_graph_event(
                calendar.email, resource, master, observed_at=observed, mailbox_time_zone=calendar.time_zone
            )
        except (GraphEventError, ValueError, KeyError) as exc:
            # One unreadable item must not stall the whole calendar; it is logged, not guessed at.
            log.warning(
                "graph.event_skipped",
                calendar_id=calendar.calendar_id,
                event_id=resource.get("id"),
                error=type(exc).__name__,
            )
            return None

    # -- change notifications ----------------------------------------------------------------
    def _expiry(self, ttl_seconds: int) -> datetime:
        longest = self._settings.sync.graph_subscription_minutes * 60
        return self._clock.now() + timedelta(seconds=max(1, min(ttl_seconds, longest)))

    async def watch(
        self, calendar: CalendarRef, address: str, lifecycle_address: str, secret: str, ttl_seconds: int
    ) -> Channel:
        if not secret or len(secret) > MAX_CLIENT_STATE:
            raise ValueError(f"clientState must be 1..{MAX_CLIENT_STATE} characters")
        body = {
            "changeType": "created,updated,deleted",
            "notificationUrl": address,
            "lifecycleNotificationUrl": lifecycle_address,
            "resource": f"/{self._mailbox(calendar)}/events",
            "expirationDateTime": graph_instant(self._expiry(ttl_seconds)),
            "clientState": secret,
        }
        try:
            data = await self.http.json(
                calendar, "POST", self.http.url("subscriptions"), op="subscriptions.create", json=body
            )
        except ProviderError as exc:
            if exc.status == 400:
                # Mostly a failed validation handshake: our receiver was unreachable or slow.
                raise ProviderError(str(exc), status=400, transient=True) from None
            raise
        channel = _channel(data, None)
        log.info(
            "graph.subscribed",
            calendar_id=calendar.calendar_id,
            channel_id=channel.channel_id,
            expires_at=channel.expires_at.isoformat(),
        )
        return channel

    async def renew(self, calendar: CalendarRef, channel: Channel, ttl_seconds: int) -> Channel | None:
        url = self.http.url(f"subscriptions/{quote(channel.channel_id, safe='')}")
        response = await self.http.request(
            calendar,
            "PATCH",
            url,
            op="subscriptions.renew",
            json={"expirationDateTime": graph_instant(self._expiry(ttl_seconds))},
            accept=(404,),
        )
        if response.status_code == 404:
            log.info("graph.subscription_gone", calendar_id=calendar.calendar_id, channel_id=channel.channel_id)
            return None  # expired or removed by Graph: the caller creates a new one
        renewed = _channel(response.json(), channel.resource_id)
        log.info(
            "graph.renewed",
            calendar_id=calendar.calendar_id,
            channel_id=renewed.channel_id,
            expires_at=renewed.expires_at.isoformat(),
        )
        return renewed

    async def reauthorize(self, calendar: CalendarRef, channel: Channel) -> Channel | None:
        """Answer a reauthorizationRequired challenge: Graph keeps the subscription
        (no new one, so none leaks) and sends its notifications on."""
        url = self.http.url(f"subscriptions/{quote(channel.channel_id, safe='')}/reauthorize")
        response = await self.http.request(calendar, "POST", url, op="subscriptions.reauthorize", accept=(404,))
        if response.status_code == 404:
            log.info("graph.subscription_gone", calendar_id=calendar.calendar_id, channel_id=channel.channel_id)
            return None
        log.info("graph.reauthorized", calendar_id=calendar.calendar_id, channel_id=channel.channel_id)
        return channel

    async def stop(self, calendar: CalendarRef, channel: Channel) -> None:
        url = self.http.url(f"subscriptions/{quote(channel.channel_id, safe='')}")
        await self.http.request(calendar, "DELETE", url, op="subscriptions.delete", accept=(404,))
        log.info("graph.unsubscribed", calendar_id=calendar.calendar_id, channel_id=channel.channel_id)


def _cursor(link: str, window: SyncWindow) -> str:
    """The deltaLink with the window its round covers (the link alone does not say)."""
    return json.dumps({"link": link, "start": graph_instant(window.start), "end": graph_instant(window.end)})


def _parse_cursor(cursor: str) -> tuple[str, SyncWindow]:
    try:
        held = json.loads(cursor)
        window = SyncWindow(_instant(held["start"]), _instant(held["end"]))
        link = held["link"]
    except (ValueError, TypeError, KeyError):
        # A bare deltaLink, stored before cursors kept their window: its removals cannot be placed.
        raise FullResyncRequired("delta cursor without its window: re-baseline") from None
    if not isinstance(link, str):
        raise FullResyncRequired("delta cursor without a link: re-baseline")
    return link, window


def _instant(text: Any) -> datetime:
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("naive instant")
    return moment.astimezone(UTC)


def _channel(data: Any, resource_id: str | None) -> Channel:
    try:
        expires = datetime.fromisoformat(data["expirationDateTime"]).astimezone(UTC)
        return Channel(channel_id=str(data["id"]), resource_id=resource_id, expires_at=expires)
    except (KeyError, TypeError, ValueError):
        raise ProviderError("subscriptions: Graph answered without id or expirationDateTime") from None


__all__ = ["EVENT_SELECT", "GraphCalendarProvider"]
