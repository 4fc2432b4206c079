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
calendar keeps its own credentials (their access token) between calls, and given
a TokenCache the tokens are shared with the other worker processes: a delegated
user's token is minted once while it lives, not once per process.

Whose calendar an org grant reads. Domain-wide delegation impersonates the JWT's
`sub`, which Google takes only as a user's *primary* address (an alias, a former
address, a suspended or deleted user: invalid_grant "Invalid email or User ID"),
and a user's calendar id is that same address. So `CalendarRef.external_id` is
both the calendarId and the subject, and connect-all (with --admin-email) stores
there the primary address the Workspace directory gives for each person, and the
user's immutable id in `provider_user_id` (`resolve`: Admin SDK users.get as the
admin, who is stored with the grant, under admin.directory.user.readonly). When
Google later refuses the stored address (a rename: invalid_grant at the token
endpoint, or 404 for the calendar id while an access token still works) the
adapter looks the user up again, by id when it has one (else by the address, which
finds an alias), runs the call once more under the current primary address and
remembers it for the calendar in this process; only a user the directory does not
have, has suspended, or still names by the refused address ends in
AuthorizationFailed(user_not_found). Nothing is written back from here: running
connect-all again stores the new addresses. Per-user grants are left as they are:
their token belongs to the account, but their calendar id is the address the
consent flow read, so a renamed person's calendar ends in user_not_found until
they connect again."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar
from uuid import uuid4

import google_auth_httplib2
import httplib2
import structlog
from googleapiclient import discovery

from service.clock import Clock, SystemClock
from service.domain.events import EventSnapshot
from service.settings import GoogleSettings
from service.sync.port import (
    MAX_LISTED_EVENTS,
    MAX_LISTED_PAGES,
    UNLIMITED,
    AuthorizationFailed,
    CalendarRef,
    CallBudget,
    ChangeSet,
    Channel,
    Identity,
    ListingBounds,
    ProviderError,
    ReconnectReason,
    SyncWindow,
    TokenCache,
)
from service.sync.providers.google.auth import GoogleCredentials, digest, org_admin
from service.sync.providers.google.http import DEFAULT_RETRY, GoogleCalls, RetryPolicy
from service.sync.providers.google.normalize import GoogleEventError, normalize_google_event
from service.sync.providers.token_expiry import SKEW, TokenExpiry

log = structlog.get_logger(__name__)

PAGE_SIZE = 2500  # events.list maximum: fewest round trips
LOOKUPS_AT_ONCE = 8  # Directory users.get calls in flight while connect-all resolves people
T = TypeVar("T")
IDLE_CONNECTIONS = 8  # kept open between calls: about the calls a worker runs at once
UTC = UTC


def _wall_now() -> datetime:
    """The wall clock as google-auth reads it (naive UTC): what it compares `expiry` with."""
    return datetime.now(UTC).replace(tzinfo=None)


def _remaining(creds: Any) -> float:
    """Seconds the credentials' access token still lives: google-auth set `expiry` from
    its own wall-clock reading, so the difference to the wall clock now."""
    return (creds.expiry - _wall_now()).total_seconds()


def _shared_key(key: tuple) -> str:
    """The shared cache's name for a calendar's credentials: a digest (the grant's own
    digest is part of `key`), so the database never holds what a token is for."""
    return digest("\0".join(("google", *map(str, key))))


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("sync window bounds must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _DirectoryUser(NamedTuple):
    address: str  # primaryEmail, lower-cased
    user_id: str
    suspended: bool


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
        budget: CallBudget = UNLIMITED,
        tokens: TokenCache | None = None,
    ) -> None:
        """`tokens`: access tokens shared with the other processes (None: this one's only)."""
        self._settings = settings
        self._tokens = tokens
        self._clock = clock or SystemClock()
        self._calls = GoogleCalls(clock=self._clock, sleep=sleep, rng=rng, retry=retry, budget=budget)
        self._timeout = timeout
        self._idle_http: list[httplib2.Http] = []  # see _session; only touched on the event loop
        # Refreshed in place by AuthorizedHttp; shared by a calendar's calls.
        self._credentials = GoogleCredentials(settings, clock=self._clock, max_calendars=cache_size)
        self._token_expiry = TokenExpiry(self._clock, max_entries=cache_size)
        self._built: _Api | None = None
        self._users: Any = None  # the Directory's users resource, built on first use
        self._cache_size = cache_size
        self.listing_limits = (MAX_LISTED_EVENTS, MAX_LISTED_PAGES)  # (events, pages): see ListingBounds
        # (calendar id, stored external_id) → the owner's current primary address, found
        # in the directory after Google refused the stored one (a renamed user).
        self._moved: OrderedDict[tuple[int, str], str] = OrderedDict()

    async def aclose(self) -> None:
        """Close the connections kept between calls."""
        while self._idle_http:
            self._idle_http.pop().close()

    # -- the port ----------------------------------------------------------------------
    async def fetch_changes(self, calendar: CalendarRef, cursor: str | None, window: SyncWindow) -> ChangeSet:
        async def run(ref: CalendarRef) -> ChangeSet:
            async with self._session(ref) as (api, http):
                return await self._list_all(ref, api, http, cursor, window)

        return await self._as_owner(calendar, run)

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
        bounds = ListingBounds("google events.list", *self.listing_limits)
        while True:
            # Google wants every other parameter repeated unchanged with pageToken.
            page_params = {**params, "pageToken": page_token} if page_token else params
            page = await self._calls.call(
                calendar, "events.list", http, lambda h, p=page_params: api.events.list(**p).execute(http=h)
            )
            items = page.get("items") or []
            page_token = page.get("nextPageToken")
            bounds.page(len(items), page_token)
            zone = zone or page.get("timeZone")
            observed = self._clock.now()
            for item in items:
                snapshot = self._normalize(calendar, item, zone, observed)
                if snapshot is not None:
                    events.pop(snapshot.event_id, None)  # the later copy wins, in change order
                    events[snapshot.event_id] = snapshot
            if page_token:
                continue
            next_sync = page.get("nextSyncToken")
            if not next_sync:
                raise ProviderError("google events.list: last page without nextSyncToken")
            log.info(
                "google.fetched",
                calendar_id=calendar.calendar_id,
                full=cursor is None,
                pages=bounds.pages,
                events=len(events),
            )
            return ChangeSet(
                upserts=list(events.values()),
                removed=[],
                cursor=next_sync,
                baseline=None if cursor else window,
                time_zone=zone,
            )

    async def get_event(self, calendar: CalendarRef, event_id: str) -> EventSnapshot | None:
        async def run(ref: CalendarRef) -> Any:
            async with self._session(ref) as (api, http):
                return await self._calls.call(
                    ref,
                    "events.get",
                    http,
                    lambda h: api.events.get(calendarId=ref.external_id, eventId=event_id).execute(http=h),
                )

        try:
            resource = await self._as_owner(calendar, run)
        except ProviderError as exc:
            # 404: never existed here / purged; 410: deleted and gone. A cancelled
            # event that Google still holds comes back as a snapshot instead.
            if exc.status in (404, 410) and not isinstance(exc, AuthorizationFailed):
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

        def send(h: Any, api: _Api, ref: CalendarRef) -> Any:
            ids.append(str(uuid4()))
            return api.events.watch(calendarId=ref.external_id, body={"id": ids[-1], **body}).execute(http=h)

        async def run(ref: CalendarRef) -> Any:
            async with self._session(ref) as (api, http):
                return await self._calls.call(ref, "events.watch", http, lambda h: send(h, api, ref))

        answer = await self._as_owner(calendar, run)
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

    async def reauthorize(self, calendar: CalendarRef, channel: Channel) -> Channel | None:
        return channel  # Google never asks a channel to be reauthorized

    async def stop(self, calendar: CalendarRef, channel: Channel) -> None:
        if not channel.resource_id:
            log.warning(
                "google.stop_without_resource_id", calendar_id=calendar.calendar_id, channel_id=channel.channel_id
            )
            return
        body = {"id": channel.channel_id, "resourceId": channel.resource_id}

        async def run(ref: CalendarRef) -> None:
            async with self._session(ref) as (api, http):
                await self._calls.call(
                    ref, "channels.stop", http, lambda h: api.channels.stop(body=body).execute(http=h)
                )

        try:
            await self._as_owner(calendar, run)
        except ProviderError as exc:
            if exc.status != 404 or isinstance(exc, AuthorizationFailed):
                raise  # 404: expired or stopped already, which is what we wanted
        log.info("google.stopped", calendar_id=calendar.calendar_id, channel_id=channel.channel_id)

    # -- who the calendar's owner is -----------------------------------------------------
    async def resolve(self, credentials: str, keys: list[str]) -> dict[str, Identity]:
        """DirectoryLookup: each key (an address, alias or immutable id) → the user's
        primary address and immutable id, read from the Workspace directory as the admin
        stored with the org grant; keys the directory does not know are left out."""
        admin = org_admin(credentials)
        if admin is None:
            raise AuthorizationFailed(
                "google: the org grant names no Workspace admin to read the directory as",
                reason=ReconnectReason.app_misconfigured,
            )
        found: dict[str, Identity] = {}
        gate = asyncio.Semaphore(LOOKUPS_AT_ONCE)

        async def one(key: str) -> None:
            async with gate:
                user = await self._lookup(credentials, admin, key)
            if user is not None:
                found[key] = Identity(user.address, user.user_id)

        if keys:
            await one(keys[0])  # the admin's token first, once
            async with asyncio.TaskGroup() as group:
                for key in keys[1:]:
                    group.create_task(one(key))
        return found

    async def _as_owner(self, calendar: CalendarRef, run: Callable[[CalendarRef], Awaitable[T]]) -> T:
        """`run` with the calendar's owner as Google knows them now: for an org grant
        refused as "no such user" (delegation impersonates a primary address only; the
        calendar id is that address), look the owner up by immutable id and run again
        under their current primary address."""
        ref = self._relocated(calendar)
        try:
            return await run(ref)
        except AuthorizationFailed as exc:
            if calendar.connection_kind != "org" or exc.reason is not ReconnectReason.user_not_found:
                raise
            moved = await self._relocate(calendar, ref, exc)
        return await run(moved)

    def _relocated(self, calendar: CalendarRef) -> CalendarRef:
        address = self._moved.get((calendar.calendar_id, calendar.external_id))
        return replace(calendar, external_id=address) if address else calendar

    async def _relocate(self, calendar: CalendarRef, ref: CalendarRef, refused: AuthorizationFailed) -> CalendarRef:
        def gone(why: str) -> AuthorizationFailed:
            return AuthorizationFailed(
                f"{refused}; {why}", reason=ReconnectReason.user_not_found, status=refused.status
            )

        admin = org_admin(calendar.credentials)
        if admin is None:
            raise gone("no Workspace admin is stored with the grant to look the user up (connect-all --admin-email)")
        try:
            user = await self._lookup(
                calendar.credentials, admin, calendar.provider_user_id or calendar.external_id, calendar.calendar_id
            )
        except AuthorizationFailed as lookup:
            raise gone(f"the directory lookup was refused ({lookup.reason.value})") from None
        if user is None:
            raise gone("the directory has no such user (deleted?)")
        if user.suspended:
            raise gone("the user is suspended")
        if user.address == ref.external_id.lower():
            raise gone("the directory still names this address")
        self._moved[(calendar.calendar_id, calendar.external_id)] = user.address
        while len(self._moved) > self._cache_size:
            self._moved.popitem(last=False)
        log.info(
            "google.owner_relocated",
            calendar_id=calendar.calendar_id,
            by="user_id" if calendar.provider_user_id else "address",
        )
        return replace(calendar, external_id=user.address)

    async def _lookup(self, credentials: str, admin: str, key: str, calendar_id: int = 0) -> _DirectoryUser | None:
        """Directory users.get(userKey=key) as `admin`; None when there is no such user."""
        ref = CalendarRef(
            calendar_id=calendar_id, email=admin, external_id=admin, credentials=credentials, connection_kind="org"
        )
        users = self._directory_api()
        session_key, creds = self._credentials.for_directory(credentials, admin)
        try:
            with self._transport(session_key, creds) as http:
                user = await self._calls.call(ref, "users.get", http, lambda h: users.get(userKey=key).execute(http=h))
        except ProviderError as exc:
            if exc.status == 404 and not isinstance(exc, AuthorizationFailed):
                return None
            raise
        return _DirectoryUser(
            str(user.get("primaryEmail") or "").lower(), str(user.get("id") or ""), bool(user.get("suspended"))
        )

    # -- clients -----------------------------------------------------------------------
    def _directory_api(self) -> Any:
        """Admin SDK Directory v1 `users`, building requests only (as `_api`)."""
        if self._users is None:
            options = {"api_endpoint": self._settings.directory_endpoint} if self._settings.directory_endpoint else None
            service = discovery.build(
                "admin",
                "directory_v1",
                http=httplib2.Http(timeout=self._timeout),
                static_discovery=True,
                cache_discovery=False,
                client_options=options,
            )
            self._users = service.users()
        return self._users

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

    @contextlib.asynccontextmanager
    async def _session(self, calendar: CalendarRef) -> AsyncIterator[tuple[_Api, Any]]:
        """The resources and a private transport with the calendar's credentials for
        one adapter call (used sequentially, never shared). When this process holds no
        live access token for them, the one another process shared is taken; one minted
        during the call is shared."""
        key, creds = self._credentials.for_calendar(calendar)
        await self._adopt_shared(key, creds)
        held = creds.token
        with self._transport(key, creds) as http:
            yield self._api(), http
        if self._tokens is not None and creds.token and creds.token != held:
            expires_at = self._clock.now() + timedelta(seconds=_remaining(creds))
            await self._tokens.put(_shared_key(key), creds.token, expires_at)

    async def _adopt_shared(self, key: tuple, creds: Any) -> None:
        if self._tokens is None or (creds.valid and not self._token_expiry.stale(key)):
            return
        shared = await self._tokens.get(_shared_key(key))
        if shared is None:
            return
        token, expires_at = shared
        remaining = (expires_at - self._clock.now()).total_seconds()
        if remaining <= SKEW.total_seconds():
            return  # about to expire: mint one that lives
        # google-auth judges expiry by its wall-clock reading (see _transport).
        creds.token, creds.expiry = token, _wall_now() + timedelta(seconds=remaining)
        self._token_expiry.note(key, token, remaining)

    @contextlib.contextmanager
    def _transport(self, key: tuple, creds: Any) -> Iterator[Any]:
        """An AuthorizedHttp with `creds` over a pooled connection, which goes back to
        the pool afterwards, unless the call failed (it may be half-read)."""
        if self._token_expiry.stale(key):
            creds.token = None  # AuthorizedHttp refreshes before the request, not after a 401
        raw = self._idle_http.pop() if self._idle_http else httplib2.Http(timeout=self._timeout)
        try:
            yield google_auth_httplib2.AuthorizedHttp(creds, http=raw)
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
                self._token_expiry.note(key, creds.token, _remaining(creds))

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
