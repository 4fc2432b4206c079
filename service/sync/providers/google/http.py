"""Google Calendar calls: bounded in-call retries, and the client library's
errors mapped onto the port's.

Every failure leaves as a ProviderError (FullResyncRequired, AuthorizationFailed)
whose message names the operation, the status and Google's reason only: no URLs
(sync tokens), no tokens, no credentials."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from typing import Any

import google.auth.exceptions
import httplib2
import structlog
from googleapiclient.errors import HttpError

from service.clock import Clock
from service.sync.port import AuthorizationFailed, CalendarRef, FullResyncRequired, ProviderError, ReconnectReason

log = structlog.get_logger(__name__)

_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
Sleep = Callable[[float], Awaitable[Any]]


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
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._retry = retry

    async def call(self, calendar: CalendarRef, op: str, http: Any, send: Callable[[Any], Any]) -> Any:
        attempt = 0
        while True:
            try:
                return await asyncio.to_thread(send, http)
            except Exception as exc:
                error = self._translate(op, exc)
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

    def _translate(self, op: str, exc: Exception) -> ProviderError:
        if isinstance(exc, HttpError):
            return self._http_error(op, exc)
        if isinstance(exc, google.auth.exceptions.RefreshError):
            # The library's message may quote the token endpoint's answer: keep only its error code.
            code = error_code(str(exc.args[0]).split(":", 1)[0] if exc.args else "")
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
            return AuthorizationFailed(message, reason=ReconnectReason.forbidden, status=403)
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


def error_code(value: Any) -> str:
    """An OAuth error code (invalid_grant…) fit for a message; anything else is not quoted."""
    code = str(value or "").strip()
    return code if code and code.replace("_", "").isalpha() and len(code) <= 40 else "refused"
