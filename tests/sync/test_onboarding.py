"""An organisation's first `connect-all`: every calendar's full sync at once, against
fakes that enforce the providers' quotas, with the budget all workers share
(service.sync.budget). The fakes' quotas and the budget run on one simulated time
that moves on when the budget waits (and with the wall clock otherwise), so pacing
costs the test no waiting, and quotas refill as they would at the provider."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from service.db.models import Calendar
from service.domain.connections import connect_org
from service.runtime import build_worker, close_worker
from service.sandbox.google_quota import GoogleQuota
from service.sandbox.providers import SandboxProviders
from service.sandbox.serve import LoopbackServer
from service.security.crypto import Vault
from service.settings import QuotaSettings, SyncSettings
from service.sync.budget import DatabaseBudget
from service.sync.registry import ProviderSet
from tests.conftest import T0
from tests.sync.runtime_world import sandbox_settings


class SimulatedTime:
    """The service's and the fakes' clock and the budget's wall clock: the wall clock
    from T0, plus every wait the budget makes, which takes no real time."""

    def __init__(self, at: datetime) -> None:
        self._at, self._started, self.waited = at, time.monotonic(), 0.0

    def seconds(self) -> float:
        return time.monotonic() - self._started + self.waited

    def now(self) -> datetime:
        return self._at + timedelta(seconds=self.seconds())

    def wall(self) -> float:
        return 1_000_000 + self.seconds()

    async def sleep(self, seconds: float) -> None:
        self.waited += seconds
        await asyncio.sleep(0)


async def _onboard(db_url, sessions, people: int, quota: GoogleQuota, budget: QuotaSettings, workers: int = 2):
    """connect-all for `people` Google calendars, then `workers` workers (each its own
    adapters and budget, as in separate processes) draining at once. Returns (statuses
    by count, the fake's quota meter, real seconds, simulated seconds waited)."""
    clock = SimulatedTime(T0)
    async with SandboxProviders(clock=clock, google_quota=quota) as sandbox:
        server = LoopbackServer(_Nothing(), name="onboarding-webhooks")  # channels' address; no delivery
        settings = sandbox_settings(
            sandbox, db_url, public_base_url=server.base_url, sync=SyncSettings(batch_size=20, quota=budget)
        )
        emails = [f"p{n:04d}@acme.test" for n in range(people)]
        for email in emails:
            sandbox.add_person(email, "google")
        async with sessions() as s:
            from tests.factories import Factory

            factory = Factory(sessions, clock)
            for email in emails:
                await factory.person(email=email)
            key = json.dumps(dict(sandbox.google_connection().service_account_info))
            await connect_org(
                s, Vault(settings.secret_key.get_secret_value()), provider="google", secret=key, now=clock.now()
            )
            await s.commit()
        built = [
            build_worker(
                settings,
                sessions,
                clock,
                providers=ProviderSet(
                    settings,
                    clock,
                    budget=DatabaseBudget.from_settings(sessions, budget, wall=clock.wall, sleep=clock.sleep),
                ),
            )
            for _ in range(workers)
        ]
        started = time.monotonic()
        try:
            await asyncio.gather(*(w.drain(max_rounds=10_000) for w in built))
        finally:
            for w in built:
                await close_worker(w)
        elapsed = time.monotonic() - started
        async with sessions() as s:
            statuses = dict((await s.execute(select(Calendar.status, func.count()).group_by(Calendar.status))).all())
        return statuses, sandbox.google.quota_meter.stats(), elapsed, clock.waited


class _Nothing:
    async def __call__(self, scope, receive, send):  # pragma: no cover - nothing is delivered here
        return None


@pytest.mark.slow
@pytest.mark.postgres
async def test_two_thousand_calendars_onboard_under_googles_documented_quotas(db_url, sessions):
    if not db_url.startswith("postgresql"):
        pytest.skip("production's database: several workers claim with SKIP LOCKED and share one budget")
    statuses, meter, elapsed, waited = await _onboard(db_url, sessions, 2000, GoogleQuota.documented(), QuotaSettings())
    assert statuses == {"active": 2000}  # none backing off, none needing a reconnect
    refused = meter["refused_per_user"] + meter["refused_per_project"]
    calls = meter["admitted"] / 2000
    print(
        f"onboarding: 2000 calendars in {elapsed:.1f} s (+{waited:.1f} s of pacing), "
        f"{calls:.2f} provider calls each, {refused} refused"
    )
    assert refused == 0 and calls <= 2.5  # a full listing and a watch channel each


async def test_the_shared_budget_keeps_an_onboarding_under_the_quota(db_url, sessions):
    """Scaled down: the fake project allows 120 calls a minute (a minute's burst, then 2 a
    second); 200 calendars need ~400 calls, far more than the burst. With the budget
    (100 a minute across both workers) the fake refuses none, every calendar ends
    active, and the calls were spread over minutes of (simulated) time."""
    quota = GoogleQuota(per_project_per_minute=120)
    statuses, meter, _, waited = await _onboard(
        db_url, sessions, 200, quota, QuotaSettings(google_per_minute=100, batch=2)
    )
    assert statuses == {"active": 200}
    assert meter["refused_per_project"] == 0 and meter["admitted"] >= 400
    # ~400 calls at 100 a minute, less a burst and the seconds the test really took: minutes
    assert waited > 150
