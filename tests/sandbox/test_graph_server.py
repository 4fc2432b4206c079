"""The fake Microsoft Graph and Entra over HTTP, driven by MSAL and httpx."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote

import httpx
import msal
import pytest

from service.clock import FixedClock
from service.sandbox.graph_server import GraphFake
from service.sandbox.oauth import LoopbackHttpClient
from service.sandbox.oauth_entra import object_id
from service.sandbox.serve import LoopbackServer
from tests.sandbox.builders import LI, MAYA, OMAR, graph_event, graph_store, t
from tests.sandbox.receiver import Receiver

T0 = t("2026-01-02T08:00:00Z")
APP_ID, APP_SECRET = "11111111-2222-3333-4444-555555555555", "app-secret"
GRAPH_DEFAULT = ["https://graph.microsoft.com/.default"]
WINDOW = {"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2026-03-01T00:00:00Z"}
MASTER = "AAMkAGev1AAA="


@dataclass
class Env:
    fake: GraphFake
    clock: FixedClock
    base: str
    receiver: Receiver

    def msal_app(self, secret: str = APP_SECRET) -> msal.ConfidentialClientApplication:
        return msal.ConfidentialClientApplication(
            APP_ID,
            client_credential=secret,
            authority=self.fake.authority,
            instance_discovery=False,
            http_client=LoopbackHttpClient(self.base),
        )

    def client(self, token: str | None = None, **headers: str) -> httpx.Client:
        token = token or self.msal_app().acquire_token_for_client(scopes=GRAPH_DEFAULT)["access_token"]
        return httpx.Client(base_url=f"{self.base}/v1.0/", headers={"Authorization": f"Bearer {token}", **headers})

    def subscription(self, path: str = "/graph/hook", **overrides) -> dict:
        return {
            "changeType": "created,updated,deleted",
            "notificationUrl": self.receiver.url(path),
            "lifecycleNotificationUrl": self.receiver.url("/graph/lifecycle"),
            "resource": f"/users/{MAYA}/events",
            "clientState": "s3cret-state",
            "expirationDateTime": "2026-01-04T08:00:00.0000000Z",
            **overrides,
        }


@pytest.fixture(scope="module")
def env():
    receiver = Receiver()
    receiver.server.start()
    clock = FixedClock(T0)
    store = graph_store(MAYA, LI, OMAR)
    store.create([MAYA], graph_event(pattern={}), at=T0)
    fake = GraphFake(store, clock=clock, allow_loopback_http=True)
    fake.entra.register_app(APP_ID, APP_SECRET)
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


def _drain(client: httpx.Client, first: httpx.Response) -> tuple[list[dict], str, int]:
    pages = [first.json()]
    while "@odata.nextLink" in pages[-1]:
        pages.append(client.get(pages[-1]["@odata.nextLink"]).json())
    return [i for p in pages for i in p["value"]], pages[-1]["@odata.deltaLink"], len(pages)


def test_msal_client_credentials_against_the_fake(env) -> None:
    result = env.msal_app().acquire_token_for_client(scopes=GRAPH_DEFAULT)
    assert result["token_type"] == "Bearer" and result["expires_in"] == 3600
    bad = env.msal_app("wrong").acquire_token_for_client(scopes=GRAPH_DEFAULT)
    assert bad["error"] == "invalid_client" and 7000215 in bad["error_codes"]
    scoped = env.msal_app().acquire_token_for_client(scopes=["https://graph.microsoft.com/Calendars.Read"])
    assert scoped["error"] == "invalid_scope"
    with pytest.raises(ValueError, match="only reaches the sandbox"):
        LoopbackHttpClient(env.base).get("https://login.microsoftonline.com/common")


def test_delta_pages_with_next_and_delta_links_then_increments(env) -> None:
    with env.client(Prefer="odata.maxpagesize=3") as client:
        first = client.get(f"users/{MAYA}/calendarView/delta", params=WINDOW)
        assert first.headers["preference-applied"] == "odata.maxpagesize=3"
        items, delta_link, pages = _drain(client, first)
        assert len(items) == 8 and pages == 3
        assert delta_link.startswith(f"{env.base}/v1.0/users/") and "$deltatoken=" in delta_link
        stub = items[0]
        assert stub["type"] == "occurrence" and stub["seriesMasterId"] == MASTER and "subject" not in stub
        master = client.get(f"users/{MAYA}/events/{MASTER}").json()
        assert master["subject"] == "Maya / Li 1:1" and master["type"] == "seriesMaster"

        env.fake.apply(
            {
                "provider": "microsoft",
                "op": "cancel_occurrence",
                "calendars": [MAYA],
                "at": "2026-01-03T10:00:00Z",
                "event_id": MASTER,
                "original_start": stub["originalStart"],
            }
        )
        changed, delta_link, _ = _drain(client, client.get(delta_link))
        assert {"id": stub["id"], "@removed": {"reason": "deleted"}} in [
            {k: v for k, v in i.items() if k != "@odata.type"} for i in changed
        ]
        quiet, _, _ = _drain(client, client.get(delta_link))
        assert quiet == []


def test_delta_by_object_id_with_outlook_timezone(env) -> None:
    with env.client(Prefer='outlook.timezone="Pacific Standard Time"') as client:
        page = client.get(f"users/{object_id(MAYA)}/calendarView/delta", params=WINDOW).json()
        assert page["value"][0]["start"]["timeZone"] == "Pacific Standard Time"
        assert (
            client.get(f"users/{MAYA}/calendarView/delta", params={**WINDOW, "$select": "subject"}).status_code == 400
        )


def test_errors_in_graph_shape(env) -> None:
    with env.client() as client:
        missing = client.get(f"users/{MAYA}/events/AAMkNope=")
        assert missing.status_code == 404
        error = missing.json()["error"]
        assert error["code"] == "ErrorItemNotFound" and set(error["innerError"]) >= {"date", "request-id"}
        assert client.get("users/nobody@acme.test/calendarView/delta", params=WINDOW).status_code == 404
        assert client.get("me/calendarView/delta", params=WINDOW).json()["error"]["code"] == "BadRequest"
        token = client.get(f"users/{LI}/calendarView/delta", params=WINDOW).json()["@odata.deltaLink"]
        env.fake.invalidate_delta_tokens(LI)
        gone = client.get(token)
        assert gone.status_code == 410 and gone.json()["error"]["code"] == "syncStateNotFound"
        env.fake.faults.graph_gone_code = "resyncRequired"
        assert client.get(token).json()["error"]["code"] == "resyncRequired"
    with httpx.Client() as anonymous:
        unauthenticated = anonymous.get(f"{env.base}/v1.0/users/{MAYA}/calendarView/delta", params=WINDOW)
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_expired_token_is_401_until_msal_fetches_a_new_one(env) -> None:
    app = env.msal_app()
    token = app.acquire_token_for_client(scopes=GRAPH_DEFAULT)["access_token"]
    env.clock.set(T0 + timedelta(hours=2))
    with env.client(token) as client:
        expired = client.get(f"users/{MAYA}/calendarView/delta", params=WINDOW)
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    # MSAL's cache runs on the wall clock and still trusts the token: drop it on a 401.
    assert app.acquire_token_for_client(scopes=GRAPH_DEFAULT)["access_token"] == token
    app.remove_tokens_for_client()
    fresh = app.acquire_token_for_client(scopes=GRAPH_DEFAULT)["access_token"]
    with env.client(fresh) as client:
        assert client.get(f"users/{MAYA}/calendarView/delta", params=WINDOW).status_code == 200


def _sign_in(env, app: msal.ConfidentialClientApplication, user: str, scopes: list[str]) -> tuple[dict, dict]:
    """MSAL's auth code flow (form_post, PKCE, nonce); the fake sign-in page signs
    `user` in at once and answers with the form a browser would post back."""
    flow = app.initiate_auth_code_flow(
        scopes, redirect_uri="http://localhost/callback", login_hint=user, response_mode="form_post"
    )
    with httpx.Client() as browser:
        page = browser.get(LoopbackHttpClient(env.base).map(flow["auth_uri"]))
    assert page.status_code == 200 and 'action="http://localhost/callback"' in page.text
    return flow, dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))


def test_delegated_tokens_read_only_their_own_mailbox(env) -> None:
    app = env.msal_app()
    scopes = ["https://graph.microsoft.com/Calendars.Read"]
    result = app.acquire_token_by_auth_code_flow(*_sign_in(env, app, LI, scopes))
    assert result["id_token_claims"]["preferred_username"] == LI
    with env.client(result["access_token"]) as client:
        assert client.get("me/calendarView/delta", params=WINDOW).status_code == 200
        assert client.get(f"users/{LI}/calendarView/delta", params=WINDOW).status_code == 200
        assert client.get(f"users/{MAYA}/calendarView/delta", params=WINDOW).status_code == 403
    renewed = app.acquire_token_by_refresh_token(result["refresh_token"], scopes=scopes)
    assert renewed["access_token"] != result["access_token"]
    flow, response = _sign_in(env, app, LI, scopes)
    flow["code_verifier"] = "not-the-verifier"  # PKCE is checked
    assert app.acquire_token_by_auth_code_flow(flow, response)["error"] == "invalid_grant"


def test_subscription_handshake_notifications_renewal_and_delete(env) -> None:
    with env.client() as client:
        created = client.post("subscriptions", json=env.subscription())
        assert created.status_code == 201, created.text
        sub = created.json()
        handshakes = [r for r in env.receiver.requests if "validationToken" in r.query]
        assert [r.path for r in handshakes] == ["/graph/hook", "/graph/lifecycle"]
        assert handshakes[0].headers["content-type"].startswith("text/plain")
        assert " " in handshakes[0].query["validationToken"]  # real tokens need URL-decoding
        assert [s["id"] for s in client.get("subscriptions").json()["value"]] == [sub["id"]]

        env.fake.apply(
            {
                "provider": "microsoft",
                "op": "update",
                "calendars": [MAYA],
                "at": "2026-01-02T09:00:00Z",
                "event_id": MASTER,
                "patch": {"subject": "renamed"},
            }
        )
        results = env.fake.notifier.flush_sync()
        assert [(r.delivery.kind, r.status, r.ok) for r in results] == [("graph", 202, True)]
        body = json.loads(env.receiver.at("/graph/hook")[-1].body)
        item = body["value"][0]
        assert item["subscriptionId"] == sub["id"] and item["clientState"] == "s3cret-state"
        assert item["changeType"] == "updated" and item["tenantId"] == env.fake.tenant_id
        assert item["resource"] == f"Users/{object_id(MAYA)}/Events/{MASTER}"
        assert item["resourceData"]["id"] == MASTER and item["resourceData"]["@odata.etag"].startswith('W/"')

        renewed = client.patch(f"subscriptions/{sub['id']}", json={"expirationDateTime": "2026-01-05T08:00:00Z"})
        assert renewed.status_code == 200 and renewed.json()["expirationDateTime"].startswith("2026-01-05T08:00:00")
        assert client.delete(f"subscriptions/{sub['id']}").status_code == 204
        assert client.get(f"subscriptions/{sub['id']}").status_code == 404
        assert env.fake.changed(MAYA, MASTER, "updated") == 0


def test_subscription_creation_is_refused_without_a_proper_handshake(env) -> None:
    with env.client() as client:
        for overrides in (
            {"notificationUrl": env.receiver.url("/graph-noecho/hook")},
            {"lifecycleNotificationUrl": env.receiver.url("/graph-noecho/lifecycle")},
            {"notificationUrl": "http://127.0.0.1:9/closed"},
        ):
            refused = client.post("subscriptions", json=env.subscription(**overrides))
            assert refused.status_code == 400 and refused.json()["error"]["code"] == "ValidationError"
        too_far = client.post("subscriptions", json=env.subscription(expirationDateTime="2026-01-30T00:00:00Z"))
        assert too_far.status_code == 400 and "10080 minutes" in too_far.json()["error"]["message"]
        past = client.post("subscriptions", json=env.subscription(expirationDateTime="2026-01-01T00:00:00Z"))
        assert past.status_code == 400
        long_state = client.post("subscriptions", json=env.subscription(clientState="x" * 129))
        assert long_state.status_code == 400
        assert client.get("subscriptions").json()["value"] == []


def test_non_202_answers_are_recorded_and_lifecycle_events_fire(env) -> None:
    with env.client() as client:
        sub = client.post("subscriptions", json=env.subscription("/graph-200/hook")).json()
    env.fake.changed(MAYA, MASTER, "updated")
    assert [(r.status, r.ok) for r in env.fake.notifier.flush_sync()] == [(200, False)]
    assert env.fake.notifier.redeliver_failed() == 1  # Graph retries what was not accepted
    for event in ("reauthorizationRequired", "missed", "subscriptionRemoved"):
        assert env.fake.fire_lifecycle(sub["id"], event)
    results = env.fake.notifier.flush_sync()
    lifecycle = [json.loads(r.body)["value"][0] for r in env.receiver.at("/graph/lifecycle") if r.body]
    assert [i["lifecycleEvent"] for i in lifecycle] == ["reauthorizationRequired", "missed", "subscriptionRemoved"]
    assert all(i["subscriptionId"] == sub["id"] and i["clientState"] == "s3cret-state" for i in lifecycle)
    assert len(results) == 4 and env.fake.changed(MAYA, MASTER, "updated") == 0  # removed
    assert unquote(env.receiver.at("/graph-200/hook")[0].query["validationToken"]).startswith("Validation:")


@pytest.mark.filterwarnings("ignore:Using /common or /organizations authority")  # MSAL agrees
def test_common_authority_signs_people_in_but_gives_no_app_only_token(env) -> None:
    def app(tenant: str) -> msal.ConfidentialClientApplication:
        return msal.ConfidentialClientApplication(
            APP_ID,
            client_credential=APP_SECRET,
            authority=f"https://login.fake.test/{tenant}",
            instance_discovery=False,
            http_client=LoopbackHttpClient(env.base),
        )

    for tenant in ("common", "organizations", "consumers"):
        refused = app(tenant).acquire_token_for_client(scopes=GRAPH_DEFAULT)
        assert refused["error"] == "invalid_request" and refused["error_codes"] == [50059], tenant
    common = app("common")
    scopes = ["https://graph.microsoft.com/Calendars.Read"]
    signed_in = common.acquire_token_by_auth_code_flow(*_sign_in(env, common, LI, scopes))
    assert signed_in["id_token_claims"]["tid"] == env.fake.tenant_id
    assert "access_token" in common.acquire_token_by_refresh_token(signed_in["refresh_token"], scopes=scopes)


def test_refresh_tokens_expire_from_inactivity_and_when_revoked(env) -> None:
    app = env.msal_app()
    scopes = ["https://graph.microsoft.com/Calendars.Read"]
    first = app.acquire_token_by_auth_code_flow(*_sign_in(env, app, LI, scopes))
    env.clock.set(T0 + timedelta(days=60))
    second = app.acquire_token_by_refresh_token(first["refresh_token"], scopes=scopes)  # used: a new one
    env.clock.set(T0 + timedelta(days=91))
    expired = app.acquire_token_by_refresh_token(first["refresh_token"], scopes=scopes)
    assert expired["error"] == "invalid_grant" and expired["error_codes"] == [700082]
    third = app.acquire_token_by_refresh_token(second["refresh_token"], scopes=scopes)
    assert "access_token" in third
    env.fake.entra.revoke_refresh_tokens(LI)
    revoked = app.acquire_token_by_refresh_token(third["refresh_token"], scopes=scopes)
    assert revoked["error"] == "invalid_grant" and revoked["error_codes"] == [50173]
    unknown = app.acquire_token_by_refresh_token("0.fake-rt.nonsense", scopes=scopes)
    assert unknown["error"] == "invalid_grant" and unknown["error_codes"] == [9002313]


def test_subscriptions_need_https_urls_unless_loopback_http_is_allowed(env) -> None:
    with env.client() as client:
        foreign = client.post("subscriptions", json=env.subscription(notificationUrl="http://hooks.acme.test/graph"))
        assert foreign.status_code == 400
        assert foreign.json()["error"]["message"] == "NotificationUrl scheme='http' is not supported."
        env.fake.subscriptions.allow_loopback_http = False  # Graph as it is: https only, loopback too
        try:
            for field in ("NotificationUrl", "LifecycleNotificationUrl"):
                body = env.subscription()
                if field == "LifecycleNotificationUrl":
                    body["notificationUrl"] = "https://hooks.acme.test/graph"  # never reached: refused first
                refused = client.post("subscriptions", json=body)
                assert refused.status_code == 400 and refused.json()["error"]["code"] == "InvalidRequest"
                assert refused.json()["error"]["message"] == f"{field} scheme='http' is not supported."
        finally:
            env.fake.subscriptions.allow_loopback_http = True
        assert env.receiver.requests == []  # refused before any handshake
        assert client.post("subscriptions", json=env.subscription()).status_code == 201


def test_a_mailbox_holds_a_bounded_number_of_subscriptions(env) -> None:
    env.fake.subscriptions.clear()
    env.fake.subscriptions.max_per_mailbox = 2
    try:
        with env.client() as client:
            first, second = (client.post("subscriptions", json=env.subscription()).json() for _ in range(2))
            full = client.post("subscriptions", json=env.subscription())
            assert full.status_code == 403 and full.json()["error"]["code"] == "ExtensionError"
            assert "Maximum number of subscriptions" in full.json()["error"]["message"]
            other = client.post("subscriptions", json=env.subscription(resource=f"/users/{LI}/events"))
            assert other.status_code == 201  # the cap is per mailbox
            assert client.delete(f"subscriptions/{first['id']}").status_code == 204
            assert client.post("subscriptions", json=env.subscription()).status_code == 201
        env.clock.set(T0 + timedelta(days=3))  # every one of them expired: none counts any more
        fresh = env.subscription(expirationDateTime="2026-01-06T08:00:00Z")
        with env.client() as client:
            assert [client.post("subscriptions", json=fresh).status_code for _ in range(3)] == [201, 201, 403]
        assert second["id"] not in {s.id for s in env.fake.subscriptions.active(MAYA)}
    finally:
        env.fake.subscriptions.max_per_mailbox = 1000


def test_reauthorize_answers_a_reauthorization_challenge(env) -> None:
    with env.client() as client:
        sub = client.post("subscriptions", json=env.subscription()).json()
        held = next(s for s in env.fake.subscriptions.all() if s.id == sub["id"])
        assert env.fake.fire_lifecycle(sub["id"], "reauthorizationRequired")
        assert held.reauthorization_required == T0
        answered = client.post(f"subscriptions/{sub['id']}/reauthorize")
        assert answered.status_code == 204 and answered.content == b""
        assert held.reauthorization_required is None and held.reauthorizations == 1
        assert env.fake.fire_lifecycle(sub["id"], "reauthorizationRequired")
        renewed = client.patch(f"subscriptions/{sub['id']}", json={"expirationDateTime": "2026-01-05T08:00:00Z"})
        assert renewed.status_code == 200 and held.reauthorizations == 2  # a renewal answers it too
        assert client.post("subscriptions/no-such-id/reauthorize").status_code == 404
    env.fake.entra.register_app("other-app", "other-secret")
    token = msal.ConfidentialClientApplication(
        "other-app",
        client_credential="other-secret",
        authority=env.fake.authority,
        instance_discovery=False,
        http_client=LoopbackHttpClient(env.base),
    ).acquire_token_for_client(scopes=GRAPH_DEFAULT)["access_token"]
    with env.client(token) as stranger:
        assert stranger.post(f"subscriptions/{sub['id']}/reauthorize").status_code == 403


def test_a_deleted_series_master_answers_404_item_not_found(env) -> None:
    env.fake.store.create([OMAR], graph_event("AAMkGone=", pattern={}), at=T0)
    with env.client() as client:
        assert client.get(f"users/{OMAR}/events/AAMkGone=").status_code == 200
        env.fake.store.delete([OMAR], "AAMkGone=", at=T0)
        gone = client.get(f"users/{OMAR}/events/AAMkGone=")
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "ErrorItemNotFound"


def _app_token(env, client_id: str, roles: tuple[str, ...]) -> str:
    env.fake.entra.register_app(client_id, "secret-" + client_id, roles)
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential="secret-" + client_id,
        authority=env.fake.authority,
        instance_discovery=False,
        http_client=LoopbackHttpClient(env.base),
    ).acquire_token_for_client(scopes=GRAPH_DEFAULT)["access_token"]


def test_the_directory_names_users_by_immutable_id_and_mutable_addresses(env) -> None:
    select = {"$select": "id,mail,userPrincipalName,proxyAddresses"}
    full = _app_token(env, "directory-reader", ("Calendars.Read", "User.Read.All"))
    basic = _app_token(env, "basic-reader", ("Calendars.Read", "User.ReadBasic.All"))
    with env.client(full) as client:
        user = client.get(f"users/{OMAR}", params=select).json()
        assert user["id"] == object_id(OMAR) and user["userPrincipalName"] == OMAR
        assert user["proxyAddresses"] == [f"SMTP:{OMAR}"]
        assert client.get(f"users/{object_id(OMAR)}", params=select).json() == user
        missing = client.get("users/nobody@acme.test", params=select)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "Request_ResourceNotFound"
        bad = client.get(f"users/{OMAR}", params={"$select": "id,shoeSize"})
        assert bad.status_code == 400
    with env.client(basic) as client:
        assert client.get(f"users/{OMAR}", params=select).json()["proxyAddresses"] is None  # not in the basic profile
    with env.client() as client:  # Calendars.Read alone reads no directory
        denied = client.get(f"users/{OMAR}", params=select)
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "Authorization_RequestDenied"
        assert client.get("me").status_code == 400  # no /me without a signed-in user


def test_a_renamed_user_keeps_the_id_and_loses_the_old_name(env) -> None:
    store = env.fake.store
    old, new = "rename.me@acme.test", "renamed.now@acme.test"
    store.add_mailbox(old, time_zone="Europe/Berlin")
    store.create([old], graph_event("AAMkRename=", pattern={}), at=T0)
    with env.client() as client:
        by_id = client.get(f"users/{object_id(old)}/calendarView/delta", params=WINDOW).json()["@odata.deltaLink"]
        by_name = client.get(f"users/{old}/calendarView/delta", params=WINDOW).json()["@odata.deltaLink"]
        assert f"/users/{object_id(old)}/calendarView/delta?" in by_id  # links name the user as asked
        store.rename_mailbox(old, new)
        gone = client.get(f"users/{old}/calendarView/delta", params=WINDOW)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "ErrorInvalidUser"
        assert client.get(by_name).status_code == 404  # a cursor by name dies with the name
        assert client.get(by_id).status_code == 200  # one by id lives on
        assert client.get(f"users/{new}/calendarView/delta", params=WINDOW).status_code == 200
    with env.client(_app_token(env, "rename-reader", ("Calendars.Read", "User.Read.All"))) as client:
        user = client.get(f"users/{new}", params={"$select": "id,mail,userPrincipalName,proxyAddresses"}).json()
    assert (user["id"], user["mail"], user["proxyAddresses"]) == (object_id(old), new, [f"SMTP:{new}"])
    store.rename_mailbox(new, "third.name@acme.test", keep_alias=True)
    assert store.resolve(new) == old and store.directory_user(old)["proxyAddresses"] == [
        "SMTP:third.name@acme.test",
        f"smtp:{new}",
    ]


def test_a_person_signs_in_with_a_upn_that_is_not_their_mail(env) -> None:
    store = env.fake.store
    store.add_mailbox("ana@acme.test", upn="ana.lima@acme.onmicrosoft.com", aliases=["a.lima@acme.test"])
    app = env.msal_app()
    scopes = ["https://graph.microsoft.com/Calendars.Read", "https://graph.microsoft.com/User.Read"]
    result = app.acquire_token_by_auth_code_flow(*_sign_in(env, app, "a.lima@acme.test", scopes))
    assert result["id_token_claims"]["preferred_username"] == "ana.lima@acme.onmicrosoft.com"
    with env.client(result["access_token"]) as client:
        me = client.get("me", params={"$select": "id,mail,userPrincipalName,proxyAddresses"}).json()
        assert me["mail"] == "ana@acme.test" and me["id"] == object_id("ana@acme.test")
        assert me["proxyAddresses"] == ["SMTP:ana@acme.test", "smtp:a.lima@acme.test"]
        assert client.get(f"users/{object_id('ana@acme.test')}").status_code == 200  # one's own user
        assert client.get(f"users/{OMAR}").status_code == 403
    calendars_only = app.acquire_token_by_auth_code_flow(*_sign_in(env, app, "ana@acme.test", scopes[:1]))
    with env.client(calendars_only["access_token"]) as client:
        assert client.get("me").status_code == 403  # /me wants User.Read
