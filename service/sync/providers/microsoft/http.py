"""Microsoft Graph REST over one shared httpx.AsyncClient: bearer tokens,
bounded in-call retries, and Graph's errors mapped onto the port's.

Retry policy (why: a worker holds a lease while it syncs, so waiting inline is
only worth it for short waits; longer ones go back to the scheduler):
- 429 and 5xx (and network errors) are retried up to `max_retries` times,
  honouring Retry-After (seconds or an HTTP date), otherwise exponential
  backoff with jitter; a wait longer than `max_wait` or past the retries
  becomes ProviderError(retry_after=…) for the scheduler;
- POST (not idempotent) is retried only on 429/503, which Graph answers
  before doing anything;
- 401 drops the cached access token and retries once; a second 401 is
  AuthorizationFailed;
- 410, and the delta-state error codes, are FullResyncRequired;
- a 429 that is not retried here is Throttled (with Graph's Retry-After).

Failures that no retry fixes are AuthorizationFailed with the ReconnectReason
Graph's error code names (`classify`): the user is gone (ErrorInvalidUser),
has no mailbox (MailboxNotEnabledForRESTAPI: no licence, on-premises or
disabled), or the grant may not read it (ErrorAccessDenied,
Authorization_RequestDenied: for an app-only grant the admin's consent or an
application access policy does not cover the mailbox).

Exception messages carry the operation, status and Graph error code only:
never URLs (delta and skip tokens), bodies, tokens or clientState."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

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
from service.sync.providers.microsoft.auth import GraphTokens

log = structlog.get_logger(__name__)

RESYNC_CODES = frozenset({"syncstatenotfound", "syncstateinvalid", "resyncrequired"})
_RETRYABLE = frozenset({429, 500, 502, 503, 504})
_BEFORE_PROCESSING = frozenset({429, 503})  # safe to repeat even a POST
# Graph error codes (lower-cased) that say the mailbox cannot be read until
# something outside the service changes, whatever the status they come with.
_USER_NOT_FOUND = frozenset({"errorinvaliduser", "request_resourcenotfound", "errorusernotfound"})
_NO_MAILBOX = frozenset(
    {
        "mailboxnotenabledforrestapi",
        "mailboxnotsupportedforrestapi",
        "errornonexistentmailbox",
        "errormailboxnotenabled",
        "errormailboxstoreunavailable",
    }
)
_DENIED = frozenset({"erroraccessdenied", "authorization_requestdenied", "accessdenied", "forbidden"})

Sleep = Callable[[float], Awaitable[Any]]


def error_code(response: httpx.Response) -> str:
    """Graph's `error.code` (empty when the body is not Graph's error shape)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code") or "") if isinstance(error, dict) else ""


class GraphHttp:
    def __init__(
        self,
        endpoint: str,
        tokens: GraphTokens,
        *,
        clock: Clock,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        max_retries: int = 3,
        max_wait: float = 30.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        timeout: float = 30.0,
        budget: CallBudget = UNLIMITED,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._origin = _origin(self.endpoint)
        self._tokens = tokens
        self._clock = clock
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(
            base_url=self.endpoint + "/",
            timeout=httpx.Timeout(timeout, connect=10.0),
            headers={"Accept": "application/json"},
            follow_redirects=False,
        )
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._budget = budget

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    def owns(self, link: str) -> bool:
        """Whether an absolute link (nextLink, deltaLink) points at our Graph
        endpoint: the bearer token must never go anywhere else."""
        return _origin(link) == self._origin and link.startswith(self.endpoint + "/")

    def url(self, path: str) -> str:
        return f"{self.endpoint}/{path.lstrip('/')}"

    async def request(
        self,
        calendar: CalendarRef,
        method: str,
        url: str,
        *,
        op: str,
        params: dict[str, str] | None = None,
        json: Any = None,
        prefer: Iterable[str] = (),
        accept: Iterable[int] = (),
    ) -> httpx.Response:
        """The response when 2xx or listed in `accept`; else the mapped ProviderError."""
        bound = log.bind(calendar_id=calendar.calendar_id, op=op)
        idempotent = method.upper() != "POST"
        headers = {"Prefer": ", ".join(prefer)} if prefer else {}
        reauthorized = False
        attempt = 0
        while True:
            headers["Authorization"] = f"Bearer {await self._tokens.access_token(calendar)}"
            await self._budget.spend("microsoft", calendar.external_id)
            try:
                response = await self._client.request(method, url, params=params, json=json, headers=headers)
            except httpx.TransportError as exc:
                if not idempotent or attempt >= self.max_retries:
                    raise ProviderError(
                        f"{op}: {type(exc).__name__}", transient=True, retry_after=self._backoff(attempt)
                    ) from None
                wait = self._backoff(attempt)
                bound.info("graph.retry", reason=type(exc).__name__, attempt=attempt + 1, wait=round(wait, 3))
                attempt += 1
                await self._sleep(wait)
                continue
            status = response.status_code
            if status < 300 or status in accept:
                return response
            if status == 401:
                if reauthorized:
                    raise AuthorizationFailed(
                        f"{op}: Graph rejected a fresh access token ({error_code(response)})",
                        reason=_unauthorized_reason(calendar),
                    )
                bound.info("graph.token_rejected")
                self._tokens.invalidate(calendar)
                reauthorized = True
                continue
            if status in _RETRYABLE and (idempotent or status in _BEFORE_PROCESSING):
                retry_after = self._retry_after(response)
                wait = retry_after if retry_after is not None else self._backoff(attempt)
                if attempt < self.max_retries and wait <= self.max_wait:
                    bound.info("graph.retry", status=status, attempt=attempt + 1, wait=round(wait, 3))
                    attempt += 1
                    await self._sleep(wait)
                    continue
                bound.warning("graph.gave_up", status=status, attempts=attempt + 1, retry_after=wait)
                message = f"{op}: Graph {status} {error_code(response)}".rstrip()
                if status == 429:
                    raise Throttled(message, status=status, retry_after=wait)
                raise ProviderError(message, status=status, retry_after=wait, transient=True)
            raise self.error(response, op, calendar)

    async def json(self, calendar: CalendarRef, method: str, url: str, *, op: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.request(calendar, method, url, op=op, **kwargs)
        try:
            body = response.json()
        except ValueError:
            raise ProviderError(f"{op}: Graph answered {response.status_code} without JSON") from None
        if not isinstance(body, dict):
            raise ProviderError(f"{op}: Graph answered an unexpected body")
        return body

    @staticmethod
    def error(response: httpx.Response, op: str, calendar: CalendarRef | None = None) -> ProviderError:
        """The port's error for a Graph answer that is neither 2xx nor retried."""
        status, code = response.status_code, error_code(response)
        if status == 410 or code.lower() in RESYNC_CODES:
            return FullResyncRequired(f"{op}: delta state expired ({code or status})")
        message = f"{op}: Graph {status} {code}".rstrip()
        reason = classify(status, code, calendar)
        if reason is not None:
            return AuthorizationFailed(message, reason=reason, status=status)
        if status == 429:
            return Throttled(message, status=status)
        # 400/404 and the rest of 4xx: the request or the item is wrong;
        # repeating it unchanged will not help.
        transient = status >= 500 or status in (408, 409, 412)
        return ProviderError(message, status=status, transient=transient)

    def _retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if not value:
            return None
        try:
            return max(float(value), 0.0)
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        return max((when - self._clock.now()).total_seconds(), 0.0)

    def _backoff(self, attempt: int) -> float:
        # "Equal jitter": at least half the exponential step, so retries never bunch at zero.
        step = min(self.backoff_cap, self.backoff_base * (2**attempt))
        return step / 2 + self._rng.uniform(0, step / 2)


def classify(status: int, code: str, calendar: CalendarRef | None) -> ReconnectReason | None:
    """Why Graph refuses this calendar for good (None: it does not say so)."""
    word = code.lower()
    if word in _USER_NOT_FOUND:
        return ReconnectReason.user_not_found
    if word in _NO_MAILBOX:
        return ReconnectReason.no_mailbox
    if status == 401:
        return _unauthorized_reason(calendar)
    if status == 403 and word in _DENIED:
        app_only = calendar is not None and calendar.connection_kind == "org"
        return ReconnectReason.delegation_denied if app_only else ReconnectReason.forbidden
    return None


def _unauthorized_reason(calendar: CalendarRef | None) -> ReconnectReason:
    # A fresh app-only token refused: the app registration (tenant, credentials) is
    # wrong; a delegated one: the user's consent no longer holds.
    if calendar is not None and calendar.connection_kind == "org":
        return ReconnectReason.app_misconfigured
    return ReconnectReason.consent_withdrawn


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port)


def graph_instant(dt: datetime) -> str:
    """An aware datetime as Graph's ISO 8601 UTC form."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["GraphHttp", "RESYNC_CODES", "classify", "error_code", "graph_instant"]
