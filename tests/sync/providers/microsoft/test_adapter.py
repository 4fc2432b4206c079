"""GraphCalendarProvider against the fake Microsoft Graph + Entra server on loopback.

The adapter runs unchanged (msal, httpx); only MicrosoftSettings point it at
the fake, and MSAL gets the sandbox's LoopbackHttpClient for the fake
authority https://login.fake.test/<tenant>. A recording wrapper in front of
the fake lets tests see the requests really sent and the statuses answered
(tests/sync/graph_sandbox.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msal
import pytest
from structlog.testing import capture_logs

from service.domain.events import Kind, Status
from service.sandbox.graph_view import occurrence_id
from service.sandbox.oauth_entra import object_id
from service.sync.port import (
    AuthorizationFailed,
    CalendarRef,
    ChangeSet,
    Channel,
    FullResyncRequired,
    ListingTooLong,
    ProviderError,
    ReconnectReason,
)
from service.sync.providers.microsoft.adapter import GraphCalendarProvider
from service.sync.providers.microsoft.auth import web_app_credentials
from service.sync.providers.microsoft.consent import GraphConnect
from tests.sync.graph_sandbox import MASTER, REDIRECT, WEEKLY_MONDAYS, WINDOW, Sandbox, at, next_number


async def seeded_baseline(world: Sandbox, provider: GraphCalendarProvider) -> tuple[str, CalendarRef, ChangeSet]:
    """A fresh seeded mailbox, its org grant, and its first baseline."""
    email = world.mailbox()
    world.seed(email)
    ref = world.org_ref(email)
    return email, ref, await provider.fetch_changes(ref, None, WINDOW)


def by_id(changes) -> dict[str, Any]:
    return {s.event_id: s for s in changes.upserts}


def in_window(changes: ChangeSet, baseline: ChangeSet) -> list[str]:
    """The removals of events the baseline listed (Graph also names others: outside the window)."""
    listed = {s.event_id for s in baseline.upserts}
    assert changes.removed_window == baseline.baseline
    return [event_id for event_id in changes.removed if event_id in listed]


# -- reading ---------------------------------------------------------------------------------
async def test_baseline_pages_through_every_instance_once(world: Sandbox, provider: GraphCalendarProvider) -> None:
    email = world.mailbox()
    world.seed(email)
    changes = await provider.fetch_changes(world.org_ref(email), None, WINDOW)

    assert changes.baseline == changes.removed_window == WINDOW and changes.removed == []
    cursor = json.loads(changes.cursor)  # the deltaLink and the window its removals are relative to
    assert cursor["link"].startswith(world.settings.microsoft.graph_endpoint) and "$deltatoken=" in cursor["link"]
    assert (cursor["start"], cursor["end"]) == ("2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z")
    snaps = by_id(changes)
    assert len(snaps) == len(changes.upserts) == 9 + 2 + 1  # occurrences, singles, the master
    instances = [s for s in changes.upserts if s.kind is Kind.instance]
    assert sorted(s.start for s in instances) == [
        at(f"{day}T08:00:00Z") if day < "2026-03-29" else at(f"{day}T07:00:00Z") for day in WEEKLY_MONDAYS
    ]
    deltas = world.recorder.api(contains="/calendarView/delta")
    assert len(deltas) == 3  # 11 instances, 4 per page
    first = deltas[0]
    assert first["query"]["startDateTime"] == ["2026-02-01T00:00:00Z"]
    assert first["query"]["endDateTime"] == ["2026-04-01T00:00:00Z"]
    assert all(
        'outlook.timezone="UTC"' in c["headers"]["prefer"] and "odata.maxpagesize=4" in c["headers"]["prefer"]
        for c in deltas
    )
    assert all("startDateTime" not in c["query"] for c in deltas[1:])  # nextLinks carry only tokens

    again = await provider.fetch_changes(world.org_ref(email), changes.cursor, WINDOW)
    assert again.upserts == [] and again.removed == [] and again.baseline is None
    assert again.cursor and again.cursor != changes.cursor


async def test_stubs_take_their_details_from_the_master_fetched_once(
    world: Sandbox, provider: GraphCalendarProvider
) -> None:
    email = world.mailbox()
    world.seed(email)
    changes = await provider.fetch_changes(world.org_ref(email), None, WINDOW)

    master = by_id(changes)[MASTER]
    assert master.kind is Kind.series and master.recurrence[0].startswith("RRULE:FREQ=WEEKLY")
    assert master.timezone == "Europe/Berlin" and master.ical_uid == "series-uid-1@acme.test"
    for snap in changes.upserts:
        if snap.kind is Kind.instance:
            assert snap.series_id == MASTER and snap.ical_uid == master.ical_uid
            assert snap.title == "Maya / Li 1:1" and snap.timezone == "Europe/Berlin"
            assert {a.email for a in snap.attendees} >= {"li.wei@acme.test", "maya.diaz@acme.test"}
            assert snap.original_start == snap.start
    gets = world.recorder.api(contains="/events/")
    assert len(gets) == 1 and gets[0]["query"]["$select"][0].count("cancelledOccurrences") == 1


async def test_windows_time_zones_become_dst_correct_utc(world: Sandbox, provider: GraphCalendarProvider) -> None:
    email = world.mailbox()
    world.seed(email)
    snaps = by_id(await provider.fetch_changes(world.org_ref(email), None, WINDOW))

    pacific = snaps["AAMkSinglePacific="]  # US daylight time began 8 March: UTC-7
    assert pacific.timezone == "America/Los_Angeles"
    assert (pacific.start, pacific.end) == (at("2026-03-09T17:00:00Z"), at("2026-03-09T17:30:00Z"))
    berlin = snaps["AAMkSingleBerlin="]  # Berlin still on standard time: UTC+1
    assert berlin.timezone == "Europe/Berlin" and berlin.start == at("2026-03-04T13:00:00Z")


async def test_increment_reports_a_moved_occurrence_as_an_exception(
    world: Sandbox, provider: GraphCalendarProvider
) -> None:
    email, ref, baseline = await seeded_baseline(world, provider)
    original = at("2026-03-09T08:00:00Z")
    world.store.move_occurrence(
        [email],
        MASTER,
        original,
        {"dateTime": "2026-03-10T11:00:00.0000000", "timeZone": "W. Europe Standard Time"},
        {"dateTime": "2026-03-10T11:30:00.0000000", "timeZone": "W. Europe Standard Time"},
        at=world.tick(),
    )
    changes = await provider.fetch_changes(ref, baseline.cursor, WINDOW)

    snaps = by_id(changes)
    moved = snaps[occurrence_id(MASTER, original)]  # an exception keeps its occurrence's id
    assert moved.kind is Kind.instance and moved.series_id == MASTER
    assert (moved.original_start, moved.start, moved.end) == (
        original,
        at("2026-03-10T10:00:00Z"),
        at("2026-03-10T10:30:00Z"),
    )
    assert snaps[MASTER].kind is Kind.series and changes.baseline is None
    assert in_window(changes, baseline) == []  # the rest: the series' occurrences outside the window
    assert "AAMkSingleBerlin=" not in snaps


async def test_cancelled_occurrence_is_removed_and_the_master_gets_an_exdate(
    world: Sandbox, provider: GraphCalendarProvider
) -> None:
    email, ref, baseline = await seeded_baseline(world, provider)
    original = at("2026-03-16T08:00:00Z")
    world.store.cancel_occurrence([email], MASTER, original, at=world.tick())
    changes = await provider.fetch_changes(ref, baseline.cursor, WINDOW)

    assert in_window(changes, baseline) == [occurrence_id(MASTER, original)]
    master = by_id(changes)[MASTER]
    assert "EXDATE:20260316T080000Z" in master.recurrence


async def test_deleted_series_removes_its_instances_and_get_event_says_none(
    world: Sandbox, provider: GraphCalendarProvider
) -> None:
    email, ref, baseline = await seeded_baseline(world, provider)
    instance_ids = {s.event_id for s in baseline.upserts if s.kind is Kind.instance}
    assert (await provider.get_event(ref, MASTER)).kind is Kind.series
    world.store.delete([email], MASTER, at=world.tick())
    changes = await provider.fetch_changes(ref, baseline.cursor, WINDOW)

    assert set(changes.removed) == instance_ids and changes.upserts == []
    assert await provider.get_event(ref, MASTER) is None
    assert await provider.get_event(ref, next(iter(instance_ids))) is None


async def test_get_event_reads_one_event_and_an_occurrence_with_its_series(
    world: Sandbox, provider: GraphCalendarProvider
) -> None:
    email = world.mailbox()
    world.seed(email)
    ref = world.org_ref(email, external_id=object_id(email))  # Graph accepts the object id too
    await provider.fetch_changes(ref, None, WINDOW)  # occurrence ids come from a view
    single = await provider.get_event(ref, "AAMkSingleBerlin=")
    assert single.kind is Kind.single and single.status is Status.confirmed and single.calendar == email
    occurrence = await provider.get_event(ref, occurrence_id(MASTER, at("2026-03-02T08:00:00Z")))
    assert occurrence.kind is Kind.instance and occurrence.ical_uid == "series-uid-1@acme.test"
    assert await provider.get_event(ref, "AAMkNoSuchThing=") is None
    with pytest.raises(ProviderError) as err:  # the mailbox, not the event, is unknown
        await provider.get_event(world.org_ref("nobody@acme.test"), "AAMkSingleBerlin=")
    assert err.value.status == 404 and not err.value.transient


# -- failures --------------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["syncStateNotFound", "resyncRequired"])
async def test_expired_delta_token_requires_a_full_resync(
    world: Sandbox, provider: GraphCalendarProvider, code: str
) -> None:
    email, ref, baseline = await seeded_baseline(world, provider)
    world.fake.faults.graph_gone_code = code
    world.fake.invalidate_delta_tokens(email)
    with pytest.raises(FullResyncRequired):
        await provider.fetch_changes(ref, baseline.cursor, WINDOW)
    again = await provider.fetch_changes(ref, None, WINDOW)
    assert again.baseline == WINDOW and len(again.upserts) == len(baseline.upserts)


async def test_foreign_cursor_is_never_followed(world: Sandbox, provider: GraphCalendarProvider) -> None:
    ref = world.org_ref(world.mailbox())
    evil = "https://evil.example/v1.0/users/x/calendarView/delta?$deltatoken=a"
    with pytest.raises(FullResyncRequired):
        await provider.fetch_changes(
            ref, json.dumps({"link": evil, "start": "2026-02-01T00:00:00Z", "end": "x"}), WINDOW
        )
    with pytest.raises(FullResyncRequired):
        await provider.fetch_changes(
            ref, json.dumps({"link": evil, "start": "2026-02-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"}), WINDOW
        )
    assert world.recorder.calls == []


async def test_a_bare_delta_link_from_before_windows_were_kept_takes_a_new_baseline(
    world: Sandbox, provider: GraphCalendarProvider
) -> None:
    _, ref, baseline = await seeded_baseline(world, provider)
    world.recorder.calls.clear()
    with pytest.raises(FullResyncRequired):  # the worker then takes a new baseline
        await provider.fetch_changes(ref, json.loads(baseline.cursor)["link"], WINDOW)
    assert world.recorder.calls == []


async def test_throttling_is_retried_after_the_requested_delay(
    world: Sandbox, provider: GraphCalendarProvider, sleeps: list[float]
) -> None:
    email = world.mailbox()
    world.seed(email)
    world.fake.faults.throttle(1, retry_after=7, target="graph")
    changes = await provider.fetch_changes(world.org_ref(email, resolved=True), None, WINDOW)
    assert sleeps == [7.0] and len(changes.upserts) == 12
    assert [c["status"] for c in world.recorder.api(contains="/calendarView/delta")][:2] == [429, 200]


async def test_server_errors_back_off_exponentially(
    world: Sandbox, provider: GraphCalendarProvider, sleeps: list[float]
) -> None:
    email = world.mailbox()
    world.seed(email)
    world.fake.faults.fail_next(2, 500, target="graph")  # no Retry-After: our own backoff
    await provider.fetch_changes(world.org_ref(email), None, WINDOW)
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0


async def test_persistent_unavailability_gives_up_with_retry_after(
    world: Sandbox, provider: GraphCalendarProvider, sleeps: list[float]
) -> None:
    email = world.mailbox()
    world.fake.faults.fail_next(4, 503, retry_after=2, target="graph")
    with pytest.raises(ProviderError) as err:
        await provider.fetch_changes(world.org_ref(email), None, WINDOW)
    assert err.value.status == 503 and err.value.retry_after == 2.0 and err.value.transient
    assert not isinstance(err.value, FullResyncRequired)
    assert sleeps == [2.0, 2.0, 2.0]


async def test_long_retry_after_goes_back_to_the_scheduler(
    world: Sandbox, provider: GraphCalendarProvider, sleeps: list[float]
) -> None:
    world.fake.faults.throttle(1, retry_after=600, target="graph")
    with pytest.raises(ProviderError) as err:
        await provider.fetch_changes(world.org_ref(world.mailbox()), None, WINDOW)
    assert err.value.status == 429 and err.value.retry_after == 600.0 and sleeps == []


async def test_forbidden_mailbox_is_not_transient(world: Sandbox, provider: GraphCalendarProvider) -> None:
    world.fake.faults.fail_next(1, 403, target="graph")
    with pytest.raises(ProviderError) as err:
        await provider.fetch_changes(world.org_ref(world.mailbox(), resolved=True), None, WINDOW)
    assert err.value.status == 403 and not err.value.transient


# -- tokens ----------------------------------------------------------------------------------
async def test_expired_app_token_is_reacquired_transparently(world: Sandbox, provider: GraphCalendarProvider) -> None:
    _, ref, baseline = await seeded_baseline(world, provider)
    world.recorder.calls.clear()
    world.fake.issuer.expire_all()
    changes = await provider.fetch_changes(ref, baseline.cursor, WINDOW)
    assert changes.cursor
    statuses = [c["status"] for c in world.recorder.calls]
    token_posts = [c for c in world.recorder.calls if c["path"].endswith("/oauth2/v2.0/token")]
    assert statuses[0] == 401 and statuses[-1] == 200 and len(token_posts) == 1


async def test_an_app_token_expired_on_the_injected_clock_is_reacquired_before_the_call(
    world: Sandbox, provider: GraphCalendarProvider
) -> None:
    """MSAL's cache judges expiry by the wall clock; the fake by the injected one."""
    _, ref, baseline = await seeded_baseline(world, provider)
    world.recorder.calls.clear()
    world.tick(120)  # the fake's 1-hour token is long gone
    await provider.fetch_changes(ref, baseline.cursor, WINDOW)
    assert [c["status"] for c in world.recorder.calls] == [200, 200]  # no 401 on the way
    assert world.recorder.calls[0]["path"].endswith("/oauth2/v2.0/token")


async def test_concurrent_calendars_share_one_app_token(world: Sandbox, provider: GraphCalendarProvider) -> None:
    refs = [world.org_ref(world.mailbox()) for _ in range(5)]
    results = await asyncio.gather(*(provider.fetch_changes(ref, None, WINDOW) for ref in refs))
    assert all(r.baseline == WINDOW for r in results)
    assert len([c for c in world.recorder.calls if c["path"].endswith("/oauth2/v2.0/token")]) == 1


async def test_org_credentials_as_json_for_another_app(world: Sandbox, provider: GraphCalendarProvider) -> None:
    email = world.mailbox()
    world.seed(email)
    world.fake.entra.register_app("second-app", "second-secret")
    creds = json.dumps({"tenant_id": world.fake.tenant_id, "client_id": "second-app", "client_secret": "second-secret"})
    changes = await provider.fetch_changes(world.org_ref(email, credentials=creds), None, WINDOW)
    assert len(changes.upserts) == 12


async def test_bad_org_secret_fails_authorization_without_leaking_it(
    world: Sandbox, provider: GraphCalendarProvider
) -> None:
    wrong = "wrong-secret-value-XYZ"
    with capture_logs() as logs, pytest.raises(AuthorizationFailed) as err:
        await provider.fetch_changes(world.org_ref(world.mailbox(), credentials=wrong), None, WINDOW)
    assert "invalid_client" in str(err.value) and not err.value.transient
    assert wrong not in str(err.value) and wrong not in repr(logs)


async def connect(world: Sandbox, email: str) -> tuple[str, str]:
    """The per-user connect flow: consent URL → (fake) sign-in → code → refresh token."""
    flow = GraphConnect(world.settings.microsoft, http_client=world.login)
    url = await flow.authorization_url(REDIRECT, "state-42", login_hint=email)
    assert url.startswith(f"https://login.fake.test/{world.fake.tenant_id}/oauth2/v2.0/authorize?")
    redirect = world.login.get(url)
    assert redirect.status_code == 302
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    assert query["state"] == ["state-42"]
    grant = await flow.exchange_code(query["code"][0], REDIRECT)
    assert grant.scopes == "Calendars.Read User.Read"  # their calendar, and who they are (GET /me)
    assert grant.user_id == object_id(email) and email in grant.addresses
    return grant.refresh_token, grant.account


async def test_delegated_connect_then_sync_and_refresh(world: Sandbox, sleeps: list[float]) -> None:
    email = world.mailbox()
    world.seed(email)
    refresh_token, who = await connect(world, email)
    assert who == email and refresh_token
    rotated: list[str] = []

    async def store_rotated(calendar: CalendarRef, token: str) -> None:
        rotated.append(token)

    provider = GraphCalendarProvider(
        world.settings, clock=world.clock, msal_http_client=world.login, on_refresh_token=store_rotated
    )
    try:
        ref = CalendarRef(
            calendar_id=next_number(), email=email, external_id=email, credentials=refresh_token, connection_kind="user"
        )
        with capture_logs() as logs:
            baseline = await provider.fetch_changes(ref, None, WINDOW)
            assert len(baseline.upserts) == 12 and rotated and rotated[-1] != refresh_token
            world.fake.issuer.expire_all()  # the cached access token dies: redeemed again, once
            world.recorder.calls.clear()
            await provider.fetch_changes(ref, baseline.cursor, WINDOW)
        statuses = [c["status"] for c in world.recorder.calls]
        assert statuses[0] == 401 and statuses[-1] == 200
        assert len([c for c in world.recorder.calls if c["path"].endswith("/token")]) == 1
        assert refresh_token not in repr(logs) and all(t not in repr(logs) for t in rotated)

        world.recorder.calls.clear()  # the caller stored the rotated token: still cached
        await provider.fetch_changes(dataclasses.replace(ref, credentials=rotated[-1]), None, WINDOW)
        assert not [c for c in world.recorder.calls if c["path"].endswith("/token")]

        # A delegated grant reads its own mailbox (/me), whatever the calendar's address says.
        world.recorder.calls.clear()
        other = world.mailbox("li")
        again = await provider.fetch_changes(dataclasses.replace(ref, external_id=other), None, WINDOW)
        assert {s.event_id for s in again.upserts} == {s.event_id for s in baseline.upserts}
        assert all(c["path"].startswith("/v1.0/me/") for c in world.recorder.api())
    finally:
        await provider.aclose()


async def test_revoked_refresh_token_fails_authorization(world: Sandbox, provider: GraphCalendarProvider) -> None:
    bogus = "0.fake-rt.not-a-real-refresh-token"
    ref = CalendarRef(
        calendar_id=next_number(),
        email="x@acme.test",
        external_id="x@acme.test",
        credentials=bogus,
        connection_kind="user",
    )
    with pytest.raises(AuthorizationFailed) as err:
        await provider.fetch_changes(ref, None, WINDOW)
    assert "invalid_grant" in str(err.value) and bogus not in str(err.value)


# -- subscriptions ---------------------------------------------------------------------------
async def test_subscription_create_notify_renew_delete(world: Sandbox, provider: GraphCalendarProvider) -> None:
    email = world.mailbox()
    world.seed(email)
    ref = world.org_ref(email)
    receiver = world.receiver
    validations = len(receiver.validations)
    secret = "client-state-s3cret"
    with capture_logs() as logs:
        channel = await provider.watch(ref, receiver.address, receiver.lifecycle_address, secret, 3600)
    assert channel.resource_id is None and channel.expires_at == world.clock.now() + timedelta(seconds=3600)
    assert len(receiver.validations) == validations + 2  # notification and lifecycle URLs
    assert secret not in repr(logs)
    sub = next(s for s in world.fake.subscriptions.all() if s.id == channel.channel_id)
    assert sub.resource == f"/users/{email}/events" and sub.client_state == secret
    assert sub.change_types == {"created", "updated", "deleted"}

    world.store.update([email], "AAMkSingleBerlin=", {"subject": "Moved agenda"}, at=world.tick())
    assert world.fake.changed(email, "AAMkSingleBerlin=", "updated") == 1
    results = await world.fake.notifier.flush()
    assert [r.status for r in results] == [202]
    note = receiver.notifications[-1]["value"][0]
    assert note["clientState"] == secret and note["subscriptionId"] == channel.channel_id
    assert note["resourceData"]["id"] == "AAMkSingleBerlin="

    world.tick(30)
    renewed = await provider.renew(ref, channel, 10**9)  # clamped to the configured maximum
    minutes = world.settings.sync.graph_subscription_minutes
    assert renewed == Channel(channel.channel_id, None, world.clock.now() + timedelta(minutes=minutes))
    assert world.recorder.api("PATCH", "/subscriptions/")

    await provider.stop(ref, renewed)
    assert world.recorder.api("DELETE", "/subscriptions/")[-1]["status"] == 204
    await provider.stop(ref, renewed)  # already gone: fine
    assert await provider.renew(ref, renewed, 3600) is None  # gone: the caller recreates


async def test_lifecycle_notifications_reach_the_lifecycle_url(world: Sandbox, provider: GraphCalendarProvider) -> None:
    ref = world.org_ref(world.mailbox())
    receiver = world.receiver
    channel = await provider.watch(ref, receiver.address, receiver.lifecycle_address, "state-2", 3600)
    assert world.fake.fire_lifecycle(channel.channel_id, "reauthorizationRequired")
    await world.fake.notifier.flush()
    event = receiver.lifecycle[-1]["value"][0]
    assert event["lifecycleEvent"] == "reauthorizationRequired" and event["clientState"] == "state-2"
    assert await provider.reauthorize(ref, channel) == channel  # answered in place: no new subscription
    [sub] = [s for s in world.fake.subscriptions.all() if s.mailbox == ref.email]
    assert sub.reauthorization_required is None and sub.reauthorizations == 1
    assert world.recorder.api("POST", "/reauthorize")[-1]["status"] == 204
    await provider.stop(ref, channel)
    assert await provider.reauthorize(ref, channel) is None  # gone: the caller opens a new one


async def test_failed_validation_handshake_is_transient(world: Sandbox, provider: GraphCalendarProvider) -> None:
    ref = world.org_ref(world.mailbox())
    dead = f"{world.receiver.server.base_url}/no-such-hook"
    with pytest.raises(ProviderError) as err:
        await provider.watch(ref, dead, world.receiver.lifecycle_address, "state-3", 3600)
    assert err.value.status == 400 and err.value.transient


async def test_msal_keeps_no_person_s_tokens_after_redeeming_them(world: Sandbox) -> None:
    """MSAL files every redeemed token and account in the application's cache for the
    life of the process; one person after another, it must not grow."""
    flow = GraphConnect(world.settings.microsoft, http_client=world.login)
    provider = GraphCalendarProvider(world.settings, clock=world.clock, msal_http_client=world.login)
    kinds = msal.TokenCache.CredentialType
    try:
        for _ in range(5):
            email = world.mailbox()
            url = await flow.authorization_url(REDIRECT, "state", login_hint=email)
            code = parse_qs(urlsplit(world.login.get(url).headers["location"]).query)["code"][0]
            grant = await flow.exchange_code(code, REDIRECT)
            ref = CalendarRef(next_number(), email, email, grant.refresh_token, "user")
            await provider.fetch_changes(ref, None, WINDOW)
            await provider.fetch_changes(world.org_ref(email), None, WINDOW)  # an app-only token beside
        flows = [flow._apps.peek(web_app_credentials(world.settings.microsoft))]
        flows.append(provider.tokens._apps.peek(web_app_credentials(world.settings.microsoft)))
        for app in flows:
            cache = app.token_cache
            for kind in (kinds.ACCOUNT, kinds.REFRESH_TOKEN, kinds.ID_TOKEN):
                assert list(cache.search(kind)) == [], kind
            people = [t for t in cache.search(kinds.ACCESS_TOKEN) if t.get("home_account_id")]
            assert people == []
        app_only = list(flows[1].token_cache.search(kinds.ACCESS_TOKEN))
        assert len(app_only) == 1  # the one app-only token, cached and reused as before
    finally:
        await provider.aclose()


# -- identity ----------------------------------------------------------------------------------
async def test_an_org_baseline_resolves_the_mailbox_s_id_and_uses_it(world: Sandbox, provider: GraphCalendarProvider):
    email = world.mailbox()
    world.seed(email)
    ref = world.org_ref(email)
    baseline = await provider.fetch_changes(ref, None, WINDOW)
    assert baseline.provider_user_id == object_id(email)
    [lookup, *deltas] = [c for c in world.recorder.api() if c["method"] == "GET"]
    assert lookup["path"] == f"/v1.0/users/{email}" and lookup["query"]["$select"] == ["id,mail,userPrincipalName"]
    assert all(c["path"].startswith(f"/v1.0/users/{object_id(email)}/") for c in deltas)
    channel = await provider.watch(ref, world.receiver.address, world.receiver.lifecycle_address, "s", 3600)
    [sub] = [s for s in world.fake.subscriptions.all() if s.id == channel.channel_id]
    assert sub.resource == f"/users/{object_id(email)}/events"  # the id: the engine has not stored it yet
    world.recorder.calls.clear()
    stored = dataclasses.replace(ref, calendar_id=next_number(), provider_user_id=object_id(email))
    again = await provider.fetch_changes(stored, None, WINDOW)  # known: not looked up again
    assert again.provider_user_id is None and "/users/" + email not in repr(world.recorder.calls)


async def test_without_directory_access_the_mailbox_is_read_by_its_address(world: Sandbox) -> None:
    world.fake.entra.register_app("calendars-only", "calendars-only-secret")  # Calendars.Read alone
    creds = json.dumps(
        {"tenant_id": world.fake.tenant_id, "client_id": "calendars-only", "client_secret": "calendars-only-secret"}
    )
    email = world.mailbox()
    world.seed(email)
    provider = GraphCalendarProvider(world.settings, clock=world.clock, msal_http_client=world.login)
    try:
        with capture_logs() as logs:
            baseline = await provider.fetch_changes(world.org_ref(email, credentials=creds), None, WINDOW)
    finally:
        await provider.aclose()
    assert baseline.provider_user_id is None and len(baseline.upserts) == 12
    assert [e["error"] for e in logs if e["event"] == "graph.user_id_unavailable"] == ["Authorization_RequestDenied"]


async def test_an_address_naming_nobody_is_user_not_found(world: Sandbox, provider: GraphCalendarProvider) -> None:
    with pytest.raises(AuthorizationFailed) as err:
        await provider.fetch_changes(world.org_ref("left.the.company@acme.test"), None, WINDOW)
    assert err.value.reason is ReconnectReason.user_not_found and err.value.status == 404


async def test_a_delta_round_past_its_bounds_fails_transiently_instead_of_growing(
    world: Sandbox, provider: GraphCalendarProvider
) -> None:
    email = world.mailbox()
    world.seed(email)  # 11 instances, 4 per page: 3 pages
    for limits in ((8, 100), (100, 2)):
        provider.listing_limits = limits
        with pytest.raises(ListingTooLong) as raised:
            await provider.fetch_changes(world.org_ref(email), None, WINDOW)
        assert raised.value.transient and "in one listing" in str(raised.value)
    provider.listing_limits = (11, 3)  # exactly at the bounds: fine
    assert (await provider.fetch_changes(world.org_ref(email), None, WINDOW)).baseline == WINDOW
