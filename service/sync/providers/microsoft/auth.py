"""Access tokens for Microsoft Graph (MSAL); the per-user connect flow is in `consent`.

Grants (`CalendarRef.connection_kind`):
- "org": app-only, client-credentials flow. `credentials` is either the client
  secret alone (tenant and client id come from settings) or a JSON object
  `{"tenant_id", "client_id", "client_secret"}` whose missing keys fall back to
  settings, so one deployment can hold org grants for several tenants. The
  tenant must be the organisation's: `common`, `organizations` and `consumers`
  name none (Entra: AADSTS50059) and are refused here as app_misconfigured. MSAL
  caches the app token; we drop it after Graph answers 401, or before a call
  once it has expired on the injected clock (token_expiry.py).
- "user": delegated. `credentials` is the user's refresh token, redeemed by our
  web app (client id/secret and tenant from settings). Access tokens are kept
  here, keyed by a hash of the refresh token, with their expiry on the injected
  clock, in a bounded LRU. Entra hands out a new refresh token on every
  redemption: we use the newest one in-process and pass it to
  `on_refresh_token` so the caller can store it (the old one keeps working
  until its own expiry). MSAL also files everything a redemption returns
  (refresh, access and id tokens, the account) in the application's token
  cache, which lives as long as the process and is never read back here: each
  redemption (and each code redeemed by the connect flow) is followed by
  forgetting the accounts it left there (`forget_people`), so the cache does
  not grow by one person per user ever synced.

MSAL is synchronous and does blocking HTTP, so every call runs in a worker
thread. Each application object is long-lived (building one fetches the
authority's metadata) and guarded by its own lock: MSAL does not document its
application objects as thread-safe, and serialising also means a cold cache
costs one token request, not one per concurrent calendar.

Nothing here logs or raises with a secret, a token or an Entra error
description (which can carry user names): only error codes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import msal
import msal.authority
import structlog

from service.clock import Clock
from service.settings import MicrosoftSettings
from service.sync.port import (
    AuthorizationFailed,
    CalendarRef,
    ProviderError,
    ReconnectReason,
    RefreshTokenHook,
)
from service.sync.providers.token_expiry import SKEW, TokenExpiry

log = structlog.get_logger(__name__)

APP_SCOPES = ["https://graph.microsoft.com/.default"]
DELEGATED_SCOPES = ["Calendars.Read"]  # MSAL adds openid, profile, offline_access
# What a person consents to: their calendar, and their own user (GET /me: their id and
# every address they answer to). Syncing redeems their refresh token for the first only.
CONSENT_SCOPES = [*DELEGATED_SCOPES, "User.Read"]
# Multi-tenant authorities: fine for a person signing in, meaningless for an app-only
# token (Entra answers AADSTS50059: no tenant-identifying information).
PUBLIC_TENANTS = frozenset({"common", "organizations", "consumers"})
_R = ReconnectReason
# AADSTS codes that say precisely why Entra refuses (the `error` word alone is coarse).
_AADSTS_REASONS = {
    50034: _R.user_not_found,  # the user account does not exist in the directory
    50057: _R.user_not_found,  # the user account is disabled
    50053: _R.forbidden,  # the account is locked
    700016: _R.app_misconfigured,  # no such application in the tenant
    7000215: _R.app_misconfigured,  # invalid client secret
    7000222: _R.app_misconfigured,  # the client secret has expired
    90002: _R.app_misconfigured,  # no such tenant
    50059: _R.app_misconfigured,  # no tenant named (app-only at /common)
    70000: _R.consent_withdrawn,  # the grant is invalid (revoked, malformed)
    70008: _R.consent_withdrawn,  # the code or refresh token expired
    700082: _R.consent_withdrawn,  # the refresh token expired from inactivity
    50173: _R.consent_withdrawn,  # the grant was revoked (password reset, admin)
    9002313: _R.consent_withdrawn,  # the refresh token is malformed or unknown
}
# Entra `error` words no retry fixes, and what they mean when no code says more.
_GRANT_ERRORS = {
    "invalid_grant": _R.consent_withdrawn,
    "interaction_required": _R.consent_withdrawn,
    "consent_required": _R.consent_withdrawn,
    "login_required": _R.consent_withdrawn,
    "access_denied": _R.consent_withdrawn,
    "invalid_client": _R.app_misconfigured,
    "unauthorized_client": _R.app_misconfigured,
    "invalid_scope": _R.app_misconfigured,
    "invalid_request": _R.app_misconfigured,
    "invalid_tenant": _R.app_misconfigured,
    "unsupported_grant_type": _R.app_misconfigured,
}


@dataclass(frozen=True, slots=True)
class AppCredentials:
    tenant: str
    client_id: str
    client_secret: str = field(repr=False)

    @property
    def key(self) -> tuple[str, str, str]:
        # The secret only as a digest: keys end up in debuggers and reprs.
        return (self.tenant, self.client_id, _digest(self.client_secret))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def org_credentials(settings: MicrosoftSettings, credentials: str) -> AppCredentials:
    """An org grant's credentials: a bare client secret or a JSON object (see module doc)."""
    text = (credentials or "").strip()
    given: dict[str, Any] = {}
    if text.startswith("{"):
        try:
            given = json.loads(text)
        except ValueError:
            raise AuthorizationFailed("org credentials are not valid JSON", reason=_R.app_misconfigured) from None
        if not isinstance(given, dict):
            raise AuthorizationFailed("org credentials are not a JSON object", reason=_R.app_misconfigured)
    secret = given.get("client_secret") if given else text
    creds = AppCredentials(
        tenant=str(given.get("tenant_id") or settings.tenant_id),
        client_id=str(given.get("client_id") or settings.client_id),
        client_secret=str(secret or settings.client_secret.get_secret_value()),
    )
    if not creds.client_id or not creds.client_secret:
        raise AuthorizationFailed("org credentials lack a client id or secret", reason=_R.app_misconfigured)
    if creds.tenant.strip().lower() in PUBLIC_TENANTS or not creds.tenant.strip():
        raise AuthorizationFailed(
            f"app-only access needs the organisation's Entra tenant id, not {creds.tenant or 'none'!r} "
            "(run `oneonone calendars connect-all --tenant <tenant id>`)",
            reason=_R.app_misconfigured,
        )
    return creds


def web_app_credentials(settings: MicrosoftSettings) -> AppCredentials:
    """Our own registered web app: redeems users' codes and refresh tokens."""
    return AppCredentials(settings.tenant_id, settings.client_id, settings.client_secret.get_secret_value())


class MsalApps:
    """One long-lived ConfidentialClientApplication per (tenant, client id, secret)."""

    def __init__(self, settings: MicrosoftSettings, *, http_client: Any = None, timeout: float = 30.0) -> None:
        self._authority_host = settings.authority_host.rstrip("/")
        self._http_client = http_client  # None in production: MSAL's own requests session
        self._timeout = timeout
        self._apps: dict[tuple[str, str, str], tuple[msal.ConfidentialClientApplication, threading.Lock]] = {}
        self._lock = threading.Lock()

    def get(self, creds: AppCredentials) -> tuple[msal.ConfidentialClientApplication, threading.Lock]:
        """The app and its lock (blocking: builds the app on first use)."""
        with self._lock:
            held = self._apps.get(creds.key)
            if held is None:
                held = (self._build(creds), threading.Lock())
                self._apps[creds.key] = held
            return held

    def peek(self, creds: AppCredentials) -> msal.ConfidentialClientApplication | None:
        with self._lock:
            held = self._apps.get(creds.key)
        return held[0] if held else None

    def _build(self, creds: AppCredentials) -> msal.ConfidentialClientApplication:
        host = (urlsplit(self._authority_host).hostname or "").lower()
        # Microsoft's instance discovery only knows Microsoft's login hosts; any
        # other host (sovereign proxy, the sandbox's login.fake.test) serves its
        # OpenID metadata directly, so discovery must be off for it.
        known = host in msal.authority.WELL_KNOWN_AUTHORITY_HOSTS
        kwargs: dict[str, Any] = {"instance_discovery": None if known else False}
        if self._http_client is not None:
            kwargs["http_client"] = self._http_client
        else:
            kwargs["timeout"] = self._timeout
        try:
            return msal.ConfidentialClientApplication(
                creds.client_id,
                client_credential=creds.client_secret,
                authority=f"{self._authority_host}/{creds.tenant}",
                **kwargs,
            )
        except ValueError as exc:
            # Unknown tenant or authority: MSAL says so in a ValueError without secrets.
            raise AuthorizationFailed(
                f"Entra authority rejected: {type(exc).__name__}", reason=_R.app_misconfigured
            ) from None
        except Exception as exc:
            raise ProviderError(f"Entra metadata unavailable: {type(exc).__name__}") from None


def _check(result: dict[str, Any] | None, what: str, *, app_only: bool = False) -> dict[str, Any]:
    """An MSAL result, or the matching ProviderError (error code only, never the description)."""
    if result and "access_token" in result:
        return result
    error = (result or {}).get("error") or "no_token"
    codes = (result or {}).get("error_codes") or []
    detail = f"{what}: {error}" + (f" (AADSTS{codes[0]})" if codes else "")
    reason = next((_AADSTS_REASONS[c] for c in codes if c in _AADSTS_REASONS), None) or _GRANT_ERRORS.get(error)
    if reason is None:
        raise ProviderError(detail, transient=True)
    if app_only and reason is _R.consent_withdrawn:
        reason = _R.delegation_denied  # no person consented: the admin's consent does not cover it
    raise AuthorizationFailed(detail, reason=reason)


def forget_people(app: msal.ConfidentialClientApplication) -> None:
    """Drop every person's tokens and account from `app`'s MSAL cache (the caller
    holds the app's lock). App-only tokens belong to no account and stay."""
    cache = app.token_cache
    for account in list(cache.search(msal.TokenCache.CredentialType.ACCOUNT)):
        app.remove_account(account)


async def in_thread(fn: Callable[[], dict[str, Any] | None], what: str, *, app_only: bool = False) -> dict[str, Any]:
    try:
        result = await asyncio.to_thread(fn)
    except ProviderError:
        raise
    except Exception as exc:
        raise ProviderError(f"{what}: {type(exc).__name__}", transient=True) from None
    return _check(result, what, app_only=app_only)


@dataclass
class _UserToken:
    access_token: str = field(repr=False)
    expires_at: datetime
    refresh_token: str = field(repr=False)  # the newest one Entra gave us


class GraphTokens:
    """Access tokens for calendars' grants: app-only through MSAL's cache,
    delegated through our own (see module doc)."""

    max_cached_users = 10_000

    def __init__(
        self,
        settings: MicrosoftSettings,
        *,
        clock: Clock,
        http_client: Any = None,
        on_refresh_token: RefreshTokenHook | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._apps = MsalApps(settings, http_client=http_client)
        self._app_expiry = TokenExpiry(clock)
        self._on_refresh_token = on_refresh_token
        # refresh-token digest → token; LRU-bounded since every rotation adds a key.
        self._users: OrderedDict[str, _UserToken] = OrderedDict()
        self._user_locks: dict[int, asyncio.Lock] = {}  # per calendar: bounded by the calendars synced

    async def access_token(self, calendar: CalendarRef) -> str:
        if calendar.connection_kind == "org":
            return await self._app_token(org_credentials(self._settings, calendar.credentials))
        if calendar.connection_kind == "user":
            return await self._user_token(calendar)
        raise AuthorizationFailed(f"unknown connection kind {calendar.connection_kind!r}", reason=_R.forbidden)

    def invalidate(self, calendar: CalendarRef) -> None:
        """Forget the cached access token after Graph rejected it (401)."""
        if calendar.connection_kind == "user":
            held = self._users.get(_digest(calendar.credentials))
            if held is not None:
                held.access_token = ""  # keep the newest refresh token, drop the access token
            return
        try:
            app = self._apps.peek(org_credentials(self._settings, calendar.credentials))
        except AuthorizationFailed:
            return
        if app is not None:
            app.remove_tokens_for_client()  # all of this app's tokens: they are one and the same grant

    async def _app_token(self, creds: AppCredentials) -> str:
        def acquire() -> dict[str, Any] | None:
            app, lock = self._apps.get(creds)
            with lock:
                if self._app_expiry.stale(creds.key):
                    app.remove_tokens_for_client()
                result = app.acquire_token_for_client(scopes=APP_SCOPES)  # served from MSAL's cache when fresh
                if result and "access_token" in result:
                    self._app_expiry.note(creds.key, result["access_token"], float(result.get("expires_in") or 0))
                return result

        return (await in_thread(acquire, "app-only token", app_only=True))["access_token"]

    async def _user_token(self, calendar: CalendarRef) -> str:
        key = _digest(calendar.credentials)
        lock = self._user_locks.setdefault(calendar.calendar_id, asyncio.Lock())
        async with lock:  # one redemption per calendar at a time; the others reuse its result
            held = self._users.get(key)
            if held is not None:
                self._users.move_to_end(key)
                if held.access_token and self._clock.now() < held.expires_at - SKEW:
                    return held.access_token
            refresh_token = held.refresh_token if held else calendar.credentials
            creds = web_app_credentials(self._settings)

            def redeem() -> dict[str, Any] | None:
                app, app_lock = self._apps.get(creds)
                with app_lock:
                    try:
                        return app.acquire_token_by_refresh_token(refresh_token, scopes=DELEGATED_SCOPES)
                    finally:
                        forget_people(app)

            result = await in_thread(redeem, "delegated token")
            rotated = result.get("refresh_token") or refresh_token
            entry = _UserToken(
                result["access_token"],
                self._clock.now() + timedelta(seconds=int(result.get("expires_in") or 0)),
                rotated,
            )
            # Under the stored token's digest and the rotated one's: once the caller
            # stores the rotated token, its next CalendarRef still hits the cache.
            for alias in {key, _digest(rotated)}:
                self._users[alias] = entry
                self._users.move_to_end(alias)
            while len(self._users) > self.max_cached_users:
                self._users.popitem(last=False)
        if rotated != refresh_token and self._on_refresh_token is not None:
            try:
                await self._on_refresh_token(calendar, rotated)
            except Exception:
                log.warning("graph.refresh_token_not_stored", calendar_id=calendar.calendar_id)
        return result["access_token"]


__all__ = [
    "CONSENT_SCOPES",
    "PUBLIC_TENANTS",
    "AppCredentials",
    "GraphTokens",
    "MsalApps",
    "forget_people",
    "in_thread",
    "org_credentials",
    "web_app_credentials",
]
