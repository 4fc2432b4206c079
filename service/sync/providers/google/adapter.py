"""Google Calendar v3 adapter for the CalendarProvider port.

Wiring is production's: google-api-python-client (static discovery) over
httplib2, google-auth credentials (auth.py), pointed at the sandbox fakes only
through GoogleSettings (api_endpoint, token_uri).

Threading: the client library is synchronous, so every request runs in a
worker thread (http.py). httplib2.Http objects are not thread-safe, so each
adapter call gets its own `AuthorizedHttp` and uses it only sequentially (the
pages of one listing); the Http beneath is taken from a small pool of idle ones
and handed back after the call, so connections (and their TLS sessions) outlive
a call instead of being opened for each. One discovery service per adapter,
with its `events` and `channels` resources, only *builds* requests for every
calendar, never sends them (building it costs ~0.4 MB and milliseconds); each
calendar keeps its own credentials (their access token) between calls."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import google_auth_httplib2
import httplib2
import structlog
from googleapiclient import discovery

from service.clock import Clock, SystemClock
from service.domain.events import EventSnapshot
from service.settings import GoogleSettings
from service.sync.port import CalendarRef, ChangeSet, Channel, ProviderError, SyncWindow
from service.sync.providers.google.auth import GoogleCredentials
from service.sync.providers.google.http import DEFAULT_RETRY, GoogleCalls, RetryPolicy
from service.sync.providers.google.normalize import GoogleEventError, normalize_google_event
from service.sync.providers.token_expiry import TokenExpiry

log = structlog.get_logger(__name__)

PAGE_SIZE = 2500  # events.list maximum: fewest round trips
IDLE_CONNECTIONS = 8  # kept open between calls: about the calls a worker runs at once
UTC = UTC


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("sync window bounds must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _Api:
    """Calendar v3 resources that build requests, never send them (see the module doc)."""

    events: Any
    channels: Any


class GoogleCalendarProvider:
    """CalendarProvider for Google Calendar v3. One instance per process."""

    name = "google"
    windowed = False  # a sync token covers every date: no re-baselining as time moves on

    def __init__(
        self,
        settings: GoogleSettings,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: float = 30.0,
        cache_size: int = 4096,
    ) -> None:
        self._settings = settings
        self._clock = clock or SystemClock()
        self._calls = GoogleCalls(clock=self._clock, sleep=sleep, rng=rng, retry=retry)
        self._timeout = timeout
        self._idle_http: list[httplib2.Http] = []  # see _session; only touched on the event loop
        # Refreshed in place by AuthorizedHttp; shared by a calendar's calls.
        self._credentials = GoogleCredentials(settings, clock=self._clock, max_calendars=cache_size)
        self._token_expiry = TokenExpiry(self._clock, max_entries=cache_size)
        self._built: _Api | None = None

    async def aclose(self) -> None:
        """Close the connections kept between calls."""
        while self._idle_http:
            self._idle_http.pop().close()

    # -- the port ----------------------------------------------------------------------
    async def fetch_changes(self, calendar: CalendarRef, cursor: str | None, window: SyncWindow) -> ChangeSet:
        with self._session(calendar) as (api, http):
            return await self._list_all(calendar, api, http, cursor, window)

    async def _list_all(
        self, calendar: CalendarRef, api: _Api, http: Any, cursor: str | None, window: SyncWindow
    ) -> ChangeSet:
        # syncToken excludes every restriction (400 syncTokenWithRequestRestrictions),
        # so only a full sync is bounded by timeMin; increments return any date.
        params: dict[str, Any] = {"calendarId": calendar.external_id, "showDeleted": True, "maxResults": PAGE_SIZE}
        if cursor:
            params["syncToken"] = cursor
        else:
            params.update(singleEvents=False, timeMin=_rfc3339(window.start))
        events: dict[str, EventSnapshot] = {}
        zone: str | None = None
        page_token: str | None = None
        pages = 0
        while True:
            # Google wants every other parameter repeated unchanged with pageToken.
            page_params = {**params, "pageToken": page_token} if page_token else params
            page = await self._calls.call(
                calendar, "events.list", http, lambda h, p=page_params: api.events.list(**p).execute(http=h)
            )
            pages += 1
            zone = zone or page.get("timeZone")
            observed = self._clock.now()
            for item in page.get("items") or []:
                snapshot = self._normalize(calendar, item, zone, observed)
                if snapshot is not None:
                    events.pop(snapshot.event_id, None)  # the later copy wins, in change order
                    events[snapshot.event_id] = snapshot
            page_token = page.get("nextPageToken")
            if page_token:
                continue
            next_sync = page.get("nextSyncToken")
            if not next_sync:
                raise ProviderError("google events.list: last page without nextSyncToken")
            log.info(
                "google.fetched", calendar_id=calendar.calendar_id, full=cursor is None, pages=pages, events=len(events)
            )
            return ChangeSet(
                upserts=list(events.values()),
                removed=[],
                cursor=next_sync,
                baseline=None if cursor else window,
                time_zone=zone,
            )

    async def get_event(self, calendar: CalendarRef, event_id: str) -> EventSnapshot | None:
        try:
            with self._session(calendar) as (api, http):
                resource = await self._calls.call(
                    calendar,
                    "events.get",
                    http,
                    lambda h: api.events.get(calendarId=calendar.external_id, eventId=event_id).execute(http=h),
                )
        except ProviderError as exc:
            # 404: never existed here / purged; 410: deleted and gone. A cancelled
            # event that Google still holds comes back as a snapshot instead.
            if exc.status in (404, 410):
                return None
            raise
        return self._normalize(calendar, resource, calendar.time_zone, self._clock.now())

    async def watch(
        self, calendar: CalendarRef, address: str, lifecycle_address: str, secret: str, ttl_seconds: int
    ) -> Channel:
        # Google has no lifecycle notifications: `lifecycle_address` is Graph's.
        # A fresh channel id per attempt: reusing one after a lost answer would fail
        # as "not unique" for good. A channel opened by such an attempt is orphaned:
        # the webhooks ignore its unknown id and Google drops it at expiry.
        body = {"type": "web_hook", "address": address, "token": secret, "params": {"ttl": str(int(ttl_seconds))}}
        ids: list[str] = []

        def send(h: Any, api: _Api) -> Any:
            ids.append(str(uuid4()))
            return api.events.watch(calendarId=calendar.external_id, body={"id": ids[-1], **body}).execute(http=h)

        with self._session(calendar) as (api, http):
            answer = await self._calls.call(calendar, "events.watch", http, lambda h: send(h, api))
        expiration = answer.get("expiration")
        expires_at = (
            datetime.fromtimestamp(int(expiration) / 1000, UTC)
            if expiration
            else self._clock.now() + timedelta(seconds=ttl_seconds)
        )
        channel = Channel(answer.get("id") or ids[-1], answer.get("resourceId"), expires_at)
        log.info(
            "google.watching",
            calendar_id=calendar.calendar_id,
            channel_id=channel.channel_id,
            expires_at=expires_at.isoformat(),
        )
        return channel

    async def renew(self, calendar: CalendarRef, channel: Channel, ttl_seconds: int) -> Channel | None:
        return None  # Google cannot extend a channel: the engine opens a new one, then stops this one

    async def stop(self, calendar: CalendarRef, channel: Channel) -> None:
        if not channel.resource_id:
            log.warning(
                "google.stop_without_resource_id", calendar_id=calendar.calendar_id, channel_id=channel.channel_id
            )
            return
        body = {"id": channel.channel_id, "resourceId": channel.resource_id}
        try:
            with self._session(calendar) as (api, http):
                await self._calls.call(
                    calendar, "channels.stop", http, lambda h: api.channels.stop(body=body).execute(http=h)
                )
        except ProviderError as exc:
            if exc.status != 404:  # 404: expired or stopped already, which is what we wanted
                raise
        log.info("google.stopped", calendar_id=calendar.calendar_id, channel_id=channel.channel_id)

    # -- clients -----------------------------------------------------------------------
    def _api(self) -> _Api:
        if self._built is None:
            options = {"api_endpoint": self._settings.api_endpoint} if self._settings.api_endpoint else None
            # Requests are sent over each call's own AuthorizedHttp (`execute(http=…)`):
            # the service's transport is a placeholder that never carries a request.
            service = discovery.build(
                "calendar",
                "v3",
                http=httplib2.Http(timeout=self._timeout),
                static_discovery=True,
                cache_discovery=False,
                client_options=options,
            )
            self._built = _Api(events=service.events(), channels=service.channels())
        return self._built

    @contextlib.contextmanager
    def _session(self, calendar: CalendarRef) -> Iterator[tuple[_Api, Any]]:
        """The resources and a private transport with the calendar's credentials for
        one adapter call (used sequentially, never shared). Its connection goes back
        to the pool afterwards, unless the call failed (it may be half-read)."""
        key, creds = self._credentials.for_calendar(calendar)
        if self._token_expiry.stale(key):
            creds.token = None  # AuthorizedHttp refreshes before the request, not after a 401
        api = self._api()
        raw = self._idle_http.pop() if self._idle_http else httplib2.Http(timeout=self._timeout)
        try:
            yield api, google_auth_httplib2.AuthorizedHttp(creds, http=raw)
        except BaseException:
            raw.close()
            raise
        else:
            if len(self._idle_http) < IDLE_CONNECTIONS:
                self._idle_http.append(raw)
            else:
                raw.close()
        finally:
            if creds.token and creds.expiry:
                # google-auth set `expiry` from its own wall-clock reading: the difference
                # to the wall clock now is the token's remaining lifetime.
                remaining = creds.expiry - datetime.now(UTC).replace(tzinfo=None)
                self._token_expiry.note(key, creds.token, remaining.total_seconds())

    def _normalize(
        self, calendar: CalendarRef, resource: dict[str, Any], zone: str | None, observed: datetime
    ) -> EventSnapshot | None:
        try:
            return normalize_google_event(calendar.email, resource, calendar_time_zone=zone, observed_at=observed)
        except GoogleEventError as exc:
            # One unreadable resource must not wedge the calendar's sync forever.
            log.warning(
                "google.unreadable_event", calendar_id=calendar.calendar_id, event_id=resource.get("id"), error=str(exc)
            )
            return None
