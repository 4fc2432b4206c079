"""Google Calendar calls: bounded in-call retries, and the client library's
errors mapped onto the port's.

Every failure leaves as a ProviderError (FullResyncRequired, Throttled,
AuthorizationFailed with a ReconnectReason) whose message names the operation,
the status and Google's reason only: no URLs (sync tokens), no tokens, no
credentials.

Google's error bodies carry two lists: the older `error.errors[]` (`reason:
rateLimitExceeded`, domain `usageLimits`) and the newer `error.details[]`, whose
`google.rpc.ErrorInfo` spells the same thing differently (`reason:
RATE_LIMIT_EXCEEDED`, domain `googleapis.com`, `metadata.quota_limit` naming the
quota). google-api-python-client's `HttpError.error_details` holds only the
first of `details`, `errors` it finds, so errors are classified from the whole
body (`GoogleErrorBody`), never from `error_details` alone.

What each failure becomes:
- quotas (403/429 rate limits, per user or per project; 403 dailyLimitExceeded,
  quotaExceeded) → Throttled. Per-minute limits are retried in the call with
  exponential backoff and jitter (Google's advice), then left to the worker;
  the daily quota resets at midnight Pacific time, so it says so in
  `retry_after` and is not retried in the call; Calendar's usage limits
  (quotaExceeded) lift after a cool-off of minutes (`USAGE_LIMIT_COOL_OFF`);
- 5xx, transport errors, a token endpoint's 5xx → transient ProviderError;
- 410 on events.list → FullResyncRequired;
- the token endpoint's refusals and the API's 401/403/404 → AuthorizationFailed
  with the reason a person can act on (see `token_refusal` and `_http_error`)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from typing import Any
from zoneinfo import ZoneInfo

import google.auth.exceptions
import httplib2
import structlog
from googleapiclient.errors import HttpError

from service.clock import Clock
from service.sync.port import (
    UNLIMITED,
    AuthorizationFailed,
    CalendarRef,
    CallBudget,
    FullResyncRequired,
    ProviderError,
    ReconnectReason,
    Throttled,
)

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[Any]]
# Per-minute rate limits: errors[].reason (older) and ErrorInfo / status (newer).
_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED", "RESOURCE_EXHAUSTED"})
_DAILY_REASONS = frozenset({"dailyLimitExceeded", "dailyLimitExceededUnreg"})
_USAGE_REASONS = frozenset({"quotaExceeded"})  # Calendar usage limits (not the API quota)
_QUOTA_REASONS = _RATE_REASONS | _DAILY_REASONS | _USAGE_REASONS
_SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
_DISABLED_REASONS = frozenset({"accessNotConfigured", "SERVICE_DISABLED", "API_KEY_SERVICE_BLOCKED"})
# Google's quotas reset at midnight Pacific time.
QUOTA_DAY_ZONE = ZoneInfo("America/Los_Angeles")
USAGE_LIMIT_COOL_OFF = 15 * 60.0  # seconds: Calendar usage limits lift after minutes, not seconds
# Calendar-level operations: a 404 there means the calendar (its user) is gone, not an event.
CALENDAR_OPS = frozenset({"events.list", "events.watch"})
R = ReconnectReason


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """In-call retries for throttling and 5xx. Bounded: past these the error goes
    to the worker, whose own backoff spans minutes, not seconds."""

    attempts: int = 4  # tries per request, the first included
    base: float = 1.0  # seconds: 1, 2, 4… (Google's recommended schedule)
    cap: float = 16.0
    jitter: float = 1.0  # plus up to this many seconds at random
    max_retry_after: float = 60.0  # a longer Retry-After is left to the worker


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True, slots=True)
class GoogleErrorBody:
    """What a Google error body says: every reason from `errors[]` and from the
    ErrorInfo entries of `details[]`, the canonical `status`, and the quota an
    ErrorInfo names (`metadata.quota_limit`, e.g. defaultPerMinutePerUser)."""

    reasons: tuple[str, ...] = ()
    status: str = ""
    quota_limit: str = ""

    @classmethod
    def parse(cls, content: bytes | str | None) -> GoogleErrorBody:
        try:
            data = json.loads(content or b"{}")
        except (TypeError, ValueError, UnicodeDecodeError):
            return cls()
        if isinstance(data, list) and data:  # a batch answer: the first error
            data = data[0]
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            return cls()
        reasons: list[str] = []
        quota_limit = ""
        for item in _dicts(error.get("errors")):
            reasons.append(str(item.get("reason") or ""))
        for item in _dicts(error.get("details")):
            if str(item.get("@type", "")).endswith("google.rpc.ErrorInfo"):
                reasons.append(str(item.get("reason") or ""))
                metadata = item.get("metadata")
                if isinstance(metadata, dict) and not quota_limit:
                    quota_limit = str(metadata.get("quota_limit") or "")
        status = error.get("status")
        return cls(tuple(r for r in reasons if r), status if isinstance(status, str) else "", quota_limit)

    def any(self, names: Iterable[str]) -> bool:
        wanted = set(names)
        return bool(wanted & set(self.reasons)) or self.status in wanted

    @property
    def reason(self) -> str:
        """The reason to name in messages: the older, more specific one first."""
        return self.reasons[0] if self.reasons else self.status

    @property
    def daily(self) -> bool:
        limit = self.quota_limit.lower()
        return self.any(_DAILY_REASONS) or "perday" in limit or "per day" in limit


def _dicts(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


class GoogleCalls:
    """Runs the synchronous client library's requests in a worker thread, retrying
    what Google asks to be retried."""

    def __init__(
        self,
        *,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        retry: RetryPolicy = DEFAULT_RETRY,
        budget: CallBudget = UNLIMITED,
    ) -> None:
        self._clock = clock
        self._budget = budget
        self._sleep = sleep
        self._rng = rng
        self._retry = retry

    async def call(self, calendar: CalendarRef, op: str, http: Any, send: Callable[[Any], Any]) -> Any:
        attempt = 0
        while True:
            await self._budget.spend("google", calendar.external_id)
            try:
                return await asyncio.to_thread(send, http)
            except Exception as exc:
                error = self.translate(op, exc, calendar.connection_kind)
            attempt += 1
            retryable = error.transient and not isinstance(error, FullResyncRequired) and attempt < self._retry.attempts
            delay = self._delay(attempt, error.retry_after) if retryable else None
            if delay is None:
                log.warning(
                    "google.failed",
                    calendar_id=calendar.calendar_id,
                    op=op,
                    status=error.status,
                    error=str(error),
                    reason=getattr(getattr(error, "reason", None), "value", None),
                    attempts=attempt,
                )
                raise error
            log.info(
                "google.retry",
                calendar_id=calendar.calendar_id,
                op=op,
                status=error.status,
                attempt=attempt,
                delay=round(delay, 3),
            )
            await self._sleep(delay)

    def _delay(self, attempt: int, retry_after: float | None) -> float | None:
        policy = self._retry
        if retry_after is not None:
            return retry_after if retry_after <= policy.max_retry_after else None
        return min(policy.cap, policy.base * 2 ** (attempt - 1)) + self._rng() * policy.jitter

    def translate(self, op: str, exc: Exception, kind: str = "user") -> ProviderError:
        """The port's error for what the client library raised; `kind` is the grant's
        (user: a person's refresh token; org: domain-wide delegation)."""
        if isinstance(exc, HttpError):
            return self._http_error(op, exc, kind)
        if isinstance(exc, google.auth.exceptions.RefreshError):
            return token_refusal(f"google {op}: token refresh", exc, kind)
        if isinstance(exc, (google.auth.exceptions.TransportError, httplib2.HttpLib2Error, HTTPException, OSError)):
            return ProviderError(f"google {op}: transport error ({type(exc).__name__})")
        return ProviderError(f"google {op}: unexpected {type(exc).__name__}", transient=False)

    def _http_error(self, op: str, exc: HttpError, kind: str) -> ProviderError:
        status = int(exc.resp.status)
        body = GoogleErrorBody.parse(exc.content)
        message = f"google {op}: {status} {body.reason}".rstrip()
        if status == 410 and op == "events.list":
            return FullResyncRequired(message)
        if status == 429 or (status == 403 and body.any(_QUOTA_REASONS)):
            return Throttled(message, status=status, retry_after=self._quota_wait(body, exc.resp))
        if status == 401:  # AuthorizedHttp already refreshed the token and retried
            return AuthorizationFailed(message, reason=R.consent_withdrawn, status=401)
        if status == 403:
            return AuthorizationFailed(message, reason=_forbidden_reason(body, kind), status=403)
        if status == 404 and op in CALENDAR_OPS:
            # No calendar by this id: the user was deleted or renamed (Google's calendar
            # id is the primary address), or has no calendar at all.
            return AuthorizationFailed(message, reason=R.user_not_found, status=404)
        if status >= 500:
            return ProviderError(message, status=status, retry_after=self._retry_after(exc.resp))
        return ProviderError(message, status=status, transient=False)

    def _quota_wait(self, body: GoogleErrorBody, resp: Any) -> float | None:
        """How long a quota error asks to wait: Retry-After when Google sends one; the
        daily quota until it resets; Calendar's usage limits a cool-off; a per-minute
        limit nothing (exponential backoff)."""
        stated = self._retry_after(resp)
        if stated is not None:
            return stated
        if body.daily:
            return until_quota_day_ends(self._clock.now())
        if body.any(_USAGE_REASONS):
            return USAGE_LIMIT_COOL_OFF
        return None

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


def _forbidden_reason(body: GoogleErrorBody, kind: str) -> ReconnectReason:
    if body.any(_DISABLED_REASONS):
        return R.app_misconfigured  # the Calendar API is not enabled in the project
    if body.any(_SCOPE_REASONS):
        # The token lacks the calendar scope: the person consented to less, or the
        # admin delegated less (Google checks delegated scopes at the token endpoint,
        # so for org grants this is rare).
        return R.delegation_denied if kind == "org" else R.consent_withdrawn
    if body.any(("notACalendarUser",)):
        return R.no_mailbox  # the user has no Google Calendar (service off for them)
    return R.forbidden


def until_quota_day_ends(now: datetime) -> float:
    """Seconds from `now` to the next midnight in Pacific time, when Google's daily quotas reset."""
    local = now.astimezone(QUOTA_DAY_ZONE)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), QUOTA_DAY_ZONE)
    # Subtract in UTC: within one zone Python subtracts wall-clock times, which is off
    # by an hour on the days daylight saving starts or ends.
    return max(60.0, (midnight.astimezone(UTC) - now.astimezone(UTC)).total_seconds())


# -- the token endpoint ------------------------------------------------------------------------------
# Domain-wide delegation's invalid_grant descriptions that blame the assertion itself (the
# service account's key, or our clock), not the impersonated user.
_KEY_PROBLEMS = ("invalid jwt", "account not found")


def token_refusal(what: str, exc: google.auth.exceptions.RefreshError, kind: str) -> ProviderError:
    """google-auth's RefreshError as the port's error. Its first argument quotes the
    token endpoint's answer ("invalid_grant: Token has been expired or revoked."), its
    second is that answer parsed; only the error code is quoted back."""
    data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    raw = data.get("error") or (str(exc.args[0]).split(":", 1)[0] if exc.args else "")
    code = error_code(raw)
    if getattr(exc, "retryable", False):
        return ProviderError(f"{what} failed ({code})")
    description = str(data.get("error_description") or "").lower()
    reason, why = token_error_reason(code, description, kind)
    return AuthorizationFailed(f"{what} refused ({code}: {why})", reason=reason, status=401)


def token_error_reason(code: str, description: str = "", kind: str = "user") -> tuple[ReconnectReason, str]:
    """(reason, a fixed phrase saying why) for an OAuth token endpoint's error code."""
    if kind == "org":
        if code == "invalid_grant":
            if any(problem in description for problem in _KEY_PROBLEMS):
                if "short-lived" in description or "timeframe" in description:
                    return R.app_misconfigured, "the assertion's time is off: check the server's clock"
                return R.app_misconfigured, "the service account or its key is gone"
            # "Invalid email or User ID": the subject is no primary address of an active
            # user (an alias, renamed, suspended or deleted).
            return R.user_not_found, "no active user has this primary address"
        if code in ("unauthorized_client", "access_denied", "admin_policy_enforced"):
            return R.delegation_denied, "domain-wide delegation does not cover this client or scope"
        if code in ("invalid_client", "invalid_scope", "disabled_client"):
            return R.app_misconfigured, "the service account is refused"
        return R.forbidden, "refused"
    if code == "invalid_grant":
        return R.consent_withdrawn, "the grant was revoked or expired"
    if code in ("invalid_client", "unauthorized_client", "invalid_scope", "disabled_client"):
        return R.app_misconfigured, "this server's OAuth client is refused"
    if code == "admin_policy_enforced":
        return R.forbidden, "the Workspace admin blocks this app"
    return R.consent_withdrawn, "refused"


def error_code(value: Any) -> str:
    """An OAuth error code (invalid_grant…) fit for a message; anything else is not quoted."""
    code = str(value or "").strip()
    return code if code and code.replace("_", "").isalpha() and len(code) <= 40 else "refused"
