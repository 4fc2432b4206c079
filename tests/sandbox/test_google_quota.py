"""The fake Google's Calendar API quotas (per user, per project, per day) on its clock."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from service.clock import FixedClock
from service.sandbox.google_quota import GoogleQuota, QuotaMeter
from service.sandbox.google_server import GoogleFake
from service.sandbox.providers import SandboxProviders
from service.sandbox.serve import LoopbackServer
from tests.sandbox.builders import LI, MAYA, OMAR, google_store, t

T0 = t("2026-01-10T09:00:00Z")  # 01:00 in Pacific time
CLIENT_ID, CLIENT_SECRET = "quota-client.apps.googleusercontent.com", "quota-secret"


@pytest.fixture(scope="module")
def env():
    clock = FixedClock(T0)
    fake = GoogleFake(google_store(MAYA, LI, OMAR), clock=clock)
    fake.auth.register_client(CLIENT_ID, CLIENT_SECRET)
    server = LoopbackServer(fake.app).start()
    yield fake, clock, server.base_url
    server.stop()
    fake.notifier.close()


@pytest.fixture
def fake(env):
    fake, clock, _base = env
    clock.set(T0)
    yield fake
    fake.set_quota(None)


def _events(env, user: str):
    fake, _clock, base = env
    token = fake.auth.issue_refresh_token(CLIENT_ID, user)
    creds = Credentials(
        None, refresh_token=token, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, token_uri=f"{base}/token"
    )
    service = build(
        "calendar", "v3", credentials=creds, static_discovery=True, cache_discovery=False,
        client_options={"api_endpoint": f"{base}/calendar/v3/"},
    )  # fmt: skip
    return lambda: service.events().list(calendarId=user, maxResults=1).execute()


def _refusal(call) -> tuple[int, dict]:
    with pytest.raises(HttpError) as refused:
        call()
    return refused.value.status_code, json.loads(refused.value.content)["error"]


def test_quotas_are_off_unless_asked_for(env, fake) -> None:
    call = _events(env, MAYA)
    for _ in range(50):
        call()
    assert fake.quota_meter.stats()["admitted"] == 0  # nothing metered


def test_the_per_user_quota_refuses_that_user_only_and_refills_with_the_clock(env, fake) -> None:
    fake.set_quota(GoogleQuota(per_user_per_minute=3))
    _fake, clock, _base = env
    maya, li = _events(env, MAYA), _events(env, LI)
    for _ in range(3):
        maya()
    status, error = _refusal(maya)
    assert status == 403 and error["status"] == "PERMISSION_DENIED"
    assert error["errors"][0] == {
        "message": error["message"],
        "domain": "usageLimits",
        "reason": "userRateLimitExceeded",
    }
    [info] = error["details"]
    assert info["reason"] == "RATE_LIMIT_EXCEEDED" and info["domain"] == "googleapis.com"
    assert info["metadata"]["quota_limit"] == "defaultPerMinutePerUser"
    assert info["metadata"]["quota_limit_value"] == "3"
    assert "Queries per minute per user" in error["message"]
    li()  # another user has their own bucket
    _refusal(maya)  # refused requests use no quota, nor do they refill it
    clock.set(clock.now() + timedelta(seconds=20))  # 3 a minute: one request's worth
    maya()
    _refusal(maya)
    assert fake.quota_meter.stats() == {
        "admitted": 5,
        "refused_per_user": 3,
        "refused_per_project": 0,
        "refused_per_day": 0,
    }


def test_the_per_project_quota_counts_every_user(env, fake) -> None:
    fake.set_quota(GoogleQuota(per_user_per_minute=100, per_project_per_minute=4))
    _fake, clock, _base = env
    calls = [_events(env, user) for user in (MAYA, LI, OMAR)]
    for call in calls + calls[:1]:
        call()
    status, error = _refusal(calls[2])
    assert status == 429 and error["status"] == "RESOURCE_EXHAUSTED"
    assert error["errors"][0]["reason"] == "rateLimitExceeded"
    assert error["details"][0]["metadata"]["quota_limit"] == "defaultPerMinutePerProject"
    clock.set(clock.now() + timedelta(seconds=15))
    calls[2]()
    fake.set_quota(GoogleQuota(per_project_per_minute=1, project_status=403))
    calls[0]()
    assert _refusal(calls[1])[0] == 403


def test_the_daily_quota_resets_at_midnight_pacific(env, fake) -> None:
    fake.set_quota(GoogleQuota(per_project_per_day=2))
    _fake, clock, _base = env
    call = _events(env, MAYA)
    call()
    call()
    status, error = _refusal(call)
    assert status == 403 and error["errors"][0]["reason"] == "dailyLimitExceeded"
    assert error["details"][0]["metadata"]["quota_limit"] == "defaultPerDayPerProject"
    clock.set(t("2026-01-11T07:59:59Z"))  # 23:59:59 Pacific: still the same day
    _refusal(call)
    clock.set(t("2026-01-11T08:00:00Z"))
    call()


def test_a_full_bucket_holds_a_minute_of_requests() -> None:
    clock = FixedClock(T0)
    meter = QuotaMeter(GoogleQuota.documented(), clock)
    assert GoogleQuota.documented() == GoogleQuota(per_user_per_minute=600, per_project_per_minute=10_000)
    assert all(meter.take("maya") is None for _ in range(600))
    assert meter.take("maya") is not None
    assert all(meter.take(f"user{n}") is None for n in range(9_400))  # 10,000 for the project
    refused = meter.take("li")
    assert refused is not None and refused.status == 429
    clock.set(clock.now() + timedelta(seconds=6))  # 10,000 a minute: 1,000 back; Maya 60 back
    assert all(meter.take("maya") is None for _ in range(60)) and meter.take("maya") is not None


async def test_sandbox_providers_take_a_google_quota() -> None:
    clock = FixedClock(T0)
    async with SandboxProviders(clock=clock, google_quota=GoogleQuota(per_user_per_minute=1)) as sandbox:
        sandbox.add_person(MAYA, "google")
        google = sandbox.google_connection()
        events = google.build(google.user_credentials(MAYA)).events()
        events.list(calendarId=MAYA).execute()
        with pytest.raises(HttpError) as refused:
            events.list(calendarId=MAYA).execute()
        assert refused.value.status_code == 403
        assert sandbox.google.quota_meter.stats()["refused_per_user"] == 1
