"""The calendars API against the sandbox fakes, end to end: `/connect` → the fake's
consent screen → our `/callback` (authenticated by the signed state alone) → a
worker drain syncs the calendar. Listing, disconnecting, the state's defences,
and secrets kept out of responses, logs and the database's plain text."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import structlog
from sqlalchemy import func, select
from structlog.testing import capture_logs

from service.db.models import Calendar, CalendarConnection, CalendarEvent, Meeting, PushChannel
from service.domain.connections import connect_org
from service.runtime import close_worker
from service.sandbox.oauth_entra import object_id
from service.sandbox.providers import ENTRA_CLIENT_SECRET, GOOGLE_CLIENT_SECRET
from service.security import connect_state
from service.security.crypto import Vault
from service.sync import queue
from tests.conftest import T0
from tests.sync.runtime_world import World, query, running_world
from tests.sync.sync_factories import requests

PROBLEM = "application/problem+json"
PROVIDERS = ("google", "microsoft")


@pytest.fixture(autouse=True)
def plain_structlog():
    """capture_logs only sees loggers not cached by an earlier in-process `configure()`."""
    structlog.reset_defaults()
    yield


@pytest.fixture
async def world(db_url, sessions, clock):
    async with running_world(db_url, clock) as w:
        yield w


async def _connect(world: World, headers: dict[str, str], provider: str, *, login_hint: str | None = None):
    """`/connect`, the consent screen, and back to `/callback` without our bearer token."""
    async with world.api(headers) as api:
        start = await api.get(f"/v1/calendars/{provider}/connect")
    assert start.status_code == 302, start.text
    location = start.headers["location"]
    if login_hint is not None:  # the person signs in as someone else at the provider
        location = location.replace("login_hint=", f"login_hint={login_hint}&ignored=")
    back = await world.consent(location)
    assert back.startswith(f"{world.base_url}/v1/calendars/{provider}/callback?")
    async with world.api() as browser:
        return await browser.get(back)


async def _eventually(condition, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    assert condition()


async def _calendar(sessions, calendar_id: int) -> Calendar:
    async with sessions() as s:
        return await s.get(Calendar, calendar_id)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_connect_flow_end_to_end_then_a_drain_syncs_the_calendar(world, factory, sessions, provider):
    manager = await factory.person(email=world.add(f"mgr.{provider}@acme.test", provider))
    report = await factory.person(manager=manager, email=world.add(f"rep.{provider}@acme.test", provider))
    await factory.pair(manager, report)
    world.one_on_one(provider, manager.email, report.email, T0 - timedelta(days=2), event_id="oneonone1")
    headers = await factory.token(manager)

    async with world.api(headers) as api:
        start = await api.get(f"/v1/calendars/{provider}/connect")
    assert start.status_code == 302 and start.headers["cache-control"] == "no-store"
    consent = query(start.headers["location"])
    assert consent["redirect_uri"] == f"{world.base_url}/v1/calendars/{provider}/callback"
    assert consent["login_hint"] == manager.email and consent["state"].startswith("v1.")

    r = await _connect(world, headers, provider)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["provider"], body["account"], body["connection"], body["status"]) == (
        provider,
        manager.email,
        "user",
        "active",
    )
    assert body["sync_pending"] and body["last_synced_at"] is None and body["channel_expires_at"] is None

    worker = world.worker(sessions)
    try:
        assert await worker.drain() == 1
    finally:
        await close_worker(worker)
    calendar = await _calendar(sessions, body["id"])
    assert calendar.last_synced_at == T0 and calendar.cursor and await requests(sessions, calendar.id) == 0
    async with sessions() as s:
        events = (await s.scalars(select(CalendarEvent.event_id).where(CalendarEvent.calendar_id == calendar.id))).all()
        meetings = await s.scalar(select(func.count()).select_from(Meeting))
    assert events == ["oneonone1"] and meetings == 1  # the detector ran on the change
    async with world.api(headers) as api:
        [listed] = (await api.get("/v1/calendars")).json()["items"]
    assert listed["last_synced_at"] is not None and listed["channel_expires_at"] is not None
    assert not listed["sync_pending"] and listed["last_error"] is None


async def test_microsoft_rotated_refresh_tokens_are_stored_encrypted(world, factory, sessions):
    person = await factory.person(email=world.add("rotating@acme.test", "microsoft"))
    body = (await _connect(world, await factory.token(person), "microsoft")).json()
    vault = Vault(world.settings.secret_key.get_secret_value())

    async def stored() -> str:
        async with sessions() as s:
            connection = await s.get(CalendarConnection, (await s.get(Calendar, body["id"])).connection_id)
            return vault.decrypt(connection.secret_encrypted)

    first = await stored()
    for _ in range(2):  # each fresh worker redeems the stored token; Entra rotates it every time
        worker = world.worker(sessions)
        async with sessions() as s:
            await queue.request_sync(s, [body["id"]], T0)
            await s.commit()
        try:
            assert await worker.drain() == 1
        finally:
            await close_worker(worker)
        assert (await _calendar(sessions, body["id"])).status == "active"
    assert await stored() != first


async def test_reconnecting_is_idempotent_and_revives_the_calendar(world, factory, sessions):
    person = await factory.person(email=world.add("again@acme.test", "google"))
    headers = await factory.token(person)
    first = (await _connect(world, headers, "google")).json()
    async with sessions() as s:
        calendar = await s.get(Calendar, first["id"])
        calendar.status, calendar.status_reason = "needs_reconnect", "consent_withdrawn"
        calendar.last_error = "AuthorizationFailed: 401"
        await s.commit()
    second = (await _connect(world, headers, "google")).json()
    assert second["id"] == first["id"] and second["status"] == "active" and second["sync_pending"]
    assert second["last_error"] is None and second["reason"] is None
    async with sessions() as s:
        kinds = (await s.scalars(select(CalendarConnection.kind))).all()
        assert kinds == ["user"] and await s.scalar(select(func.count()).select_from(Calendar)) == 1


async def test_a_users_own_consent_takes_over_an_org_calendar(world, factory, sessions):
    person = await factory.person(email=world.add("org.first@acme.test", "google"))
    async with sessions() as s:
        await connect_org(
            s, Vault(world.settings.secret_key.get_secret_value()), provider="google", secret="{}", now=T0
        )
        await s.commit()
    body = (await _connect(world, await factory.token(person), "google")).json()
    assert body["connection"] == "user"
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Calendar)) == 1


# -- the state and the callback's refusals -------------------------------------------------------------
async def _callback(world: World, provider: str, **params):
    async with world.api() as browser:
        return await browser.get(f"/v1/calendars/{provider}/callback", params=params)


def _assert_problem(r, status: int, slug: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    if slug:
        assert body["type"].endswith("/" + slug)
    return body


async def test_the_callback_refuses_bad_states(world, factory, clock):
    person = await factory.person(email=world.add("st@acme.test", "google"))
    keys = world.settings.secret_key.get_secret_value()
    good = connect_state.sign(keys, person.id, "google", clock.now())
    version, pid, provider, expires, nonce, mac = good.split(".")
    forged = [
        None,
        "",
        "v1.1.google",
        "x" * 600,
        "\u00e4",  # ?state=%C3%A4: compare_digest refuses non-ASCII text (was a 500)
        "\u00e4" * 600,
        good + "\u00e4",
        good[:-1] + "\u00e4",
        ".".join([version, str(person.id + 1), provider, expires, nonce, mac]),  # another person
        ".".join([version, pid, provider, str(int(expires) + 3600), nonce, mac]),  # a longer life
        connect_state.sign("not-our-key", person.id, "google", clock.now()),
    ]
    for state in forged:
        params = {"code": "4/whatever"} | ({"state": state} if state is not None else {})
        _assert_problem(await _callback(world, "google", **params), 400, "invalid-state")
    r = await _callback(world, "microsoft", state=good, code="4/whatever")  # issued for google
    assert "for google" in _assert_problem(r, 400, "invalid-state")["detail"]
    clock.set(clock.now() + connect_state.TTL)
    assert "expired" in _assert_problem(await _callback(world, "google", state=good, code="x"), 400)["detail"]


async def test_the_callback_reports_refused_consent_and_codes(world, factory, clock):
    person = await factory.person(email=world.add("no@acme.test", "google"))
    state = connect_state.sign(world.settings.secret_key.get_secret_value(), person.id, "google", clock.now())
    r = await _callback(world, "google", state=state, error="access_denied")
    assert "access_denied" in _assert_problem(r, 400, "bad-request")["detail"]
    r = await _callback(world, "google", state=state, error="<script>")
    assert "<script>" not in _assert_problem(r, 400)["detail"]
    _assert_problem(await _callback(world, "google", state=state), 400)
    r = await _callback(world, "google", state=state, code="4/never-issued")
    assert "invalid_grant" in _assert_problem(r, 400)["detail"]


async def test_signing_in_as_someone_else_is_refused(world, factory, sessions):
    person = await factory.person(email=world.add("me@acme.test", "google"))
    world.add("someone.else@acme.test", "google")
    r = await _connect(world, await factory.token(person), "google", login_hint="someone.else@acme.test")
    assert "someone.else@acme.test" in _assert_problem(r, 403, "calendar-account-mismatch")["detail"]
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(CalendarConnection)) == 0


async def test_microsoft_matches_the_person_by_mail_upn_or_alias_not_the_sign_in_name(world, factory, sessions):
    """Entra's preferred_username is the sign-in name (UPN): it can change and need not
    be the mail address. The person is matched against what GET /me says: mail,
    userPrincipalName and every smtp proxyAddress; the object id is stored."""
    world.sandbox.graph.store.add_mailbox(
        "liwei@acme.test", upn="li.wei@acme.onmicrosoft.com", aliases=["li.wei@acme.test"]
    )
    person = await factory.person(email="li.wei@acme.test")  # known here by an alias
    r = await _connect(world, await factory.token(person), "microsoft")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["account"], body["status"]) == ("li.wei@acme.test", "active")
    calendar = await _calendar(sessions, body["id"])
    assert calendar.provider_user_id == object_id("liwei@acme.test")
    world.sandbox.graph.store.rename_mailbox("liwei@acme.test", "li.w@acme.test")  # and then renamed
    worker = world.worker(sessions)
    try:
        assert await worker.drain() == 1
    finally:
        await close_worker(worker)
    calendar = await _calendar(sessions, body["id"])
    assert calendar.status == "active" and calendar.last_synced_at is not None  # read as /me

    someone = world.add("someone.else@acme.test", "microsoft")
    other = await factory.person(email=world.add("me.ms@acme.test", "microsoft"))
    r = await _connect(world, await factory.token(other), "microsoft", login_hint=someone)
    assert someone in _assert_problem(r, 403, "calendar-account-mismatch")["detail"]


async def test_the_person_behind_a_state_must_still_exist(world, factory, sessions, clock):
    person = await factory.person(email=world.add("gone@acme.test", "google"))
    async with world.api(await factory.token(person)) as api:
        location = (await api.get("/v1/calendars/google/connect")).headers["location"]
    back = await world.consent(location)
    async with sessions() as s:
        await s.delete(await s.get(type(person), person.id))
        await s.commit()
    async with world.api() as browser:
        _assert_problem(await browser.get(back), 401)


async def test_connect_needs_a_configured_oauth_app(db_url, sessions, clock, factory):
    async with running_world(db_url, clock, microsoft={"client_id": ""}) as world:
        person = await factory.person()
        async with world.api(await factory.token(person)) as api:
            r = await api.get("/v1/calendars/microsoft/connect")
            _assert_problem(r, 501, "provider-not-configured")
            _assert_problem(await api.get("/v1/calendars/yahoo/connect"), 422)
        async with world.api() as anonymous:
            _assert_problem(await anonymous.get("/v1/calendars/google/connect"), 401)


# -- listing and disconnecting ---------------------------------------------------------------------------------
async def test_list_own_or_all_with_filters_pages_and_sanitized_errors(world, factory, sessions):
    org = await factory.org()
    vault = Vault(world.settings.secret_key.get_secret_value())
    async with sessions() as s:
        await connect_org(s, vault, provider="google", secret="{}", now=T0)
        await connect_org(s, vault, provider="microsoft", secret="{}", now=T0, tenant="t", emails=[org.report.email])
        report_google = await s.scalar(
            select(Calendar).where(Calendar.person_id == org.report.id, Calendar.provider == "google")
        )
        report_google.status, report_google.status_reason = "needs_reconnect", "user_not_found"
        report_google.last_error = (
            "ProviderError: GET https://graph.example/v1.0/users/x/calendarView/delta?"
            "$deltatoken=abcdefghijklmnopqrstuvwxyz0123456789 failed; Bearer eyJhbGciOi.x.y"
        )
        await s.commit()
    async with world.api(org.h["report"]) as api:
        mine = (await api.get("/v1/calendars")).json()["items"]
        assert {(c["provider"], c["person_id"]) for c in mine} == {
            ("google", org.report.id),
            ("microsoft", org.report.id),
        }
        failing = next(c for c in mine if c["status"] == "needs_reconnect")
        assert failing["reason"] == "the provider knows no such user (deleted, disabled or renamed)"
        error = failing["last_error"]
        assert "abcdefghijklmnop" not in error and "eyJhbG" not in error and "https://" not in error
        assert error.startswith("ProviderError: GET <url>")
        only = (await api.get("/v1/calendars", params={"provider": "microsoft"})).json()["items"]
        assert [c["provider"] for c in only] == ["microsoft"]
    async with world.api(org.h["admin"]) as api:
        everyone = (await api.get("/v1/calendars", params={"limit": 200})).json()
        assert len(everyone["items"]) == 9 and everyone["next_cursor"] is None
        page = (await api.get("/v1/calendars", params={"limit": 4})).json()
        rest = (await api.get("/v1/calendars", params={"limit": 200, "cursor": page["next_cursor"]})).json()
        assert [c["id"] for c in page["items"] + rest["items"]] == [c["id"] for c in everyone["items"]]
        errors = (await api.get("/v1/calendars", params={"status": "needs_reconnect"})).json()["items"]
        assert [c["id"] for c in errors] == [report_google.id]
        _assert_problem(await api.get("/v1/calendars", params={"status": "broken"}), 422)


def _live_at_provider(world: World, provider: str, email: str) -> int:
    if provider == "google":
        return sum(not c.stopped for c in world.sandbox.google.channels.channels(email))
    return sum(s.mailbox == email for s in world.sandbox.graph.subscriptions.all())


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_disconnect_stops_syncing_and_the_push_channel(world, factory, sessions, provider):
    org = await factory.org()
    email = world.add(org.report.email, provider)
    body = (await _connect(world, org.h["report"], provider)).json()
    worker = world.worker(sessions)
    try:
        await worker.drain()
        assert _live_at_provider(world, provider, email) == 1

        async with world.api(org.h["member"]) as api:  # someone else's: indistinguishable from missing
            assert _assert_problem(await api.delete(f"/v1/calendars/{body['id']}"), 404)["detail"] == (
                f"calendar {body['id']} not found"
            )
        async with world.api(org.h["report"]) as api:
            r = await api.delete(f"/v1/calendars/{body['id']}")
        assert r.status_code == 200 and r.json()["status"] == "disabled"
        assert r.json()["reason"] == "disconnected by its owner or an admin"
        assert r.json()["channel_expires_at"] is None and not r.json()["sync_pending"]
        await _eventually(lambda: _live_at_provider(world, provider, email) == 0)  # just after the response
        async with sessions() as s:
            assert (await s.scalar(select(PushChannel.stopped_at))) is not None
            await queue.request_sync(s, [body["id"]], T0)  # a late notification cannot revive it
            await s.commit()
        assert await worker.drain() == 0
    finally:
        await close_worker(worker)
    async with world.api(org.h["admin"]) as api:  # admins may disconnect anyone's; again is harmless
        assert (await api.delete(f"/v1/calendars/{body['id']}")).json()["status"] == "disabled"


# -- secrets ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_grants_appear_in_no_response_no_log_line_and_not_in_plain_text(world, factory, sessions, provider):
    org = await factory.org()
    world.add(org.report.email, provider)
    texts: list[str] = []
    vault = Vault(world.settings.secret_key.get_secret_value())

    async def column() -> str:
        async with sessions() as s:
            return (await s.scalars(select(CalendarConnection.secret_encrypted))).one()

    with capture_logs() as logs:
        r = await _connect(world, org.h["report"], provider)
        texts.append(r.text)
        stored = [await column()]
        worker = world.worker(sessions)
        try:
            await worker.drain()
        finally:
            await close_worker(worker)
        for who in ("report", "admin"):
            async with world.api(org.h[who]) as api:
                texts.append((await api.get("/v1/calendars")).text)
        async with world.api(org.h["report"]) as api:
            texts.append((await api.delete(f"/v1/calendars/{r.json()['id']}")).text)
    stored.append(await column())
    assert any(e["event"] == "calendar_connected" for e in logs)  # the capture did see the app's lines
    # The refresh token as connected, and as rotated by the sync (Entra rotates it).
    secrets = {vault.decrypt(c) for c in stored} | {
        GOOGLE_CLIENT_SECRET,
        ENTRA_CLIENT_SECRET,
        world.settings.secret_key.get_secret_value(),
    }
    assert len(secrets) == (5 if provider == "microsoft" else 4)
    logged = repr(logs)
    for secret in secrets:
        assert len(secret) >= 16
        assert all(secret not in text for text in texts), "a secret in an API response"
        assert secret not in logged, "a secret in a log line"
        assert all(secret not in c for c in stored), "a secret in plain text in the database"
