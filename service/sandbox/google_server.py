"""The fake Google Calendar v3 server (ASGI) that google-api-python-client talks to.

    fake = GoogleFake(store, clock=clock)
    server = LoopbackServer(fake.app).start()
    build("calendar", "v3", credentials=Credentials(None, refresh_token=…, client_id=…,
          client_secret=…, token_uri=f"{server.base_url}/token"), static_discovery=True,
          client_options={"api_endpoint": f"{server.base_url}/calendar/v3/"})

Routes: `POST /token` (see oauth_google), `GET /calendar/v3/calendars/{id}`,
`GET …/calendars/{id}/events` (events.list with the exact query parameters
the client sends), `GET …/events/{eventId}`, `POST …/events/watch`,
`POST /calendar/v3/channels/stop`, and the Admin SDK Directory's
`GET /admin/directory/v1/users/{userKey}` (google_directory). Errors come in
Google's JSON error shape.
A token reads only its own user's calendar (`primary` is that calendar):
another user's calendar answers 403, an id that names no calendar (an alias, a
former address) 404. Timeline ops go through `apply`, which also
notifies the calendars' channels."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.clock import Clock, SystemClock
from service.sandbox.errors import (
    GoogleApiError,
    google_api_disabled,
    google_insufficient_scopes,
    google_not_found,
    google_quota_exceeded,
    google_unauthenticated,
)
from service.sandbox.faults import FaultMiddleware, Faults, InjectedFailure
from service.sandbox.google_channels import GoogleChannels
from service.sandbox.google_directory import GoogleDirectory
from service.sandbox.google_quota import GoogleQuota, QuotaMeter
from service.sandbox.google_store import GoogleStore
from service.sandbox.notifier import Notifier
from service.sandbox.oauth import Grant, TokenIssuer, TokenRejected
from service.sandbox.oauth_google import GoogleAuth
from service.sandbox.timefmt import parse_instant

API_PREFIX = "/calendar/v3/"
DIRECTORY_PREFIX = "/admin/directory/v1/"
READ_SCOPES = frozenset(
    f"https://www.googleapis.com/auth/{s}"
    for s in ("calendar", "calendar.readonly", "calendar.events", "calendar.events.readonly")
)
_JSON = "application/json; charset=UTF-8"
_CALENDAR_ERRORS = {  # the Calendar API's own 403s: no ErrorInfo
    "quotaExceeded": ("usageLimits", "Calendar usage limits exceeded."),
    "forbidden": ("global", "Forbidden"),
    "notACalendarUser": ("calendar", "The user must be signed up for Google Calendar."),
}
_QUOTA_REASONS = {
    "rateLimitExceeded": "defaultPerMinutePerProject",
    "userRateLimitExceeded": "defaultPerMinutePerUser",
    "dailyLimitExceeded": "defaultPerDayPerProject",
}


def _error(exc: GoogleApiError, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers, media_type=_JSON)


def fault_error(status: int, reason: str | None = None) -> GoogleApiError:
    """The error Google answers with for an injected failure (`faults.fail_next(status, reason=…)`)."""
    if status in (403, 429) and (reason is None or reason in _QUOTA_REASONS):
        return google_quota_exceeded(status, _QUOTA_REASONS[reason or "rateLimitExceeded"])
    if reason in _CALENDAR_ERRORS:
        domain, message = _CALENDAR_ERRORS[reason]
        return GoogleApiError(status, reason, message, domain=domain)
    if reason == "accessNotConfigured":
        return google_api_disabled()
    if reason == "insufficientPermissions":
        return google_insufficient_scopes()
    if status == 401:
        return google_unauthenticated()
    if status >= 500:
        message = "The service is currently unavailable." if status == 503 else "Backend Error"
        return GoogleApiError(status, reason or "backendError", message)
    return GoogleApiError(status, reason or ("badRequest" if status == 400 else "error"), "Error")


def render_fault(request: Request, failure: InjectedFailure) -> Response:
    return _error(fault_error(failure.status, failure.reason))


def _bool(params: Any, name: str) -> bool:
    value = params.get(name)
    if value in (None, "false", "False"):
        return False
    if value in ("true", "True"):
        return True
    raise GoogleApiError(400, "invalid", f"Invalid value for: {name}")


def _int(params: Any, name: str, default: int | None) -> int | None:
    value = params.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise GoogleApiError(400, "invalid", f"Invalid value for: {name}") from None


Handler = Callable[[Request, Grant, str], Awaitable[Response]]


class GoogleFake:
    def __init__(
        self,
        store: GoogleStore,
        *,
        clock: Clock | None = None,
        issuer: TokenIssuer | None = None,
        faults: Faults | None = None,
        notifier: Notifier | None = None,
        allow_http_loopback: bool = False,
        channel_max_ttl: timedelta = timedelta(days=30),
        quota: GoogleQuota | None = None,
    ) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        self.issuer = issuer or TokenIssuer(self.clock)
        self.faults = faults or Faults()
        self.notifier = notifier or Notifier(faults=self.faults)
        self.quota_meter = QuotaMeter(quota or GoogleQuota(), self.clock)
        self.directory = GoogleDirectory(store.calendars)
        # Delegation and the consent screen take a primary address of an active user only.
        self.auth = GoogleAuth(self.issuer, known_user=self.directory.impersonable)
        self.channels = GoogleChannels(
            self.clock, self.notifier, self.faults, allow_http_loopback=allow_http_loopback, max_ttl=channel_max_ttl
        )
        self.app = FaultMiddleware(
            self._starlette(), faults=self.faults, target="google", api_prefix=API_PREFIX, render=render_fault
        )

    # -- driving the fake ----------------------------------------------------------------
    def apply(self, op: dict[str, Any]) -> int:
        """Apply a timeline op (`provider: google`) and notify every calendar it touched."""
        self.store.apply(op)
        return self.changed(op["calendars"], at=parse_instant(op["at"]))

    def changed(self, calendars: list[str], *, at: datetime | None = None) -> int:
        """Notify the channels of calendars changed behind the API (e.g. directly in the store)."""
        return sum(self.channels.notify(cal, at) for cal in calendars)

    def expire_sync_tokens(self, calendar: str) -> None:
        self.store.expire_sync_tokens(calendar)

    # -- people's identities (see google_directory) ------------------------------------------------
    def rename_user(self, email: str, new: str, *, keep_alias: bool = True) -> None:
        """The user's primary address becomes `new` (the old one an alias if `keep_alias`):
        their calendar's id changes with it, their tokens and channels follow the account,
        and delegation must now name `new`."""
        with self.directory.lock:
            self.directory.rename(email, new, keep_alias=keep_alias)
            if email.lower() in self.store.calendars():
                self.store.rename_calendar(email, new)
                self.channels.rename_calendar(email, new)
            self.auth.rename_user(email, new)
            self.issuer.rename_user(email, new)

    def add_alias(self, email: str, alias: str) -> None:
        self.directory.add_alias(email, alias)

    def delete_user(self, email: str) -> None:
        """The user is deleted: directory entry, calendar, grants and tokens."""
        with self.directory.lock:
            user = self.directory.delete(email)
            self.store.remove_calendar(user.primary_email)
            for client_id in list(self.auth.clients):
                self.auth.revoke_user_grants(client_id, user.primary_email)
            self.issuer.forget_user(user.primary_email)

    def set_quota(self, quota: GoogleQuota | None) -> QuotaMeter:
        """Knob: enforce `quota` (None: none) from now on, with full buckets (see google_quota)."""
        self.quota_meter = QuotaMeter(quota or GoogleQuota(), self.clock)
        return self.quota_meter

    # -- app -----------------------------------------------------------------------------
    def _starlette(self) -> Starlette:
        api = [
            Route(API_PREFIX + "calendars/{calendarId}", self._guard(self._calendar), methods=["GET"]),
            Route(API_PREFIX + "calendars/{calendarId}/events", self._guard(self._list), methods=["GET"]),
            Route(API_PREFIX + "calendars/{calendarId}/events/watch", self._guard(self._watch), methods=["POST"]),
            Route(API_PREFIX + "calendars/{calendarId}/events/{eventId}", self._guard(self._get), methods=["GET"]),
            Route(API_PREFIX + "channels/stop", self._guard(self._stop, calendar=False), methods=["POST"]),
        ]

        async def not_found(request: Request, exc: HTTPException) -> Response:
            return _error(
                GoogleApiError(
                    exc.status_code,
                    "notFound" if exc.status_code == 404 else "badRequest",
                    "Not Found" if exc.status_code == 404 else str(exc.detail),
                )
            )

        directory = [Route(DIRECTORY_PREFIX + "users/{userKey}", self._user, methods=["GET"])]
        return Starlette(
            routes=self.auth.routes() + api + directory, exception_handlers={404: not_found, 405: not_found}
        )

    def _guard(self, handler: Handler, *, calendar: bool = True) -> Callable[[Request], Awaitable[Response]]:
        """Authentication, access control and Google's error shape around an API handler."""

        async def endpoint(request: Request) -> Response:
            try:
                grant = self.issuer.check("google", request.headers.get("authorization"))
            except TokenRejected as rejected:
                return _error(
                    google_unauthenticated(rejected.why),
                    {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
                )
            try:
                if not READ_SCOPES & set(grant.scopes):
                    raise google_insufficient_scopes()
                refused = self.quota_meter.take(grant.user or grant.client_id)
                if refused is not None:
                    raise refused
                cal = self._calendar_for(grant, request.path_params["calendarId"]) if calendar else ""
                return await handler(request, grant, cal)
            except GoogleApiError as exc:
                return _error(exc)

        return endpoint

    def _calendar_for(self, grant: Grant, calendar_id: str) -> str:
        """The calendar a request names: its id is the owner's primary address (an alias
        or a former address names no calendar: 404), and a token reads its own user's."""
        cal = grant.user if calendar_id == "primary" else calendar_id.lower()
        if cal not in self.store.calendars():
            raise google_not_found()
        if cal != grant.user:
            raise GoogleApiError(403, "forbidden", "Forbidden")
        return cal or ""

    async def _user(self, request: Request) -> Response:
        """Admin SDK Directory users.get (see google_directory)."""
        try:
            grant = self.issuer.check("google", request.headers.get("authorization"))
        except TokenRejected as rejected:
            return _error(google_unauthenticated(rejected.why))
        try:
            return JSONResponse(
                self.directory.get(grant.user, grant.scopes, request.path_params["userKey"]), media_type=_JSON
            )
        except GoogleApiError as exc:
            return _error(exc)

    async def _calendar(self, request: Request, grant: Grant, cal: str) -> Response:
        return JSONResponse(self.store.get_calendar(cal), media_type=_JSON)

    async def _list(self, request: Request, grant: Grant, cal: str) -> Response:
        q = request.query_params
        page = self.store.list_events(
            cal,
            sync_token=q.get("syncToken"),
            page_token=q.get("pageToken"),
            time_min=q.get("timeMin"),
            time_max=q.get("timeMax"),
            updated_min=q.get("updatedMin"),
            max_results=_int(q, "maxResults", 250),
            show_deleted=_bool(q, "showDeleted"),
            single_events=_bool(q, "singleEvents"),
            order_by=q.get("orderBy"),
            q=q.get("q"),
            i_cal_uid=q.get("iCalUID"),
            private_extended_property=q.getlist("privateExtendedProperty") or None,
            shared_extended_property=q.getlist("sharedExtendedProperty") or None,
        )
        return JSONResponse(page, media_type=_JSON)

    async def _get(self, request: Request, grant: Grant, cal: str) -> Response:
        return JSONResponse(self.store.get_event(cal, request.path_params["eventId"]), media_type=_JSON)

    async def _watch(self, request: Request, grant: Grant, cal: str) -> Response:
        self.store.get_calendar(cal)  # 404 notFound for a calendar that does not exist
        body = await _json_body(request)
        uri = f"{request.base_url}calendar/v3/calendars/{quote(cal, safe='')}/events?alt=json"
        return JSONResponse(self.channels.watch(cal, grant.user or "", body, uri), media_type=_JSON)

    async def _stop(self, request: Request, grant: Grant, cal: str) -> Response:
        self.channels.stop(grant.user or "", await _json_body(request))
        return Response(status_code=204)


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise GoogleApiError(400, "parseError", "Parse Error") from None
    if not isinstance(body, dict):
        raise GoogleApiError(400, "parseError", "Parse Error")
    return body
