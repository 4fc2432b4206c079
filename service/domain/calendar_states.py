"""A calendar's sync state, and how failures move it (pure rules; the worker applies them).

- `active`: syncs when a change is notified, and polls every `poll_minutes`.
- `backing_off`: transient failures (throttling, 5xx, the network, anything the
  provider did not call permanent) are retried at `retry_at`, with delays growing
  to `max_backoff_seconds`; a calendar failing like that for over a day is
  *stalled* and shows so in the calendars listing, but keeps being retried.
- `needs_reconnect`: the grant cannot read the calendar; `reason` says why in
  words a person can act on. Failures that can heal without anyone touching the
  service (delegation still propagating, a user re-enabled, a licence restored, an
  org grant fixed at the provider) are probed at growing intervals up to a day; a
  person's withdrawn consent is not: they reconnect, or an admin runs
  `calendars retry` or `connect-all`.
- `disabled`: not synced (the person disconnected it).
A successful sync makes any of the first three `active` again."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from datetime import datetime, timedelta


class CalendarState(str, enum.Enum):
    active = "active"
    backing_off = "backing_off"
    needs_reconnect = "needs_reconnect"
    disabled = "disabled"


class ReconnectReason(str, enum.Enum):
    """Why a calendar cannot be read until something outside the service changes."""

    consent_withdrawn = "consent_withdrawn"  # the grant was revoked or expired
    user_not_found = "user_not_found"  # no such user or calendar (deleted, disabled, renamed)
    no_mailbox = "no_mailbox"  # the user has no calendar service (licence missing, mailbox disabled)
    delegation_denied = "delegation_denied"  # the org grant does not cover this user or scope
    app_misconfigured = "app_misconfigured"  # the service's own app credentials are refused
    forbidden = "forbidden"  # anything else the provider refuses for good


EXPLAINED = {
    ReconnectReason.consent_withdrawn.value: "access was withdrawn or has expired: connect the calendar again",
    ReconnectReason.user_not_found.value: "the provider knows no such user (deleted, disabled or renamed)",
    ReconnectReason.no_mailbox.value: "the user has no calendar at the provider (a licence missing?)",
    ReconnectReason.delegation_denied.value: "the organisation's grant does not cover this user "
    "(delegation not allowed, or still propagating)",
    ReconnectReason.app_misconfigured.value: "the provider refused this service's app credentials",
    ReconnectReason.forbidden.value: "the provider refuses access to this calendar",
    "disconnected": "disconnected by its owner or an admin",
}

STALLED_AFTER = timedelta(days=1)
PROBE_FIRST = timedelta(hours=1)
PROBE_LONGEST = timedelta(days=1)


def explain(reason: str | None) -> str | None:
    return EXPLAINED.get(reason or "", reason)


def heals(reason: ReconnectReason, connection_kind: str) -> bool:
    """Whether it is worth probing: everything but a person's own withdrawn consent."""
    return not (reason is ReconnectReason.consent_withdrawn and connection_kind == "user")


def stalled(status: str, failing_since: datetime | None, now: datetime) -> bool:
    return (
        status == CalendarState.backing_off.value and failing_since is not None and now - failing_since > STALLED_AFTER
    )


@dataclass(frozen=True, slots=True)
class Failure:
    """What the provider said: `reason` set for a permanent refusal."""

    message: str
    reason: ReconnectReason | None = None
    retry_after: float | None = None


def after_failure(
    failure: Failure,
    *,
    failures: int,
    failing_since: datetime | None,
    connection_kind: str,
    now: datetime,
    max_backoff: float,
    rng: random.Random,
) -> dict:
    """The calendar's columns after one more failure (`failures` counts it)."""
    values = {
        "failures": failures,
        "failing_since": failing_since or now,
        "last_error": failure.message[:500],
        "last_error_at": now,
    }
    if failure.reason is None:
        retry = now + timedelta(seconds=backoff(failures, failure.retry_after, max_backoff, rng))
        return {**values, "status": CalendarState.backing_off.value, "status_reason": None, "backoff_until": retry}
    probe = None
    if heals(failure.reason, connection_kind):
        delay = min(PROBE_LONGEST, PROBE_FIRST * 2 ** min(failures - 1, 10))
        probe = now + delay * rng.uniform(0.9, 1.1)
    return {
        **values,
        "status": CalendarState.needs_reconnect.value,
        "status_reason": failure.reason.value,
        "backoff_until": probe,
    }


def backoff(failures: int, retry_after: float | None, max_backoff: float, rng: random.Random) -> float:
    """Seconds: exponential with jitter, capped; the provider's Retry-After wins."""
    if retry_after is not None:
        return min(retry_after, max_backoff)
    ceiling = min(max_backoff, 30 * 2 ** min(failures, 20))
    return rng.uniform(ceiling / 2, ceiling)


RECOVERED = {
    "status": CalendarState.active.value,
    "status_reason": None,
    "failures": 0,
    "failing_since": None,
    "backoff_until": None,
    "last_error": None,
}
