"""Google credentials: a person's refresh token or the org's service account
(domain-wide delegation, impersonating the calendar's external_id, and the
Workspace admin for Directory lookups), and the per-user connect flow (ConnectFlow).

Nothing here logs or raises with a secret, a token or a key."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any
from urllib.parse import urlencode

import httpx
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from service.clock import Clock, SystemClock
from service.settings import GoogleSettings
from service.sync.port import AuthorizationFailed, CalendarRef, Grant, ProviderError, ReconnectReason
from service.sync.providers.google.http import error_code, token_error_reason

SCOPES = ("https://www.googleapis.com/auth/calendar.readonly",)
DIRECTORY_SCOPES = ("https://www.googleapis.com/auth/admin.directory.user.readonly",)
AUTH_URI = "https://accounts.google.com/o/oauth2/v2/auth"
API_ENDPOINT = "https://www.googleapis.com/calendar/v3/"
ORG_KEYS_KEPT = 16


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest() if secret else ""


ASSERTION_LIFETIME = 3600  # seconds: a delegation assertion's exp - iat (Google's maximum)


class _ClockedServiceAccount(service_account.Credentials):
    """Service-account credentials whose assertions (the JWT `iat`/`exp` Google checks
    against its own clock) are stamped by the adapter's clock instead of the wall
    clock google-auth reads: the same in production (SystemClock), and a fake living
    on an injected clock sees assertions of its own time. Subclassed per clock
    (`_clocked`): a class attribute survives the copies google-auth makes
    (`with_subject`, `with_claims`)."""

    clock: Clock = SystemClock()

    def _make_authorization_grant_assertion(self) -> bytes:
        now = int(self.clock.now().timestamp())
        stamped = self.with_claims({"iat": now, "exp": now + ASSERTION_LIFETIME})
        return service_account.Credentials._make_authorization_grant_assertion(stamped)


def _clocked(clock: Clock) -> type[_ClockedServiceAccount]:
    return type("ClockedServiceAccountCredentials", (_ClockedServiceAccount,), {"clock": clock})


class GoogleCredentials:
    """google-auth credentials per calendar, kept between calls (they carry the
    access token): keyed by a digest of the grant too, so a reconnected calendar
    gets fresh ones."""

    def __init__(self, settings: GoogleSettings, *, clock: Clock | None = None, max_calendars: int = 4096) -> None:
        self._settings = settings
        self._service_account = _clocked(clock or SystemClock())
        self._max = max_calendars
        self._by_calendar: OrderedDict[tuple, Any] = OrderedDict()
        # Parsed service-account keys by grant digest: loading the RSA key costs ~30 ms,
        # and an org grant serves every calendar of the domain (`with_subject` is cheap).
        self._org_keys: OrderedDict[str, Any] = OrderedDict()

    def for_calendar(self, calendar: CalendarRef) -> tuple[tuple, Any]:
        """(cache key, credentials)."""
        key = (
            calendar.calendar_id,
            calendar.connection_kind,
            calendar.external_id.lower(),  # the delegation subject: a relocated user gets new credentials
            digest(calendar.credentials),
        )
        creds = self._by_calendar.get(key)
        if creds is not None:
            self._by_calendar.move_to_end(key)
            return key, creds
        self._by_calendar[key] = creds = self._build(calendar)
        while len(self._by_calendar) > self._max:
            self._by_calendar.popitem(last=False)
        return key, creds

    def _build(self, calendar: CalendarRef) -> Any:
        if calendar.connection_kind == "user":
            if not calendar.credentials:
                raise AuthorizationFailed("google: no refresh token stored for this calendar")
            settings = self._settings
            return user_credentials.Credentials(
                token=None,
                refresh_token=calendar.credentials,
                client_id=settings.client_id,
                client_secret=settings.client_secret.get_secret_value(),
                token_uri=settings.token_uri,
                scopes=list(SCOPES),
            )
        if calendar.connection_kind == "org":
            # Domain-wide delegation: act as the calendar's owner, by the primary address
            # Google knows them by (the calendar id), which may differ from our directory's.
            return self._org_key(calendar.credentials).with_subject(calendar.external_id)
        raise AuthorizationFailed(
            f"google: unknown connection kind {calendar.connection_kind!r}", reason=ReconnectReason.app_misconfigured
        )

    def for_directory(self, credentials: str, admin: str) -> tuple[tuple, Any]:
        """(cache key, credentials) reading the Workspace directory as `admin`."""
        key = ("directory", admin.lower(), digest(credentials))
        creds = self._by_calendar.get(key)
        if creds is None:
            creds = self._org_key(credentials).with_scopes(list(DIRECTORY_SCOPES)).with_subject(admin)
            self._by_calendar[key] = creds
            while len(self._by_calendar) > self._max:
                self._by_calendar.popitem(last=False)
        return key, creds

    def _org_key(self, credentials: str) -> Any:
        key = digest(credentials)
        creds = self._org_keys.get(key)
        if creds is not None:
            return creds
        try:
            info = org_grant(credentials)[0] if credentials else self._service_account_file()
            # The configured token endpoint wins over the key file's (the same in production).
            info = {**info, "token_uri": self._settings.token_uri}
            creds = self._service_account.from_service_account_info(info, scopes=list(SCOPES))
        except (ValueError, KeyError, TypeError, OSError):
            raise AuthorizationFailed(
                "google: the service-account key is unusable", reason=ReconnectReason.app_misconfigured
            ) from None
        if key:  # the process-wide key file is read afresh each time
            self._org_keys[key] = creds
            while len(self._org_keys) > ORG_KEYS_KEPT:
                self._org_keys.popitem(last=False)
        return creds

    def _service_account_file(self) -> dict[str, Any]:
        """The process-wide key (GoogleSettings.service_account_file) for org rows storing none."""
        with open(self._settings.service_account_file or "", encoding="utf-8") as handle:
            return json.load(handle)


def org_grant(credentials: str) -> tuple[dict[str, Any], str | None]:
    """An org grant as stored: the service account's JSON key, and the Workspace admin
    to act as for Directory lookups when connect-all was given one. Stored either as the
    key itself, or as {"service_account_key": key, "directory_admin": email}."""
    data = json.loads(credentials)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if isinstance(data.get("service_account_key"), dict):
        admin = data.get("directory_admin")
        return data["service_account_key"], admin if isinstance(admin, str) and admin else None
    return data, None


def org_admin(credentials: str) -> str | None:
    """The directory admin stored with an org grant, if any."""
    try:
        return org_grant(credentials)[1] if credentials else None
    except ValueError:
        return None


class GoogleConnect:
    """ConnectFlow for Google: calendar.readonly with a refresh token. The account is
    the id of the person's `primary` calendar (calendars.get), so calendar.readonly is
    the only scope asked for: no openid/email consent."""

    name = "google"

    def __init__(self, settings: GoogleSettings, *, client: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._client = client

    async def authorization_url(self, redirect_uri: str, state: str, login_hint: str | None = None) -> str:
        # access_type=offline for a refresh token; prompt=consent so a returning user gets one again.
        params = {
            "client_id": self._settings.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(SCOPES),
            "access_type": "offline",
            "prompt": "consent",
            "include_granted_scopes": "true",
            "state": state,
        }
        if login_hint:
            params["login_hint"] = login_hint
        return f"{self._settings.auth_uri}?{urlencode(params)}"

    async def exchange_code(self, code: str, redirect_uri: str) -> Grant:
        http = self._client or httpx.AsyncClient(timeout=30.0)
        try:
            refresh_token, access_token = await self._redeem(http, code, redirect_uri)
            account = await self._primary_calendar_id(http, access_token)
        finally:
            if self._client is None:
                await http.aclose()
        return Grant(refresh_token=refresh_token, account=account.lower(), scopes=" ".join(SCOPES))

    async def _redeem(self, http: httpx.AsyncClient, code: str, redirect_uri: str) -> tuple[str, str]:
        settings = self._settings
        try:
            answer = await http.post(
                settings.token_uri,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "client_id": settings.client_id,
                    "client_secret": settings.client_secret.get_secret_value(),
                },
            )
        except httpx.HTTPError as exc:
            raise ProviderError(f"google token exchange: transport error ({type(exc).__name__})") from None
        body = _json(answer)
        if answer.status_code >= 500:
            raise ProviderError(f"google token exchange: {answer.status_code}", status=answer.status_code)
        if answer.status_code != 200:
            code = error_code(body.get("error"))
            reason, _why = token_error_reason(code)
            raise AuthorizationFailed(f"google token exchange: {answer.status_code} {code}", reason=reason)
        refresh_token, access_token = body.get("refresh_token"), body.get("access_token")
        if not refresh_token or not access_token:
            raise AuthorizationFailed("google token exchange: no refresh token granted (offline access refused)")
        return refresh_token, access_token

    async def _primary_calendar_id(self, http: httpx.AsyncClient, access_token: str) -> str:
        base = (self._settings.api_endpoint or API_ENDPOINT).rstrip("/")
        try:
            answer = await http.get(f"{base}/calendars/primary", headers={"Authorization": f"Bearer {access_token}"})
        except httpx.HTTPError as exc:
            raise ProviderError(f"google calendars.get: transport error ({type(exc).__name__})") from None
        calendar_id = _json(answer).get("id")
        if answer.status_code != 200 or not isinstance(calendar_id, str) or "@" not in calendar_id:
            raise ProviderError(
                f"google calendars.get primary: {answer.status_code}",
                status=answer.status_code,
                transient=answer.status_code >= 500,
            )
        return calendar_id


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
