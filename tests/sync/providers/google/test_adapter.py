"""GoogleCalendarProvider against the fake Google Calendar v3 server on loopback.

The adapter runs unchanged (google-api-python-client, google-auth, httplib2);
only GoogleSettings point it at the fake. A recording middleware in front of
the fake lets tests see the requests the client really sent."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from structlog.testing import capture_logs

from service.domain.events import Kind, Status
from service.sandbox.serve import LoopbackServer
from service.security.crypto import Vault, generate_key
from service.sync.grants import SharedTokens
from service.sync.port import (
    AuthorizationFailed,
    CalendarProvider,
    CalendarRef,
    Channel,
    FullResyncRequired,
    ListingTooLong,
    ProviderError,
)
from service.sync.providers.google.adapter import GoogleCalendarProvider
from service.sync.providers.google.auth import GoogleConnect
from service.sync.providers.google.http import RetryPolicy
from tests.sync.providers.google.world import (
    CLIENT_ID,
    CLIENT_SECRET,
    T0,
    WEEKLY,
    WINDOW,
    Receiver,
    Sandbox,
    at,
    numbers,
    seed_calendar,
)


# -- reading ----------------------------------------------------------------------------------
async def test_full_sync_pages_through_every_event_once(world: Sandbox, provider: GoogleCalendarProvider) -> None:
    email = world.person("maya")
    seed_calendar(world.store, email)
    world.store.page_cap = 2
    changes = await provider.fetch_changes(world.user_ref(email), None, WINDOW)

    ids = [s.event_id for s in changes.upserts]
    assert sorted(ids) == sorted(["single1", "weekly1", "more0", "more1", "more2", "more3", "dropped"])
    assert len(ids) == len(set(ids))  # "ancient" ended before timeMin
    assert changes.cursor and changes.baseline == WINDOW and changes.removed == []
    assert changes.time_zone == "Europe/Berlin"
    by_id = {s.event_id: s for s in changes.upserts}
    assert by_id["weekly1"].kind is Kind.series and by_id["weekly1"].recurrence == tuple(WEEKLY)
    assert by_id["dropped"].status is Status.cancelled  # deletions are upserts on Google
    assert by_id["single1"].calendar == email and by_id["single1"].provider == "google"

    lists = world.recorder.lists()
    assert len(lists) == 4  # 7 events, 2 per page
    assert all(
        q["timeMin"] == ["2025-12-01T00:00:00Z"]
        and q["singleEvents"] == ["false"]
        and q["showDeleted"] == ["true"]
        and q["maxResults"] == ["2500"]
        for q in lists
    )
    assert "pageToken" not in lists[0] and all("pageToken" in q for q in lists[1:])


async def test_increments_carry_only_the_sync_token_and_only_changes(
    world: Sandbox, provider: GoogleCalendarProvider
) -> None:
    email = world.person("li")
    seed_calendar(world.store, email)
    ref = world.user_ref(email)
    full = await provider.fetch_changes(ref, None, WINDOW)
    world.recorder.requests.clear()

    world.store.cancel_occurrence([email], "weekly1", at("2026-01-12T09:00:00Z"), at=at("2026-01-10T08:00:00Z"))
    world.store.move_occurrence(
        [email],
        "weekly1",
        at("2026-01-19T09:00:00Z"),
        {"dateTime": "2026-01-20T15:00:00+01:00", "timeZone": "Europe/Berlin"},
        {"dateTime": "2026-01-20T15:30:00+01:00", "timeZone": "Europe/Berlin"},
        at=at("2026-01-10T08:01:00Z"),
    )
    world.store.update([email], "single1", {"summary": "Renamed"}, at=at("2026-01-10T08:02:00Z"))
    changes = await provider.fetch_changes(ref, full.cursor, WINDOW)

    by_id = {s.event_id: s for s in changes.upserts}
    assert set(by_id) == {"weekly1_20260112T090000Z", "weekly1_20260119T090000Z", "single1"}
    stub = by_id["weekly1_20260112T090000Z"]
    assert (stub.kind, stub.status, stub.series_id) == (Kind.instance, Status.cancelled, "weekly1")
    assert stub.start is None and stub.original_start == at("2026-01-12T09:00:00Z")
    moved = by_id["weekly1_20260119T090000Z"]
    assert moved.status is Status.confirmed and moved.original_start == at("2026-01-19T09:00:00Z")
    assert (moved.start, moved.end) == (at("2026-01-20T14:00:00Z"), at("2026-01-20T14:30:00Z"))
    assert by_id["single1"].title == "Renamed"
    assert changes.baseline is None and changes.cursor and changes.cursor != full.cursor

    [query] = world.recorder.lists()
    assert set(query) == {"syncToken", "showDeleted", "maxResults", "alt"}  # no timeMin: that is a 400

    quiet = await provider.fetch_changes(ref, changes.cursor, WINDOW)
    assert quiet.upserts == [] and quiet.cursor


async def test_expired_sync_token_requires_a_full_resync(
    world: Sandbox, provider: GoogleCalendarProvider, sleeps: list[float]
) -> None:
    email = world.person("omar")
    seed_calendar(world.store, email)
    ref = world.user_ref(email)
    full = await provider.fetch_changes(ref, None, WINDOW)
    world.fake.expire_sync_tokens(email)
    with pytest.raises(FullResyncRequired):
        await provider.fetch_changes(ref, full.cursor, WINDOW)
    assert sleeps == []  # not retried in-call: the engine re-baselines
    again = await provider.fetch_changes(ref, None, WINDOW)
    assert len(again.upserts) == len(full.upserts)


async def test_get_event_existing_cancelled_and_missing(world: Sandbox, provider: GoogleCalendarProvider) -> None:
    email = world.person("ana")
    seed_calendar(world.store, email)
    ref = world.user_ref(email)
    single = await provider.get_event(ref, "single1")
    assert single is not None and single.event_id == "single1" and single.start == at("2026-01-05T09:00:00Z")
    dropped = await provider.get_event(ref, "dropped")
    assert dropped is not None and dropped.status is Status.cancelled
    assert await provider.get_event(ref, "no-such-event") is None


async def test_concurrent_calls_do_not_share_a_transport(world: Sandbox, provider: GoogleCalendarProvider) -> None:
    email = world.person("kai")
    seed_calendar(world.store, email)
    ref = world.user_ref(email)
    results = await asyncio.gather(
        *(provider.fetch_changes(ref, None, WINDOW) for _ in range(4)),
        *(provider.get_event(ref, "single1") for _ in range(4)),
    )
    assert all(len(r.upserts) == 7 for r in results[:4])
    assert all(r is not None and r.event_id == "single1" for r in results[4:])


# -- throttling and failures -----------------------------------------------------------------
async def test_429_honours_retry_after_then_succeeds(
    world: Sandbox, provider: GoogleCalendarProvider, sleeps: list[float]
) -> None:
    email = world.person("throttled")
    seed_calendar(world.store, email)
    world.fake.faults.throttle(2, retry_after=7)
    changes = await provider.fetch_changes(world.user_ref(email), None, WINDOW)
    assert len(changes.upserts) == 7 and sleeps == [7.0, 7.0]


@pytest.mark.parametrize("reason", ["rateLimitExceeded", "userRateLimitExceeded"])
async def test_403_rate_limit_backs_off_exponentially(
    world: Sandbox, provider: GoogleCalendarProvider, sleeps: list[float], reason: str
) -> None:
    email = world.person("ratelimited")
    seed_calendar(world.store, email)
    world.fake.faults.rate_limit(3, reason=reason)
    changes = await provider.fetch_changes(world.user_ref(email), None, WINDOW)
    assert len(changes.upserts) == 7 and sleeps == [1.0, 2.0, 4.0]


async def test_persistent_503_gives_up_with_a_transient_error(
    world: Sandbox, provider: GoogleCalendarProvider, sleeps: list[float]
) -> None:
    email = world.person("down")
    world.fake.faults.fail_next(10, 503)
    with pytest.raises(ProviderError) as err:
        await provider.fetch_changes(world.user_ref(email), None, WINDOW)
    assert err.value.transient and err.value.status == 503
    assert not isinstance(err.value, (FullResyncRequired, AuthorizationFailed))
    assert sleeps == [1.0, 2.0, 4.0]  # four tries, then the worker's own backoff takes over


async def test_long_retry_after_is_left_to_the_worker(
    world: Sandbox, provider: GoogleCalendarProvider, sleeps: list[float]
) -> None:
    email = world.person("slowdown")
    world.fake.faults.throttle(1, retry_after=600)
    with pytest.raises(ProviderError) as err:
        await provider.fetch_changes(world.user_ref(email), None, WINDOW)
    assert err.value.status == 429 and err.value.retry_after == 600 and err.value.transient
    assert sleeps == []


async def test_missing_calendar_is_a_permanent_error(
    world: Sandbox, provider: GoogleCalendarProvider, sleeps: list[float]
) -> None:
    email = f"nobody.{next(numbers)}@acme.test"  # a grant whose calendar Google does not have
    with pytest.raises(ProviderError) as err:
        await provider.fetch_changes(world.user_ref(email), None, WINDOW)
    assert err.value.status == 404 and not err.value.transient and sleeps == []


async def test_unreachable_server_is_transient(world: Sandbox, sleeps: list[float]) -> None:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    closed = LoopbackServer(Starlette())  # a bound port nobody answers on once stopped
    closed.stop()
    settings = world.settings.model_copy(update={"api_endpoint": f"{closed.base_url}/calendar/v3/"})
    provider = GoogleCalendarProvider(settings, sleep=sleep, rng=lambda: 0.0, retry=RetryPolicy(attempts=2))
    email = world.person("offline")
    with pytest.raises(ProviderError) as err:
        await provider.fetch_changes(world.user_ref(email), None, WINDOW)
    assert err.value.transient and "transport error" in str(err.value) and sleeps == [1.0]


async def test_a_hung_request_times_out_and_is_retried(world: Sandbox, sleeps: list[float]) -> None:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    email = world.person("hung")
    seed_calendar(world.store, email)
    ref = world.user_ref(email)
    provider = GoogleCalendarProvider(world.settings, sleep=sleep, rng=lambda: 0.0, timeout=0.3)
    await provider.get_event(ref, "single1")  # token fetched: only the API call hangs below
    world.fake.faults.delay(2.0, 1)
    changes = await provider.fetch_changes(ref, None, WINDOW)
    assert len(changes.upserts) == 7 and sleeps == [1.0]


async def test_calls_reuse_a_connection_and_a_failed_call_drops_its_own(
    world: Sandbox, provider: GoogleCalendarProvider
) -> None:
    email = world.person("keepalive")
    seed_calendar(world.store, email)
    ref = world.user_ref(email)
    await provider.get_event(ref, "single1")  # token + event: one connection
    await provider.fetch_changes(ref, None, WINDOW)
    assert len(set(world.recorder.clients)) == 1
    world.fake.faults.fail_next(1, 400)  # a non-retryable failure closes that connection
    with pytest.raises(ProviderError):
        await provider.get_event(ref, "single1")
    await provider.get_event(ref, "single1")
    first, *_, failed, after = world.recorder.clients
    assert failed == first and after != first
    await provider.aclose()


# -- credentials -------------------------------------------------------------------------------
async def test_expired_access_token_is_refreshed_transparently(
    world: Sandbox, provider: GoogleCalendarProvider
) -> None:
    email = world.person("refresh")
    seed_calendar(world.store, email)
    ref = world.user_ref(email)
    await provider.get_event(ref, "single1")
    issued = world.fake.issuer.expire_all()  # every access token so far is now expired
    assert (await provider.get_event(ref, "single1")) is not None
    assert world.fake.issuer.expire_all() == issued + 1  # exactly one new token, via refresh_token
    token_posts = [r for r in world.recorder.requests if r[1] == "/token"]
    assert len(token_posts) == 2


async def test_a_token_expired_on_the_injected_clock_is_refreshed_before_the_call(
    world: Sandbox, provider: GoogleCalendarProvider
) -> None:
    """google-auth judges expiry by the wall clock; the fake by the injected one. The
    adapter refreshes ahead of the call instead of learning it from a 401."""
    email = world.person("clock")
    seed_calendar(world.store, email)
    ref = world.user_ref(email)
    await provider.get_event(ref, "single1")
    world.recorder.requests.clear()
    world.clock.set(T0 + timedelta(hours=2))  # the fake's 1-hour token is long gone
    try:
        assert (await provider.get_event(ref, "single1")) is not None
        assert (await provider.get_event(ref, "single1")) is not None  # the new token is reused
    finally:
        world.clock.set(T0)
    paths = [path for _method, path, _query in world.recorder.requests]
    assert paths == [
        "/token",
        f"/calendar/v3/calendars/{email}/events/single1",
        f"/calendar/v3/calendars/{email}/events/single1",
    ]


async def test_401_even_after_refreshing_is_an_authorization_failure(
    world: Sandbox, provider: GoogleCalendarProvider, sleeps: list[float]
) -> None:
    email = world.person("dead-on-arrival")
    ref = world.user_ref(email)
    world.fake.issuer.lifetime = timedelta(0)  # every access token is expired as it is issued
    try:
        with pytest.raises(AuthorizationFailed) as err:
            await provider.fetch_changes(ref, None, WINDOW)
    finally:
        world.fake.issuer.lifetime = timedelta(hours=1)
    assert err.value.status == 401 and sleeps == []
    assert len([r for r in world.recorder.requests if r[1] == "/token"]) >= 2  # it did try refreshing


async def test_revoked_refresh_token_is_an_authorization_failure(
    world: Sandbox, provider: GoogleCalendarProvider, sleeps: list[float]
) -> None:
    email = world.person("revoked")
    ref = world.user_ref(email)
    world.fake.auth.revoke_refresh_token(ref.credentials)
    with capture_logs() as logs, pytest.raises(AuthorizationFailed) as err:
        await provider.fetch_changes(ref, None, WINDOW)
    assert not err.value.transient and "invalid_grant" in str(err.value) and sleeps == []
    # Nothing secret leaks: neither the refresh token nor the client secret.
    text = str(err.value) + repr(logs) + repr(err.value.__cause__) + repr(err.value.__context__)
    assert ref.credentials not in text and CLIENT_SECRET not in text


async def test_a_users_token_cannot_read_another_users_calendar(
    world: Sandbox, provider: GoogleCalendarProvider
) -> None:
    # Decision: Google answers 403 forbidden (or 404); a 403 other than rate
    # limiting is an AuthorizationFailed, since only a person (sharing the
    # calendar, reconnecting) can fix it.
    alice, bob = world.person("alice"), world.person("bob")
    seed_calendar(world.store, bob)
    with pytest.raises(AuthorizationFailed) as err:
        await provider.fetch_changes(world.user_ref(alice, external_id=bob), None, WINDOW)
    assert err.value.status == 403 and not err.value.transient


async def test_service_account_reads_a_users_calendar_by_delegation(
    world: Sandbox, provider: GoogleCalendarProvider
) -> None:
    email = world.person("delegated")
    seed_calendar(world.store, email)
    key = world.fake.auth.new_service_account(
        "sync@oneonone-sandbox.iam.gserviceaccount.com", token_uri="https://oauth2.googleapis.com/token"
    )
    ref = CalendarRef(
        calendar_id=next(numbers), email=email, external_id=email, credentials=json.dumps(key), connection_kind="org"
    )
    changes = await provider.fetch_changes(ref, None, WINDOW)
    assert len(changes.upserts) == 7 and all(s.calendar == email for s in changes.upserts)

    # The key file names Google's token URI; the configured one (the fake) is used.
    assert any(r[1] == "/token" for r in world.recorder.requests)


async def test_worker_processes_share_a_delegated_users_token(world: Sandbox, sessions) -> None:
    """Domain-wide delegation mints a token per user. Two processes (two adapters) on one
    database mint one between them while it lives, and a new one once it is gone."""
    email = world.person("shared-token")
    seed_calendar(world.store, email)
    key = world.fake.auth.new_service_account("sync@oneonone-sandbox.iam.gserviceaccount.com")
    ref = CalendarRef(
        calendar_id=next(numbers), email=email, external_id=email, credentials=json.dumps(key), connection_kind="org"
    )
    tokens = SharedTokens(sessions, Vault(generate_key()), world.clock)
    first, second = (GoogleCalendarProvider(world.settings, clock=world.clock, tokens=tokens) for _ in range(2))

    def minted() -> int:
        return len([r for r in world.recorder.requests if r[1] == "/token"])

    await first.fetch_changes(ref, None, WINDOW)
    assert minted() == 1
    assert len((await second.fetch_changes(ref, None, WINDOW)).upserts) == 7  # with the first one's token
    assert minted() == 1

    world.clock.set(T0 + timedelta(hours=2))  # the token is gone on the fake's clock
    try:
        await second.fetch_changes(ref, None, WINDOW)
        await first.fetch_changes(ref, None, WINDOW)
    finally:
        world.clock.set(T0)
    assert minted() == 2  # one new token, minted by the second and taken by the first


async def test_service_account_without_delegated_scope_fails_authorization(
    world: Sandbox, provider: GoogleCalendarProvider
) -> None:
    email = world.person("undelegated")
    key = world.fake.auth.new_service_account("nodwd@oneonone-sandbox.iam.gserviceaccount.com", delegated_scopes=())
    ref = CalendarRef(
        calendar_id=next(numbers), email=email, external_id=email, credentials=json.dumps(key), connection_kind="org"
    )
    with pytest.raises(AuthorizationFailed) as err:
        await provider.fetch_changes(ref, None, WINDOW)
    assert key["private_key"] not in str(err.value)


async def test_unusable_service_account_key(world: Sandbox, provider: GoogleCalendarProvider) -> None:
    ref = CalendarRef(
        calendar_id=1, email="x@acme.test", external_id="x@acme.test", credentials="{not json", connection_kind="org"
    )
    with pytest.raises(AuthorizationFailed):
        await provider.fetch_changes(ref, None, WINDOW)


# -- push channels -----------------------------------------------------------------------------
async def test_watch_delivers_tokened_notifications_and_stop_ends_them(
    world: Sandbox, provider: GoogleCalendarProvider
) -> None:
    email = world.person("watched")
    seed_calendar(world.store, email)
    ref = world.user_ref(email)
    receiver = Receiver()
    try:
        channel = await provider.watch(ref, receiver.address, "", "s3cret-channel-token", ttl_seconds=3600)
        assert channel.resource_id and channel.expires_at == T0 + timedelta(hours=1)
        await world.fake.notifier.flush()
        world.fake.apply(
            {
                "at": "2026-01-10T09:05:00Z",
                "op": "update",
                "calendars": [email],
                "event_id": "single1",
                "patch": {"summary": "Moved"},
            }
        )
        await world.fake.notifier.flush()

        states = [
            (h["x-goog-resource-state"], h["x-goog-channel-token"], h["x-goog-channel-id"], b)
            for h, b in receiver.received
        ]
        assert states == [
            ("sync", "s3cret-channel-token", channel.channel_id, b""),
            ("exists", "s3cret-channel-token", channel.channel_id, b""),
        ]
        assert receiver.received[0][0]["x-goog-resource-id"] == channel.resource_id

        assert await provider.renew(ref, channel, 3600) is None  # Google cannot renew
        await provider.stop(ref, channel)
        world.fake.apply(
            {
                "at": "2026-01-10T09:06:00Z",
                "op": "update",
                "calendars": [email],
                "event_id": "single1",
                "patch": {"summary": "Again"},
            }
        )
        await world.fake.notifier.flush()
        assert len(receiver.received) == 2
        await provider.stop(ref, channel)  # already stopped: 404, which is fine
        stop_calls = [r for r in world.recorder.requests if r[1] == "/calendar/v3/channels/stop"]
        assert len(stop_calls) == 2
    finally:
        receiver.server.stop()


async def test_watch_is_retried_with_a_fresh_channel_id(
    world: Sandbox, provider: GoogleCalendarProvider, sleeps: list[float]
) -> None:
    email = world.person("rewatched")
    ref = world.user_ref(email)
    world.fake.faults.fail_next(1, 503)
    channel = await provider.watch(ref, "http://127.0.0.1:9/hooks/google", "", "tok", ttl_seconds=600)
    assert sleeps == [1.0]
    [opened] = world.fake.channels.channels(email)
    assert opened.id == channel.channel_id and opened.token == "tok"
    await provider.stop(ref, channel)
    world.fake.notifier.clear()  # its `sync` message was for nobody


async def test_stop_of_an_unknown_channel_is_not_an_error(world: Sandbox, provider: GoogleCalendarProvider) -> None:
    email = world.person("ghost")
    gone = Channel(channel_id="never-opened", resource_id="abc", expires_at=T0)
    await provider.stop(world.user_ref(email), gone)


# -- per-user connect flow --------------------------------------------------------------------
async def test_authorization_url_asks_for_offline_calendar_readonly(world: Sandbox) -> None:
    url = await GoogleConnect(world.settings).authorization_url("https://oneonone.test/oauth/google", "st4te")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://accounts.google.com/o/oauth2/v2/auth"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "client_id": CLIENT_ID,
        "redirect_uri": "https://oneonone.test/oauth/google",
        "response_type": "code",
        "scope": "https://www.googleapis.com/auth/calendar.readonly",
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "state": "st4te",
    }


async def test_exchange_code_yields_a_working_refresh_token(world: Sandbox, provider: GoogleCalendarProvider) -> None:
    email = world.person("connecting")
    seed_calendar(world.store, email)
    redirect = "https://oneonone.test/oauth/google"
    flow = GoogleConnect(world.settings.model_copy(update={"auth_uri": f"{world.base}/o/oauth2/v2/auth"}))
    url = await flow.authorization_url(redirect, "st4te", login_hint=email)
    async with httpx.AsyncClient() as http:
        consent = await http.get(url)  # the fake consents at once and redirects
    assert consent.status_code == 302
    back = {k: v[0] for k, v in parse_qs(urlsplit(consent.headers["location"]).query).items()}
    assert back["state"] == "st4te"

    grant = await flow.exchange_code(back["code"], redirect)
    refresh_token, who = grant.refresh_token, grant.account
    assert who == email and refresh_token and grant.scopes == "https://www.googleapis.com/auth/calendar.readonly"
    ref = CalendarRef(
        calendar_id=next(numbers), email=who, external_id=who, credentials=refresh_token, connection_kind="user"
    )
    assert len((await provider.fetch_changes(ref, None, WINDOW)).upserts) == 7

    with pytest.raises(AuthorizationFailed) as err:  # a code works once
        await flow.exchange_code(back["code"], redirect)
    assert back["code"] not in str(err.value)


def test_the_adapter_fits_the_port(world: Sandbox) -> None:
    provider: CalendarProvider = GoogleCalendarProvider(world.settings)
    assert provider.name == "google" and provider.windowed is False
    for method in ("fetch_changes", "get_event", "watch", "renew", "stop"):
        assert asyncio.iscoroutinefunction(getattr(provider, method))


async def test_a_listing_past_its_bounds_fails_transiently_instead_of_growing(
    world: Sandbox, provider: GoogleCalendarProvider
) -> None:
    email = world.person("maya")
    seed_calendar(world.store, email)
    world.store.page_cap = 2  # 7 events: 4 pages of at most 2
    for limits, pages in (((5, 100), 3), ((100, 2), 3)):  # the page that goes past is the last one asked for
        provider.listing_limits = limits
        world.recorder.requests.clear()
        with pytest.raises(ListingTooLong) as raised:
            await provider.fetch_changes(world.user_ref(email), None, WINDOW)
        assert raised.value.transient and "in one listing" in str(raised.value)
        assert len(world.recorder.lists()) == pages
    provider.listing_limits = (7, 4)  # exactly at the bounds: fine
    assert len((await provider.fetch_changes(world.user_ref(email), None, WINDOW)).upserts) == 7
