"""Calendar API quotas of the fake Google's one Cloud project.

Google enforces two per-minute quotas on the Calendar API, each over a sliding
minute: queries per minute per project (10,000 by default) and per minute per
user per project (600); past either, requests are refused with 403 or 429
(`usageLimits`) until the window allows them again. A per-day project quota may
also be set (it resets at midnight Pacific time, as Google's do).

Here each per-minute quota is a token bucket holding a minute's worth of
requests and refilled continuously at that rate, measured on the fake's
(injected) clock: a frozen clock never refills, so a test or simulation moves
the clock on as its workers back off. Quotas are off unless asked for:

    GoogleFake(store, quota=GoogleQuota(per_user_per_minute=600, per_project_per_minute=10_000))
    SandboxProviders(scenario, google_quota=GoogleQuota.documented())
    fake.set_quota(GoogleQuota(per_user_per_minute=5))   # at any time; buckets start full
    fake.quota_meter.stats()                            # admitted / refused, per limit

A refused request answers as Google does: per user 403 `userRateLimitExceeded`,
per project 429 `rateLimitExceeded` (`user_status` / `project_status` swap
403 and 429), per day 403 `dailyLimitExceeded`, each with an ErrorInfo
`RATE_LIMIT_EXCEEDED` naming the quota. A refused request uses no quota. The
user is the access token's (the impersonated user under domain-wide
delegation, the service account itself without)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from service.clock import Clock
from service.sandbox.errors import GoogleApiError, google_quota_exceeded

PACIFIC = ZoneInfo("America/Los_Angeles")  # Google's daily quotas reset at midnight here
DOCUMENTED_PER_USER_PER_MINUTE = 600
DOCUMENTED_PER_PROJECT_PER_MINUTE = 10_000


@dataclass(frozen=True)
class GoogleQuota:
    """Limits of the fake's project; None: unlimited (the default for each)."""

    per_user_per_minute: float | None = None
    per_project_per_minute: float | None = None
    per_project_per_day: int | None = None
    user_status: int = 403  # what a per-user refusal answers (Google: 403 or 429)
    project_status: int = 429  # what a per-project refusal answers

    @classmethod
    def documented(cls) -> GoogleQuota:
        """Google's documented defaults: 600 queries per minute per user, 10,000 per project."""
        return cls(
            per_user_per_minute=DOCUMENTED_PER_USER_PER_MINUTE,
            per_project_per_minute=DOCUMENTED_PER_PROJECT_PER_MINUTE,
        )

    @property
    def enabled(self) -> bool:
        return any(
            v is not None for v in (self.per_user_per_minute, self.per_project_per_minute, self.per_project_per_day)
        )


class _Bucket:
    __slots__ = ("capacity", "rate", "tokens", "at")

    def __init__(self, per_minute: float, now: datetime) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens a second
        self.tokens = self.capacity
        self.at = now

    def refill(self, now: datetime) -> None:
        elapsed = (now - self.at).total_seconds()
        if elapsed > 0:
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
            self.at = now


class QuotaMeter:
    """The buckets for one GoogleQuota. Thread-safe."""

    def __init__(self, quota: GoogleQuota, clock: Clock) -> None:
        self.quota = quota
        self.clock = clock
        self._users: dict[str, _Bucket] = {}
        self._project: _Bucket | None = None
        self._day: tuple[object, int] | None = None  # (Pacific date, requests that day)
        self._stats: Counter[str] = Counter()
        self._lock = threading.Lock()

    def take(self, user: str) -> GoogleApiError | None:
        """Count one request by `user`; the error to answer with if a quota is spent."""
        quota = self.quota
        if not quota.enabled:
            return None
        now = self.clock.now()
        with self._lock:
            user_bucket = project = None
            if quota.per_user_per_minute is not None:
                user_bucket = self._users.get(user)
                if user_bucket is None:
                    user_bucket = self._users[user] = _Bucket(quota.per_user_per_minute, now)
                user_bucket.refill(now)
                if user_bucket.tokens < 1:
                    return self._refuse(
                        "per_user", quota.user_status, "defaultPerMinutePerUser", quota.per_user_per_minute
                    )
            if quota.per_project_per_minute is not None:
                if self._project is None:
                    self._project = _Bucket(quota.per_project_per_minute, now)
                project = self._project
                project.refill(now)
                if project.tokens < 1:
                    return self._refuse(
                        "per_project", quota.project_status, "defaultPerMinutePerProject", quota.per_project_per_minute
                    )
            if quota.per_project_per_day is not None:
                today = now.astimezone(PACIFIC).date()
                used = self._day[1] if self._day is not None and self._day[0] == today else 0
                if used >= quota.per_project_per_day:
                    return self._refuse("per_day", 403, "defaultPerDayPerProject", quota.per_project_per_day)
                self._day = (today, used + 1)
            for bucket in (user_bucket, project):
                if bucket is not None:
                    bucket.tokens -= 1
            self._stats["admitted"] += 1
        return None

    def _refuse(self, kind: str, status: int, limit: str, value: float) -> GoogleApiError:
        self._stats[f"refused_{kind}"] += 1
        return google_quota_exceeded(status, limit, value)

    def stats(self) -> dict[str, int]:
        """Requests admitted, and refused per limit (refused_per_user, refused_per_project, refused_per_day)."""
        with self._lock:
            return {"admitted": 0, "refused_per_user": 0, "refused_per_project": 0, "refused_per_day": 0, **self._stats}
