"""Google Calendar v3 adapter for the CalendarProvider port, plus the per-user
OAuth connect helpers.

Wiring is production's: google-api-python-client (static discovery) over
httplib2, google-auth credentials, pointed at the sandbox fakes only through
GoogleSettings (api_endpoint, token_uri).

Threading: the client library is synchronous, so every request runs in a
worker thread (`asyncio.to_thread`). httplib2.Http objects are not thread-safe,
so each adapter call gets its own `AuthorizedHttp` and uses it only sequentially
(the pages of one listing); the Http beneath is taken from a small pool of idle
ones and handed back after the call, so connections (and their TLS sessions)
outlive a call instead of being opened for each. One discovery service per
adapter, with its `events` and `channels` resources, only *builds* requests for
every calendar, never sends them (building it costs ~0.4 MB and milliseconds);
each calendar keeps its own credentials (their access token) between calls.

Errors: every failure leaves as a ProviderError (FullResyncRequired,
AuthorizationFailed) whose message names the operation, the status and
Google's reason only: no URLs (sync tokens), no tokens, no credentials."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from typing import Any, Awaitable, Callable, Iterator
from urllib.parse import urlencode
from uuid import uuid4

import google.auth.exceptions
import google_auth_httplib2
import httplib2
import httpx
import structlog
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from googleapiclient import discovery
from googleapiclient.errors import HttpError

from service.clock import Clock, SystemClock
from service.domain.events import EventSnapshot
from service.settings import GoogleSettings, Settings
from service.sync.normalize_google import GoogleEventError, normalize_google_event
from service.sync.provider import (AuthorizationFailed, CalendarRef, ChangeSet, Channel, FullResyncRequired,
                                   ProviderError, SyncWindow)
from service.sync.token_expiry import TokenExpiry

log = structlog.get_logger(__name__)

SCOPES = ("https://www.googleapis.com/auth/calendar.readonly",)
AUTH_URI = "https://accounts.google.com/o/oauth2/v2/auth"
PAGE_SIZE = 2500                     # events.list maximum: fewest round trips
IDLE_CONNECTIONS = 8                 # kept open between calls: about the calls a worker runs at once
_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
UTC = timezone.utc


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """In-call retries for throttling and 5xx. Bounded: past these the error goes
    to the worker, whose own backoff spans minutes, not seconds."""

    attempts: int = 4                # tries per request, the first included
    base: float = 1.0                # seconds: 1, 2, 4… (Google's recommended schedule)
    cap: float = 16.0
    jitter: float = 1.0              # plus up to this many seconds at random
    max_retry_after: float = 60.0    # a longer Retry-After is left to the worker


def _google(settings: Settings | GoogleSettings) -> GoogleSettings:
    return settings.google if isinstance(settings, Settings) else settings


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

    def __init__(self, settings: Settings | GoogleSettings, *, clock: Clock | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 rng: Callable[[], float] = random.random, retry: RetryPolicy = RetryPolicy(),
                 timeout: float = 30.0, cache_size: int = 4096) -> None:
        self._settings = _google(settings)
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._rng = rng
        self._retry = retry
        self._timeout = timeout
        self._idle_http: list[httplib2.Http] = []        # see _session; only touched on the event loop
        self._cache_size = cache_size                    # calendars whose credentials are kept
        # Refreshed in place by AuthorizedHttp; shared by a calendar's calls.
        self._credentials_by_calendar: OrderedDict[tuple, Any] = OrderedDict()
        self._token_expiry = TokenExpiry(self._clock, max_entries=cache_size)
        self._built: _Api | None = None
        # Parsed service-account keys by grant digest: loading the RSA key costs ~30 ms,
        # and an org grant serves every calendar of the domain (`with_subject` is cheap).
        self._org_keys: OrderedDict[str, Any] = OrderedDict()

    async def aclose(self) -> None:
        """Close the connections kept between calls."""
        while self._idle_http:
            self._idle_http.pop().close()

    # -- the port ----------------------------------------------------------------------
    async def fetch_changes(self, calendar: CalendarRef, cursor: str | None, window: SyncWindow) -> ChangeSet:
        with self._session(calendar) as (api, http):
            return await self._list_all(calendar, api, http, cursor, window)

    async def _list_all(self, calendar: CalendarRef, api: _Api, http: Any, cursor: str | None,
                        window: SyncWindow) -> ChangeSet:
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
            page = await self._call(calendar, "events.list", http,
                                    lambda h, p=page_params: api.events.list(**p).execute(http=h))
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
            log.info("google.fetched", calendar_id=calendar.calendar_id, full=cursor is None,
                     pages=pages, events=len(events))
            return ChangeSet(upserts=list(events.values()), removed=[], cursor=next_sync,
                             baseline=None if cursor else window, time_zone=zone)

    async def get_event(self, calendar: CalendarRef, event_id: str) -> EventSnapshot | None:
        try:
            with self._session(calendar) as (api, http):
                resource = await self._call(calendar, "events.get", http, lambda h: api.events.get(
                    calendarId=calendar.external_id, eventId=event_id).execute(http=h))
        except ProviderError as exc:
            # 404: never existed here / purged; 410: deleted and gone. A cancelled
            # event that Google still holds comes back as a snapshot instead.
            if exc.status in (404, 410):
                return None
            raise
        return self._normalize(calendar, resource, calendar.time_zone, self._clock.now())

    async def watch(self, calendar: CalendarRef, address: str, lifecycle_address: str, secret: str,
                    ttl_seconds: int) -> Channel:
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
            answer = await self._call(calendar, "events.watch", http, lambda h: send(h, api))
        expiration = answer.get("expiration")
        expires_at = (datetime.fromtimestamp(int(expiration) / 1000, UTC) if expiration
                      else self._clock.now() + timedelta(seconds=ttl_seconds))
        channel = Channel(answer.get("id") or ids[-1], answer.get("resourceId"), expires_at)
        log.info("google.watching", calendar_id=calendar.calendar_id, channel_id=channel.channel_id,
                 expires_at=expires_at.isoformat())
        return channel

    async def renew(self, calendar: CalendarRef, channel: Channel, ttl_seconds: int) -> Channel | None:
        return None  # Google cannot extend a channel: the engine opens a new one, then stops this one

    async def stop(self, calendar: CalendarRef, channel: Channel) -> None:
        if not channel.resource_id:
            log.warning("google.stop_without_resource_id", calendar_id=calendar.calendar_id,
                        channel_id=channel.channel_id)
            return
        body = {"id": channel.channel_id, "resourceId": channel.resource_id}
        try:
            with self._session(calendar) as (api, http):
                await self._call(calendar, "channels.stop", http,
                                 lambda h: api.channels.stop(body=body).execute(http=h))
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
            service = discovery.build("calendar", "v3", http=httplib2.Http(timeout=self._timeout),
                                      static_discovery=True, cache_discovery=False, client_options=options)
            self._built = _Api(events=service.events(), channels=service.channels())
        return self._built

    def _calendar_credentials(self, calendar: CalendarRef) -> tuple[tuple, Any]:
        """(cache key, credentials): keyed by a digest of the grant too, so a
        reconnected calendar gets fresh credentials."""
        digest = hashlib.sha256(calendar.credentials.encode()).hexdigest()
        key = (calendar.calendar_id, calendar.connection_kind, calendar.email.lower(), digest)
        cached = self._credentials_by_calendar
        creds = cached.get(key)
        if creds is not None:
            cached.move_to_end(key)
            return key, creds
        cached[key] = creds = self._credentials(calendar)
        while len(cached) > self._cache_size:
            cached.popitem(last=False)
        return key, creds

    def _credentials(self, calendar: CalendarRef) -> Any:
        settings = self._settings
        if calendar.connection_kind == "user":
            if not calendar.credentials:
                raise AuthorizationFailed("google: no refresh token stored for this calendar")
            return user_credentials.Credentials(
                token=None, refresh_token=calendar.credentials, client_id=settings.client_id,
                client_secret=settings.client_secret.get_secret_value(), token_uri=settings.token_uri,
                scopes=list(SCOPES))
        if calendar.connection_kind == "org":
            digest = hashlib.sha256(calendar.credentials.encode()).hexdigest() if calendar.credentials else ""
            creds = self._org_keys.get(digest)
            if creds is None:
                try:
                    info = json.loads(calendar.credentials) if calendar.credentials else self._service_account_file()
                    # The configured token endpoint wins over the key file's (the same in production).
                    info = {**info, "token_uri": settings.token_uri}
                    creds = service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))
                except (ValueError, KeyError, TypeError, OSError):
                    raise AuthorizationFailed("google: the service-account key is unusable") from None
                if digest:   # the process-wide key file is read afresh each time
                    self._org_keys[digest] = creds
                    while len(self._org_keys) > 16:
                        self._org_keys.popitem(last=False)
            # Domain-wide delegation: act as the calendar's owner.
            return creds.with_subject(calendar.email)
        raise AuthorizationFailed(f"google: unknown connection kind {calendar.connection_kind!r}")

    def _service_account_file(self) -> dict[str, Any]:
        """The process-wide key (GoogleSettings.service_account_file) for org rows storing none."""
        with open(self._settings.service_account_file or "", encoding="utf-8") as handle:
            return json.load(handle)

    @contextlib.contextmanager
    def _session(self, calendar: CalendarRef) -> Iterator[tuple[_Api, Any]]:
        """The resources and a private transport with the calendar's credentials for
        one adapter call (used sequentially, never shared). Its connection goes back
        to the pool afterwards, unless the call failed (it may be half-read)."""
        key, creds = self._calendar_credentials(calendar)
        if self._token_expiry.stale(key):
            creds.token = None    # AuthorizedHttp refreshes before the request, not after a 401
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

    # -- calls, retries, errors ------------------------------------------------------------
    async def _call(self, calendar: CalendarRef, op: str, http: Any, send: Callable[[Any], Any]) -> Any:
        attempt = 0
        while True:
            try:
                return await asyncio.to_thread(send, http)
            except Exception as exc:  # noqa: BLE001 - translated below, never leaked raw
                error = self._translate(op, exc)
            attempt += 1
            retryable = (error.transient and not isinstance(error, FullResyncRequired)
                         and attempt < self._retry.attempts)
            delay = self._delay(attempt, error.retry_after) if retryable else None
            if delay is None:
                log.warning("google.failed", calendar_id=calendar.calendar_id, op=op, status=error.status,
                            error=str(error), attempts=attempt)
                raise error
            log.info("google.retry", calendar_id=calendar.calendar_id, op=op, status=error.status,
                     attempt=attempt, delay=round(delay, 3))
            await self._sleep(delay)

    def _delay(self, attempt: int, retry_after: float | None) -> float | None:
        policy = self._retry
        if retry_after is not None:
            return retry_after if retry_after <= policy.max_retry_after else None
        return min(policy.cap, policy.base * 2 ** (attempt - 1)) + self._rng() * policy.jitter

    def _translate(self, op: str, exc: Exception) -> ProviderError:
        if isinstance(exc, HttpError):
            return self._http_error(op, exc)
        if isinstance(exc, google.auth.exceptions.RefreshError):
            # The library's message may quote the token endpoint's answer: keep only its error code.
            code = _error_code(str(exc.args[0]).split(":", 1)[0] if exc.args else "")
            if getattr(exc, "retryable", False):
                return ProviderError(f"google {op}: token refresh failed ({code})")
            return AuthorizationFailed(f"google {op}: token refresh refused ({code})")
        if isinstance(exc, (google.auth.exceptions.TransportError, httplib2.HttpLib2Error, HTTPException, OSError)):
            return ProviderError(f"google {op}: transport error ({type(exc).__name__})")
        return ProviderError(f"google {op}: unexpected {type(exc).__name__}", transient=False)

    def _http_error(self, op: str, exc: HttpError) -> ProviderError:
        status = int(exc.resp.status)
        details = exc.error_details if isinstance(exc.error_details, list) else []
        reasons = [d.get("reason", "") for d in details if isinstance(d, dict)]
        reason = reasons[0] if reasons else ""
        message = f"google {op}: {status} {reason}".rstrip()
        if status == 410 and op == "events.list":
            return FullResyncRequired(message)
        if status == 401:
            return AuthorizationFailed(message)  # AuthorizedHttp already refreshed and retried
        if status == 429 or (status == 403 and _RATE_REASONS & set(reasons)):
            return ProviderError(message, status=status, retry_after=self._retry_after(exc.resp))
        if status == 403:
            # forbidden / insufficientPermissions / delegation denied: a person must act.
            error = AuthorizationFailed(message)
            error.status = 403
            return error
        if status >= 500:
            return ProviderError(message, status=status, retry_after=self._retry_after(exc.resp))
        return ProviderError(message, status=status, transient=False)

    def _retry_after(self, resp: Any) -> float | None:
        value = (resp.get("retry-after") if hasattr(resp, "get") else None) or ""
        value = value.strip()
        if not value:
            return None
        if value.replace(".", "", 1).isdigit():
            return float(value)
        try:  # HTTP-date form
            return max(0.0, (parsedate_to_datetime(value) - self._clock.now()).total_seconds())
        except (TypeError, ValueError):
            return None

    def _normalize(self, calendar: CalendarRef, resource: dict[str, Any], zone: str | None,
                   observed: datetime) -> EventSnapshot | None:
        try:
            return normalize_google_event(calendar.email, resource, calendar_time_zone=zone, observed_at=observed)
        except GoogleEventError as exc:
            # One unreadable resource must not wedge the calendar's sync forever.
            log.warning("google.unreadable_event", calendar_id=calendar.calendar_id,
                        event_id=resource.get("id"), error=str(exc))
            return None


# -- per-user connect flow -------------------------------------------------------------------
def authorization_url(settings: Settings | GoogleSettings, redirect_uri: str, state: str, *,
                      login_hint: str | None = None, auth_uri: str = AUTH_URI) -> str:
    """Google's consent screen for calendar.readonly with a refresh token
    (access_type=offline; prompt=consent so a returning user gets one again)."""
    params = {"client_id": _google(settings).client_id, "redirect_uri": redirect_uri, "response_type": "code",
              "scope": " ".join(SCOPES), "access_type": "offline", "prompt": "consent",
              "include_granted_scopes": "true", "state": state}
    if login_hint:
        params["login_hint"] = login_hint
    return f"{auth_uri}?{urlencode(params)}"


async def exchange_code(settings: Settings | GoogleSettings, code: str, redirect_uri: str, *,
                        client: httpx.AsyncClient | None = None) -> tuple[str, str]:
    """Trade an authorization code for (refresh token, the user's email).

    The email is the id of the user's `primary` calendar (calendars.get), so
    calendar.readonly is the only scope asked for: no openid/email consent."""
    google = _google(settings)
    own = client is None
    http = client or httpx.AsyncClient(timeout=30.0)
    try:
        try:
            answer = await http.post(google.token_uri, data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "client_id": google.client_id, "client_secret": google.client_secret.get_secret_value()})
        except httpx.HTTPError as exc:
            raise ProviderError(f"google token exchange: transport error ({type(exc).__name__})") from None
        body = _json(answer)
        if answer.status_code >= 500:
            raise ProviderError(f"google token exchange: {answer.status_code}", status=answer.status_code)
        if answer.status_code != 200:
            raise AuthorizationFailed(f"google token exchange: {answer.status_code} {_error_code(body.get('error'))}")
        refresh_token, access_token = body.get("refresh_token"), body.get("access_token")
        if not refresh_token or not access_token:
            raise AuthorizationFailed("google token exchange: no refresh token granted (offline access refused)")
        email = await _primary_calendar_id(http, google, access_token)
        return refresh_token, email.lower()
    finally:
        if own:
            await http.aclose()


def _error_code(value: Any) -> str:
    """An OAuth error code (invalid_grant…) fit for a message; anything else is not quoted."""
    code = str(value or "").strip()
    return code if code and code.replace("_", "").isalpha() and len(code) <= 40 else "refused"


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def _primary_calendar_id(http: httpx.AsyncClient, google: GoogleSettings, access_token: str) -> str:
    base = (google.api_endpoint or "https://www.googleapis.com/calendar/v3/").rstrip("/")
    try:
        answer = await http.get(f"{base}/calendars/primary", headers={"Authorization": f"Bearer {access_token}"})
    except httpx.HTTPError as exc:
        raise ProviderError(f"google calendars.get: transport error ({type(exc).__name__})") from None
    calendar_id = _json(answer).get("id")
    if answer.status_code != 200 or not isinstance(calendar_id, str) or "@" not in calendar_id:
        raise ProviderError(f"google calendars.get primary: {answer.status_code}", status=answer.status_code,
                            transient=answer.status_code >= 500)
    return calendar_id
