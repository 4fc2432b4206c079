"""The fake Google Calendar over HTTP, driven by google-api-python-client and google-auth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import jwt
import pytest
from google.auth.exceptions import RefreshError
from google.oauth2 import service_account
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from service.clock import FixedClock
from service.sandbox.errors import GoogleApiError
from service.sandbox.faults import Faults
from service.sandbox.google_channels import GoogleChannels
from service.sandbox.google_server import GoogleFake
from service.sandbox.notifier import Notifier
from service.sandbox.oauth_google import CALENDAR_SCOPES
from service.sandbox.serve import LoopbackServer
from tests.sandbox.builders import LI, MAYA, OMAR, google_event, google_store, t
from tests.sandbox.receiver import Receiver

T0 = t("2026-01-02T08:00:00Z")
CLIENT_ID, CLIENT_SECRET = "test-client.apps.googleusercontent.com", "test-secret"
SA_EMAIL = "sync@sandbox.iam.gserviceaccount.com"


@dataclass
class Env:
    fake: GoogleFake
    clock: FixedClock
    base: str
    receiver: Receiver

    def creds(self, user: str = MAYA) -> Credentials:
        token = self.fake.auth.issue_refresh_token(CLIENT_ID, user)
        return Credentials(
            token=None,
            refresh_token=token,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            token_uri=f"{self.base}/token",
        )

    def service(self, credentials=None):
        return build(
            "calendar",
            "v3",
            credentials=credentials or self.creds(),
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": f"{self.base}/calendar/v3/"},
        )


@pytest.fixture(scope="module")
def env():
    receiver = Receiver()
    receiver.server.start()
    clock = FixedClock(T0)
    store = google_store(MAYA, LI, OMAR)
    store.create([MAYA, LI], google_event("weekly1", recurrence=["RRULE:FREQ=WEEKLY;COUNT=10"]), at=T0)
    for n in range(5):
        store.create(
            [MAYA],
            google_event(f"single{n}", start=f"2026-01-1{n}T10:00:00+01:00", end=f"2026-01-1{n}T10:30:00+01:00"),
            at=T0,
        )
    fake = GoogleFake(store, clock=clock, allow_http_loopback=True)  # the receiver is http on loopback
    fake.auth.register_client(CLIENT_ID, CLIENT_SECRET)
    server = LoopbackServer(fake.app).start()
    yield Env(fake, clock, server.base_url, receiver)
    server.stop()
    receiver.server.stop()
    fake.notifier.close()


@pytest.fixture(autouse=True)
def _fresh(env):
    env.clock.set(T0)
    env.fake.faults.reset()
    env.fake.notifier.clear()
    env.receiver.clear()
    yield


def _op(kind: str, calendars: list[str], at: str, **fields) -> dict:
    return {"provider": "google", "op": kind, "calendars": calendars, "at": at, **fields}


def _reason(exc: HttpError) -> str:
    return exc.error_details[0]["reason"]


def test_full_listing_pages_with_list_next_then_sync_token_increments(env) -> None:
    events = env.service().events()
    request = events.list(
        calendarId=MAYA, singleEvents=False, showDeleted=True, maxResults=2, timeMin="2026-01-01T00:00:00Z"
    )
    pages = []
    while request is not None:
        pages.append(request.execute())
        request = events.list_next(request, pages[-1])
    assert [len(p["items"]) for p in pages] == [2, 2, 2]
    assert all("nextPageToken" in p and "nextSyncToken" not in p for p in pages[:-1])
    assert "nextSyncToken" in pages[-1] and "nextPageToken" not in pages[-1]
    assert {i["id"] for p in pages for i in p["items"]} == {"weekly1", *(f"single{n}" for n in range(5))}
    token = pages[-1]["nextSyncToken"]

    env.fake.apply(_op("update", [MAYA], "2026-01-03T09:00:00Z", event_id="single1", patch={"summary": "moved"}))
    env.fake.apply(_op("delete", [MAYA], "2026-01-03T09:05:00Z", event_id="single2"))
    changed = events.list(calendarId=MAYA, syncToken=token, showDeleted=True).execute()
    assert [(i["id"], i["status"]) for i in changed["items"]] == [("single1", "confirmed"), ("single2", "cancelled")]
    assert changed["items"][0]["updated"] == "2026-01-03T09:00:00.000Z"
    quiet = events.list(calendarId=MAYA, syncToken=changed["nextSyncToken"]).execute()
    assert quiet["items"] == [] and quiet["nextSyncToken"]


def test_sync_token_with_time_min_is_400_and_expired_token_is_410(env) -> None:
    events = env.service(env.creds(LI)).events()
    token = events.list(calendarId=LI, maxResults=2500).execute()["nextSyncToken"]
    with pytest.raises(HttpError) as bad:
        events.list(calendarId=LI, syncToken=token, timeMin="2026-01-01T00:00:00Z").execute()
    assert bad.value.status_code == 400 and _reason(bad.value) == "syncTokenWithRequestRestrictions"
    env.fake.expire_sync_tokens(LI)
    with pytest.raises(HttpError) as gone:
        events.list(calendarId=LI, syncToken=token).execute()
    assert gone.value.status_code == 410 and _reason(gone.value) == "fullSyncRequired"
    assert gone.value.error_details[0]["domain"] == "calendar"
    assert events.list(calendarId=LI).execute()["items"]  # a full sync works again


def test_single_events_and_get_by_id_including_unmodified_instances(env) -> None:
    events = env.service().events()
    page = events.list(
        calendarId=MAYA,
        singleEvents=True,
        timeMin="2026-01-01T00:00:00Z",
        timeMax="2026-01-20T00:00:00Z",
        orderBy="startTime",
    ).execute()
    instance = next(i for i in page["items"] if i.get("recurringEventId") == "weekly1")
    assert events.get(calendarId=MAYA, eventId=instance["id"]).execute()["start"] == instance["start"]
    assert events.get(calendarId="primary", eventId="single0").execute()["organizer"]["self"] is True
    with pytest.raises(HttpError) as missing:
        events.get(calendarId=MAYA, eventId="nope").execute()
    assert missing.value.status_code == 404 and _reason(missing.value) == "notFound"


def test_a_token_reads_only_its_own_calendar(env) -> None:
    service = env.service(env.creds(LI))
    assert service.calendars().get(calendarId="primary").execute()["id"] == LI
    with pytest.raises(HttpError) as denied:
        service.events().list(calendarId=MAYA).execute()
    assert denied.value.status_code == 403 and _reason(denied.value) == "forbidden"


def test_expired_access_token_is_refreshed_transparently(env) -> None:
    creds = env.creds()
    events = env.service(creds).events()
    events.list(calendarId=MAYA, maxResults=1).execute()
    first = creds.token
    env.clock.set(T0 + timedelta(hours=2))  # the fake's clock: the token died; the client can't know
    assert events.list(calendarId=MAYA, maxResults=1).execute()["items"]
    assert creds.token != first
    env.fake.issuer.expire_all()  # the "expire now" knob
    assert events.list(calendarId=MAYA, maxResults=1).execute()["items"]


def test_refresh_with_a_revoked_token_or_wrong_secret_fails(env) -> None:
    creds = env.creds()
    env.fake.auth.revoke_refresh_token(creds.refresh_token)
    with pytest.raises(RefreshError, match="invalid_grant"):
        env.service(creds).events().list(calendarId=MAYA).execute()
    wrong = Credentials(
        token=None,
        refresh_token=env.creds().refresh_token,
        client_id=CLIENT_ID,
        client_secret="nope",
        token_uri=f"{env.base}/token",
    )
    with pytest.raises(RefreshError, match="invalid_client"):
        env.service(wrong).events().list(calendarId=MAYA).execute()


def test_service_account_with_domain_wide_delegation(env) -> None:
    env.clock.set(datetime.now(UTC))  # google-auth stamps its assertions with the wall clock
    info = env.fake.auth.new_service_account(SA_EMAIL, token_uri=f"{env.base}/token")
    base = service_account.Credentials.from_service_account_info(info, scopes=list(CALENDAR_SCOPES))
    items = env.service(base.with_subject(LI)).events().list(calendarId=LI).execute()["items"]
    assert [i["id"] for i in items] == ["weekly1"]
    with pytest.raises(HttpError) as denied:  # impersonating Li reads Li's calendar only
        env.service(base.with_subject(LI)).events().list(calendarId=MAYA).execute()
    assert denied.value.status_code == 403
    with pytest.raises(RefreshError, match="invalid_grant"):
        env.service(base.with_subject("stranger@acme.test")).events().list(calendarId="primary").execute()
    wider = service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/calendar"]
    ).with_subject(LI)
    with pytest.raises(RefreshError, match="unauthorized_client"):
        env.service(wider).events().list(calendarId=LI).execute()
    forged = dict(info, private_key=env.fake.auth.new_service_account("other@x.test")["private_key"])
    with pytest.raises(RefreshError, match="invalid_grant"):
        env.service(
            service_account.Credentials.from_service_account_info(forged, scopes=list(CALENDAR_SCOPES)).with_subject(LI)
        ).events().list(calendarId=LI).execute()


def test_watch_delivers_sync_then_exists_with_headers_until_stopped(env) -> None:
    service = env.service()
    address = env.receiver.url("/google/hook")
    channel = (
        service.events()
        .watch(
            calendarId=MAYA,
            body={
                "id": "chan-1",
                "type": "web_hook",
                "address": address,
                "token": "target=maya",
                "params": {"ttl": "3600"},
            },
        )
        .execute()
    )
    assert channel["kind"] == "api#channel" and channel["id"] == "chan-1" and channel["token"] == "target=maya"
    assert channel["expiration"] == str(int((T0 + timedelta(hours=1)).timestamp() * 1000))
    assert env.receiver.at("/google/hook") == []  # nothing until flushed (manual mode)
    results = env.fake.notifier.flush_sync()
    assert [r.status for r in results] == [200] and results[0].ok
    env.fake.apply(_op("update", [MAYA, LI], "2026-01-02T08:30:00Z", event_id="weekly1", patch={"summary": "x"}))
    env.fake.notifier.flush_sync()
    got = env.receiver.at("/google/hook")
    assert [r.headers["x-goog-resource-state"] for r in got] == ["sync", "exists"]
    assert [r.headers["x-goog-message-number"] for r in got] == ["1", "2"]
    last = got[-1]
    assert last.body == b""
    assert last.headers["x-goog-channel-id"] == "chan-1" and last.headers["x-goog-channel-token"] == "target=maya"
    assert last.headers["x-goog-resource-id"] == channel["resourceId"]
    assert last.headers["x-goog-resource-uri"] == channel["resourceUri"]
    assert parsedate_to_datetime(last.headers["x-goog-channel-expiration"]) == T0 + timedelta(hours=1)

    assert service.channels().stop(body={"id": "chan-1", "resourceId": channel["resourceId"]}).execute() == ""
    assert (
        env.fake.apply(_op("update", [MAYA], "2026-01-02T08:40:00Z", event_id="weekly1", patch={"summary": "y"})) == 0
    )
    with pytest.raises(HttpError) as again:
        service.channels().stop(body={"id": "chan-1", "resourceId": channel["resourceId"]}).execute()
    assert again.value.status_code == 404


def test_watch_validation_and_expiry(env) -> None:
    events = env.service().events()
    body = {"id": "chan-2", "type": "web_hook", "address": env.receiver.url("/google/two")}
    created = events.watch(calendarId=MAYA, body=body).execute()
    assert int(created["expiration"]) == int((T0 + timedelta(days=7)).timestamp() * 1000)  # default ttl
    with pytest.raises(HttpError) as duplicate:
        events.watch(calendarId=MAYA, body=body).execute()
    assert _reason(duplicate.value) == "channelIdNotUnique"
    with pytest.raises(HttpError) as wrong_type:
        events.watch(calendarId=MAYA, body={**body, "id": "chan-3", "type": "email"}).execute()
    assert wrong_type.value.status_code == 400
    env.clock.set(T0 + timedelta(days=8))  # expired channels hear nothing
    assert env.fake.changed([MAYA]) == 0


def test_refusals_carry_errorinfo_as_googles_front_end_sends_them(env) -> None:
    base = f"{env.base}/calendar/v3/calendars/{MAYA}/events"
    missing = httpx.get(base).json()["error"]
    assert missing["status"] == "UNAUTHENTICATED" and missing["errors"][0]["reason"] == "authError"
    assert missing["details"][0]["reason"] == "CREDENTIALS_MISSING"
    creds = env.creds()
    env.service(creds).events().list(calendarId=MAYA, maxResults=1).execute()
    env.fake.issuer.expire_all()
    expired = httpx.get(base, headers={"Authorization": f"Bearer {creds.token}"}).json()["error"]
    assert expired["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"
    narrow = env.fake.issuer.issue("google", MAYA, CLIENT_ID, ["openid"])
    scopes = httpx.get(base, headers={"Authorization": f"Bearer {narrow.token}"}).json()["error"]
    assert (scopes["code"], scopes["errors"][0]["reason"]) == (403, "insufficientPermissions")
    assert scopes["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    with pytest.raises(HttpError) as not_found:  # the Calendar API's own errors: errors[] only
        env.service().events().get(calendarId=MAYA, eventId="nope").execute()
    body = json.loads(not_found.value.content)["error"]
    assert body["status"] == "NOT_FOUND" and "details" not in body


def test_a_user_removing_the_app_and_a_deleted_key_fail_with_invalid_grant(env) -> None:
    first, second = env.creds(LI), env.creds(LI)
    assert env.fake.auth.revoke_user_grants(CLIENT_ID, LI) >= 2  # earlier tests consented too
    for creds in (first, second):
        with pytest.raises(RefreshError, match="invalid_grant: Token has been expired or revoked"):
            env.service(creds).events().list(calendarId=LI).execute()
    assert env.service(env.creds(LI)).events().list(calendarId=LI).execute()["items"]  # a new consent works

    info = env.fake.auth.new_service_account(
        "deleted-key@sandbox.iam.gserviceaccount.com", token_uri=f"{env.base}/token"
    )
    creds = service_account.Credentials.from_service_account_info(info, scopes=list(CALENDAR_SCOPES))
    env.fake.auth.delete_service_account_key(info["client_email"])
    with pytest.raises(RefreshError, match="invalid_grant: Invalid JWT Signature"):
        env.service(creds.with_subject(LI)).events().list(calendarId=LI).execute()


def test_watching_a_calendar_that_does_not_exist_is_404(env) -> None:
    ghost = "ghost@acme.test"
    creds = env.creds(ghost)
    body = {"id": "chan-ghost", "type": "web_hook", "address": env.receiver.url("/google/ghost")}
    with pytest.raises(HttpError) as missing:
        env.service(creds).events().watch(calendarId="primary", body=body).execute()
    assert missing.value.status_code == 404 and env.fake.channels.channels(ghost) == []


@pytest.mark.parametrize(
    ("address", "loopback_allowed", "accepted"),
    [
        ("https://hooks.example.test/google", False, True),
        ("http://hooks.example.test/google", False, False),
        ("http://127.0.0.1:8000/webhooks/google", False, False),  # strict by default
        ("http://127.0.0.1:8000/webhooks/google", True, True),
        ("http://localhost:8000/webhooks/google", True, True),
        ("http://[::1]:8000/webhooks/google", True, True),
        ("http://10.0.0.5/webhooks/google", True, False),  # loopback only
        ("http://hooks.example.test/google", True, False),
        ("ftp://127.0.0.1/hook", True, False),
    ],
)
def test_watch_needs_https_unless_told_to_take_loopback_http(
    address: str, loopback_allowed: bool, accepted: bool
) -> None:
    channels = GoogleChannels(FixedClock(T0), Notifier(), Faults(), allow_http_loopback=loopback_allowed)
    body = {"id": "chan-https", "type": "web_hook", "address": address}
    if accepted:
        assert channels.watch(MAYA, MAYA, body, "uri")["id"] == "chan-https"
        return
    with pytest.raises(GoogleApiError) as refused:
        channels.watch(MAYA, MAYA, body, "uri")
    assert refused.value.status == 400 and refused.value.reason == "push.webhookUrlNotHttps"
    assert refused.value.body()["error"]["message"] == f"WebHook callback must be HTTPS: {address}"
    assert channels.channels(MAYA) == []


def test_the_fake_is_strict_about_https_by_default() -> None:
    store = google_store(MAYA)
    fake = GoogleFake(store, clock=FixedClock(T0))
    fake.auth.register_client(CLIENT_ID, CLIENT_SECRET)
    with LoopbackServer(fake.app) as server:
        token = fake.auth.issue_refresh_token(CLIENT_ID, MAYA)
        creds = Credentials(
            None,
            refresh_token=token,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            token_uri=f"{server.base_url}/token",
        )
        service = build(
            "calendar", "v3", credentials=creds, static_discovery=True, cache_discovery=False,
            client_options={"api_endpoint": f"{server.base_url}/calendar/v3/"},
        )  # fmt: skip
        body = {"id": "chan-strict", "type": "web_hook", "address": "http://127.0.0.1:9/webhooks/google"}
        with pytest.raises(HttpError) as refused:
            service.events().watch(calendarId=MAYA, body=body).execute()
        assert refused.value.status_code == 400
        assert json.loads(refused.value.content)["error"]["errors"][0]["reason"] == "push.webhookUrlNotHttps"
    fake.notifier.close()


def _assertion(info: dict, *, iat: int, exp: int, sub: str = LI) -> str:
    claims = {
        "iss": info["client_email"],
        "sub": sub,
        "aud": "https://oauth2.googleapis.com/token",
        "scope": " ".join(CALENDAR_SCOPES),
        "iat": iat,
        "exp": exp,
    }
    return jwt.encode(claims, info["private_key"], algorithm="RS256", headers={"kid": info["private_key_id"]})


@pytest.mark.parametrize(
    ("iat", "exp", "accepted"),
    [
        (0, 3600, True),
        (-1800, 1800, True),
        (240, 3840, True),  # a clock a little ahead: within the skew
        (0, 3601, False),  # longer than an hour
        (0, 0, False),
        (3600, 7200, False),  # an hour in the future
        (-7200, -3600, False),  # expired an hour ago
        (-40 * 86400, -40 * 86400 + 3600, False),  # the wall clock of another time
    ],
)
def test_the_delegation_assertion_is_checked_against_the_fakes_clock(env, iat: int, exp: int, accepted: bool) -> None:
    info = env.fake.auth.new_service_account(SA_EMAIL, token_uri=f"{env.base}/token")
    now = int(T0.timestamp())
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": _assertion(info, iat=now + iat, exp=now + exp),
    }
    answer = httpx.post(f"{env.base}/token", data=form)
    if accepted:
        assert answer.status_code == 200 and answer.json()["access_token"]
        return
    assert answer.status_code == 400 and answer.json() == {
        "error": "invalid_grant",
        "error_description": "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
        "timeframe. Check your iat and exp values in the JWT claim.",
    }
