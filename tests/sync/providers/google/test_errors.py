"""How every Google failure reaches the port: Throttled (with how long to wait) for
quotas, AuthorizationFailed with the ReconnectReason a person can act on, transient
ProviderErrors for the rest. Against the fake, which answers in Google's current
envelope (errors[] and details[] with an ErrorInfo)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from service.clock import FixedClock
from service.sandbox.google_quota import GoogleQuota
from service.sync.port import AuthorizationFailed, CalendarRef, ProviderError, ReconnectReason, Throttled
from service.sync.providers.google.adapter import GoogleCalendarProvider
from service.sync.providers.google.http import GoogleErrorBody, until_quota_day_ends
from tests.sync.providers.google.world import CLIENT_ID, T0, WINDOW, Sandbox, numbers, seed_calendar

R = ReconnectReason


def org_ref(email: str, key: dict, *, external_id: str | None = None) -> CalendarRef:
    return CalendarRef(
        calendar_id=next(numbers),
        email=email,
        external_id=external_id or email,
        credentials=json.dumps(key),
        connection_kind="org",
    )


# -- quotas ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "reason"), [(403, "rateLimitExceeded"), (403, "userRateLimitExceeded"), (429, None)]
)
async def test_a_rate_limit_that_persists_is_throttled_never_an_authorization_failure(
    world: Sandbox, provider: GoogleCalendarProvider, sleeps: list[float], status: int, reason: str | None
) -> None:
    """Google's 403 now carries details[] with ErrorInfo RATE_LIMIT_EXCEEDED, which is what
    the client library's error_details holds: read only that, a quota error looked like a
    refusal and set the calendar to error for good."""
    email = world.person("quota")
    world.fake.faults.fail_next(10, status, reason=reason, target="google")
    with pytest.raises(ProviderError) as err:
        await provider.fetch_changes(world.user_ref(email), None, WINDOW)
    assert isinstance(err.value, Throttled) and not isinstance(err.value, AuthorizationFailed)
    assert err.value.transient and err.value.status == status and err.value.retry_after is None
    assert sleeps == [1.0, 2.0, 4.0]  # exponential backoff in the call, then the worker's own


async def test_the_daily_quota_waits_until_midnight_pacific(
    world: Sandbox, provider: GoogleCalendarProvider, sleeps: list[float]
) -> None:
    email = world.person("daily")
    world.fake.faults.fail_next(1, 403, reason="dailyLimitExceeded", target="google")
    with pytest.raises(Throttled) as err:
        await provider.fetch_changes(world.user_ref(email), None, WINDOW)
    # T0 is 2026-01-10 09:00 UTC = 01:00 PST: the quota resets 23 hours later.
    assert err.value.retry_after == 23 * 3600 and err.value.status == 403
    assert sleeps == []  # no use retrying within the call


async def test_calendar_usage_limits_wait_a_cool_off(
    world: Sandbox, provider: GoogleCalendarProvider, sleeps: list[float]
) -> None:
    email = world.person("usage")
    world.fake.faults.fail_next(1, 403, reason="quotaExceeded", target="google")
    with pytest.raises(Throttled) as err:
        await provider.fetch_changes(world.user_ref(email), None, WINDOW)
    assert err.value.retry_after == 900 and sleeps == []


async def test_a_retry_after_on_a_quota_error_is_honoured(
    world: Sandbox, provider: GoogleCalendarProvider, sleeps: list[float]
) -> None:
    email = world.person("told")
    seed_calendar(world.store, email)
    world.fake.faults.fail_next(1, 403, reason="userRateLimitExceeded", retry_after=3, target="google")
    changes = await provider.fetch_changes(world.user_ref(email), None, WINDOW)
    assert len(changes.upserts) == 7 and sleeps == [3.0]


def test_quota_day_ends_at_pacific_midnight_across_daylight_saving() -> None:
    winter = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)  # 01:00 PST
    assert until_quota_day_ends(winter) == 23 * 3600
    summer = datetime(2026, 7, 10, 6, 30, tzinfo=UTC)  # 23:30 PDT
    assert until_quota_day_ends(summer) == 1800
    assert until_quota_day_ends(summer + timedelta(minutes=29, seconds=50)) == 60.0  # at least a minute
    spring = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 23:00 PST on the eve of the switch
    assert until_quota_day_ends(spring) == 3600
    assert until_quota_day_ends(datetime(2026, 3, 8, 9, 0, tzinfo=UTC)) == timedelta(hours=22).total_seconds()


def test_both_lists_of_a_google_error_body_are_read() -> None:
    body = GoogleErrorBody.parse(
        json.dumps(
            {
                "error": {
                    "code": 403,
                    "message": "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user'",
                    "errors": [{"message": "…", "domain": "usageLimits", "reason": "rateLimitExceeded"}],
                    "status": "PERMISSION_DENIED",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "RATE_LIMIT_EXCEEDED",
                            "domain": "googleapis.com",
                            "metadata": {"quota_limit": "defaultPerMinutePerUser", "quota_limit_value": "600"},
                        },
                        {"@type": "type.googleapis.com/google.rpc.Help", "links": []},
                    ],
                }
            }
        ).encode()
    )
    assert body.reasons == ("rateLimitExceeded", "RATE_LIMIT_EXCEEDED") and body.status == "PERMISSION_DENIED"
    assert body.quota_limit == "defaultPerMinutePerUser" and not body.daily
    assert GoogleErrorBody.parse(b"<html>502</html>") == GoogleErrorBody()
    newer_only = GoogleErrorBody.parse(
        b'{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [{"@type": '
        b'"type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED", '
        b'"metadata": {"quota_limit": "defaultPerDayPerProject"}}]}}'
    )
    assert newer_only.reason == "RATE_LIMIT_EXCEEDED" and newer_only.daily


# -- refusals: the reason a person acts on ---------------------------------------------------------
@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("forbidden", R.forbidden),
        ("accessNotConfigured", R.app_misconfigured),
        ("notACalendarUser", R.no_mailbox),
        ("insufficientPermissions", R.consent_withdrawn),
    ],
)
async def test_a_403_other_than_a_quota_names_its_reason(
    world: Sandbox, provider: GoogleCalendarProvider, sleeps: list[float], reason: str, expected: ReconnectReason
) -> None:
    email = world.person("refused")
    world.fake.faults.fail_next(1, 403, reason=reason, target="google")
    with pytest.raises(AuthorizationFailed) as err:
        await provider.fetch_changes(world.user_ref(email), None, WINDOW)
    assert err.value.reason is expected and err.value.status == 403 and not err.value.transient
    assert reason in str(err.value) and sleeps == []


async def test_another_users_calendar_is_forbidden(world: Sandbox, provider: GoogleCalendarProvider) -> None:
    alice, bob = world.person("alice"), world.person("bob")
    with pytest.raises(AuthorizationFailed) as err:
        await provider.fetch_changes(world.user_ref(alice, external_id=bob), None, WINDOW)
    assert err.value.reason is R.forbidden


async def test_a_missing_calendar_is_user_not_found_but_a_missing_event_is_none(
    world: Sandbox, provider: GoogleCalendarProvider
) -> None:
    email = f"gone.{next(numbers)}@acme.test"  # a grant whose calendar Google does not have
    ref = world.user_ref(email)
    with pytest.raises(AuthorizationFailed) as err:
        await provider.fetch_changes(ref, None, WINDOW)
    assert err.value.reason is R.user_not_found and err.value.status == 404
    with pytest.raises(AuthorizationFailed) as watch:
        await provider.watch(ref, "https://hooks.example.test/google", "", "tok", 600)
    assert watch.value.reason is R.user_not_found
    present = world.person("present")
    assert await provider.get_event(world.user_ref(present), "no-such-event") is None


async def test_a_revoked_refresh_token_is_consent_withdrawn(world: Sandbox, provider: GoogleCalendarProvider) -> None:
    email = world.person("withdrawn")
    ref = world.user_ref(email)
    world.fake.auth.revoke_refresh_token(ref.credentials)
    with pytest.raises(AuthorizationFailed) as err:
        await provider.fetch_changes(ref, None, WINDOW)
    assert err.value.reason is R.consent_withdrawn and "invalid_grant" in str(err.value)


async def test_a_user_revoking_the_apps_access_withdraws_every_grant(
    world: Sandbox, provider: GoogleCalendarProvider
) -> None:
    email = world.person("revokes")
    first, second = world.user_ref(email), world.user_ref(email)
    assert world.fake.auth.revoke_user_grants(CLIENT_ID, email) == 2
    for ref in (first, second):
        with pytest.raises(AuthorizationFailed) as err:
            await provider.fetch_changes(ref, None, WINDOW)
        assert err.value.reason is R.consent_withdrawn


async def test_a_refused_oauth_client_is_app_misconfigured(world: Sandbox) -> None:
    email = world.person("misconfigured")
    ref = world.user_ref(email)
    wrong = world.settings.model_copy(update={"client_secret": SecretStr("not-the-secret")})
    with pytest.raises(AuthorizationFailed) as err:
        await GoogleCalendarProvider(wrong, clock=world.clock).fetch_changes(ref, None, WINDOW)
    assert err.value.reason is R.app_misconfigured and "invalid_client" in str(err.value)
    assert "not-the-secret" not in str(err.value)


async def test_delegation_refusals_name_their_reason(world: Sandbox, provider: GoogleCalendarProvider) -> None:
    email = world.person("delegated")
    undelegated = world.fake.auth.new_service_account(
        f"nodwd{next(numbers)}@sandbox.iam.gserviceaccount.com", delegated_scopes=()
    )
    with pytest.raises(AuthorizationFailed) as denied:
        await provider.fetch_changes(org_ref(email, undelegated), None, WINDOW)
    assert denied.value.reason is R.delegation_denied and "unauthorized_client" in str(denied.value)

    key = world.fake.auth.new_service_account(f"dwd{next(numbers)}@sandbox.iam.gserviceaccount.com")
    with pytest.raises(AuthorizationFailed) as unknown:
        await provider.fetch_changes(org_ref(f"nobody.{next(numbers)}@acme.test", key), None, WINDOW)
    assert unknown.value.reason is R.user_not_found and "invalid_grant" in str(unknown.value)

    world.fake.auth.delete_service_account_key(key["client_email"])
    with pytest.raises(AuthorizationFailed) as deleted:
        await provider.fetch_changes(org_ref(email, key), None, WINDOW)
    assert deleted.value.reason is R.app_misconfigured and key["private_key"] not in str(deleted.value)


async def test_the_adapter_backs_off_through_the_fakes_per_user_quota(world: Sandbox) -> None:
    """A per-user quota of 60 a minute and pages of one event: from the 61st request on,
    each is refused once, and the in-call backoff (on the fake's clock) waits for the bucket."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        world.clock.set(world.clock.now() + timedelta(seconds=seconds))

    email = world.person("metered")
    seed_calendar(world.store, email)
    world.store.page_cap = 1
    meter = world.fake.set_quota(GoogleQuota(per_user_per_minute=60))
    try:
        provider = GoogleCalendarProvider(world.settings, clock=world.clock, sleep=sleep, rng=lambda: 0.0)
        ref = world.user_ref(email)
        for _ in range(9):  # 7 pages each: 63 requests
            changes = await provider.fetch_changes(ref, None, WINDOW)
        assert len(changes.upserts) == 7
        assert meter.stats()["refused_per_user"] == len(waits) > 0 and set(waits) == {1.0}
        world.fake.set_quota(GoogleQuota(per_user_per_minute=1))
        with pytest.raises(Throttled) as err:  # a bucket that refills too slowly for the call
            await provider.fetch_changes(ref, None, WINDOW)
        assert err.value.status == 403 and waits[-3:] == [1.0, 2.0, 4.0]
    finally:
        world.fake.set_quota(None)
        world.clock.set(T0)


async def test_an_http_watch_address_is_refused_for_good(
    world: Sandbox, provider: GoogleCalendarProvider, sleeps: list[float]
) -> None:
    email = world.person("plainhttp")
    with pytest.raises(ProviderError) as err:
        await provider.watch(world.user_ref(email), "http://hooks.example.test/webhooks/google", "", "tok", 600)
    assert err.value.status == 400 and not err.value.transient and "push.webhookUrlNotHttps" in str(err.value)
    assert not isinstance(err.value, AuthorizationFailed) and sleeps == []


async def test_delegation_assertions_carry_the_adapters_clock(world: Sandbox, provider: GoogleCalendarProvider) -> None:
    """The fake checks a delegation JWT's iat/exp against its clock, as Google does
    against the real time. The adapter stamps them with its own (injected) clock:
    here 2026-01-10, whatever the wall clock says."""
    email = world.person("stamped")
    seed_calendar(world.store, email)
    key = world.fake.auth.new_service_account(f"stamped{next(numbers)}@sandbox.iam.gserviceaccount.com")
    changes = await provider.fetch_changes(org_ref(email, key), None, WINDOW)
    assert len(changes.upserts) == 7


async def test_a_clock_off_by_hours_is_app_misconfigured(world: Sandbox) -> None:
    email = world.person("skewed")
    key = world.fake.auth.new_service_account(f"skewed{next(numbers)}@sandbox.iam.gserviceaccount.com")
    behind = FixedClock(T0 - timedelta(hours=3))  # this server's clock, three hours slow
    with pytest.raises(AuthorizationFailed) as err:
        await GoogleCalendarProvider(world.settings, clock=behind).fetch_changes(org_ref(email, key), None, WINDOW)
    assert err.value.reason is R.app_misconfigured and "clock" in str(err.value)
