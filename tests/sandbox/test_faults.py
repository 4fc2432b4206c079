"""Every fault knob, observed by a real client against SandboxProviders (one Faults for both fakes)."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import httpx
import pytest
from googleapiclient.errors import HttpError

from service.clock import FixedClock
from service.sandbox.providers import SandboxProviders
from tests.sandbox.builders import LI, MAYA, google_event, graph_event, t
from tests.sandbox.receiver import Receiver

T0 = t("2026-01-02T08:00:00Z")
WINDOW = {"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2026-03-01T00:00:00Z"}
SCENARIO = {
    "format": "oneonone-scenario/1",
    "name": "faults",
    "start": "2026-01-01T00:00:00Z",
    "now": "2026-02-01T00:00:00Z",
    "org": {
        "people": [
            {"email": MAYA, "name": "Maya", "manager": None, "timezone": "Europe/Berlin", "provider": "google"},
            {"email": LI, "name": "Li", "manager": MAYA, "timezone": "Europe/Berlin", "provider": "microsoft"},
        ]
    },
    "timeline": [],
}


@pytest.fixture(scope="module")
def receiver():
    receiver = Receiver()
    receiver.server.start()
    yield receiver
    receiver.server.stop()


@pytest.fixture(scope="module")
def sandbox():
    sandbox = SandboxProviders(SCENARIO, clock=FixedClock(T0)).start()
    sandbox.google.store.create([MAYA], google_event("g1", recurrence=["RRULE:FREQ=WEEKLY"]), at=T0)
    sandbox.graph.store.create([LI], graph_event("AAMkLi1=", pattern={}), at=T0)
    yield sandbox
    sandbox.stop()


@pytest.fixture(autouse=True)
def _fresh(sandbox, receiver):
    sandbox.clock.set(T0)
    sandbox.faults.reset()
    sandbox.notifier.clear()
    sandbox.google.channels.clear()
    sandbox.graph.subscriptions.clear()
    receiver.clear()
    yield


@pytest.fixture(scope="module")
def google(sandbox):
    connection = sandbox.google_connection()
    return connection.build(connection.user_credentials(MAYA))


@pytest.fixture
def graph(sandbox):
    token = (
        sandbox.microsoft_connection()
        .msal_app()
        .acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])["access_token"]
    )
    with httpx.Client(base_url=f"{sandbox.graph_url}/v1.0/", headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def _google_op(n: int) -> dict:
    return {
        "provider": "google",
        "op": "update",
        "calendars": [MAYA],
        "at": f"2026-01-02T09:{n:02d}:00Z",
        "event_id": "g1",
        "patch": {"summary": f"v{n}"},
    }


def _watch(google, receiver, channel_id: str) -> dict:
    return (
        google.events()
        .watch(
            calendarId=MAYA,
            body={"id": channel_id, "type": "web_hook", "address": receiver.url(f"/google/{channel_id}")},
        )
        .execute()
    )


def _older_reason(exc: HttpError) -> str:
    """errors[0].reason: google-api-python-client's error_details prefers details[]."""
    return json.loads(exc.content)["error"]["errors"][0]["reason"]


def test_google_429_retry_after_is_honoured_by_a_retry_loop(sandbox, google) -> None:
    sandbox.faults.throttle(1, retry_after=1, target="google")
    started, attempts = time.monotonic(), 0
    while True:
        attempts += 1
        try:
            page = google.events().list(calendarId=MAYA).execute()
            break
        except HttpError as exc:
            assert exc.status_code == 429 and _older_reason(exc) == "rateLimitExceeded"
            # The client library keeps details[] (newer) in error_details, not errors[].
            assert exc.error_details[0]["reason"] == "RATE_LIMIT_EXCEEDED"
            time.sleep(int(exc.resp["retry-after"]))
    assert attempts == 2 and time.monotonic() - started >= 1 and page["items"]


def test_google_403_rate_limits_and_5xx_in_order(sandbox, google) -> None:
    sandbox.faults.rate_limit(1, reason="userRateLimitExceeded")
    sandbox.faults.rate_limit(1)
    sandbox.faults.fail_next(1, 500, target="google")
    sandbox.faults.fail_next(1, 503, target="google")
    seen = []
    for _ in range(5):
        try:
            google.events().list(calendarId=MAYA).execute()
            break
        except HttpError as exc:
            seen.append((exc.status_code, _older_reason(exc)))
    assert seen == [
        (403, "userRateLimitExceeded"),
        (403, "rateLimitExceeded"),
        (500, "backendError"),
        (503, "backendError"),
    ]


def test_graph_429_and_503_carry_retry_after(sandbox, graph) -> None:
    sandbox.faults.throttle(1, retry_after=7, target="graph")
    sandbox.faults.fail_next(1, 503, target="graph")
    waits = []
    response = graph.get(f"users/{LI}/calendarView/delta", params=WINDOW)
    while response.status_code in (429, 503):
        waits.append((response.status_code, response.json()["error"]["code"], int(response.headers["retry-after"])))
        response = graph.get(f"users/{LI}/calendarView/delta", params=WINDOW)  # a real loop sleeps waits[-1][2]
    assert response.status_code == 200
    assert waits == [(429, "TooManyRequests", 7), (503, "ServiceUnavailable", 1)]


def test_target_and_path_prefix_pick_the_requests(sandbox, google, graph) -> None:
    sandbox.faults.fail_next(1, 503, path_prefix="/v1.0/subscriptions")
    assert google.events().list(calendarId=MAYA).execute()["items"]  # other fake: untouched
    assert graph.get(f"users/{LI}/calendarView/delta", params=WINDOW).status_code == 200
    assert graph.get("subscriptions").status_code == 503
    assert graph.get("subscriptions").status_code == 200
    assert sandbox.faults.pending_rules() == 0


def test_delay_makes_a_client_time_out(sandbox, graph) -> None:
    sandbox.faults.delay(0.5, target="graph")
    with pytest.raises(httpx.ReadTimeout):
        graph.get(f"users/{LI}/calendarView/delta", params=WINDOW, timeout=0.1)
    assert graph.get(f"users/{LI}/calendarView/delta", params=WINDOW, timeout=2).status_code == 200


def test_expire_access_tokens_now(sandbox, google, graph) -> None:
    google.events().list(calendarId=MAYA).execute()
    assert sandbox.expire_access_tokens() >= 2
    assert google.events().list(calendarId=MAYA).execute()["items"]  # google-auth refreshed
    expired = graph.get(f"users/{LI}/calendarView/delta", params=WINDOW)
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_invalidate_sync_and_delta_tokens(sandbox, google, graph) -> None:
    sync_token = google.events().list(calendarId=MAYA).execute()["nextSyncToken"]
    delta_link = graph.get(
        f"users/{LI}/calendarView/delta", params=WINDOW, headers={"Prefer": "odata.maxpagesize=100"}
    ).json()["@odata.deltaLink"]
    sandbox.invalidate_sync_tokens(MAYA)
    sandbox.invalidate_sync_tokens(LI)
    with pytest.raises(HttpError) as gone:
        google.events().list(calendarId=MAYA, syncToken=sync_token).execute()
    assert gone.value.status_code == 410 and gone.value.error_details[0]["reason"] == "fullSyncRequired"
    assert graph.get(delta_link).status_code == 410


def test_duplicate_notifications(sandbox, google, graph, receiver) -> None:
    _watch(google, receiver, "dup")
    sub = graph.post(
        "subscriptions",
        json={
            "changeType": "updated",
            "notificationUrl": receiver.url("/graph/dup"),
            "resource": f"/users/{LI}/events",
            "expirationDateTime": "2026-01-03T00:00:00Z",
            "clientState": "x",
        },
    ).json()
    sandbox.flush_sync()
    sandbox.faults.duplicate_notifications = True
    sandbox.apply(_google_op(1))
    sandbox.apply(
        {
            "provider": "microsoft",
            "op": "update",
            "calendars": [LI],
            "at": "2026-01-02T09:00:00Z",
            "event_id": "AAMkLi1=",
            "patch": {"subject": "dup"},
        }
    )
    results = sandbox.flush_sync()
    assert len(results) == 4 and all(r.ok for r in results)
    numbers = [r.headers["x-goog-message-number"] for r in receiver.at("/google/dup")]
    assert numbers == ["1", "2", "2"]  # sync, then one change twice
    graph_bodies = [r.body for r in receiver.at("/graph/dup") if r.body]
    assert len(graph_bodies) == 2 and graph_bodies[0] == graph_bodies[1] and sub["id"].encode() in graph_bodies[0]


def test_out_of_order_delivery_is_seeded(sandbox, google, receiver) -> None:
    orders = []
    for run in ("a", "b"):
        _watch(google, receiver, f"shuffle-{run}")
        sandbox.flush_sync()
        sandbox.faults.reorder_notifications(seed=7)
        for n in range(6):
            sandbox.apply(_google_op(n))
        sandbox.flush_sync()
        orders.append([int(r.headers["x-goog-message-number"]) for r in receiver.at(f"/google/shuffle-{run}")][1:])
        sandbox.faults.reset()
        sandbox.google.channels.clear()
    assert orders[0] == orders[1] and orders[0] != sorted(orders[0]) and sorted(orders[0]) == [2, 3, 4, 5, 6, 7]


def test_deliver_after_stop(sandbox, google, graph, receiver) -> None:
    channel = _watch(google, receiver, "stopped")
    google.channels().stop(body={"id": "stopped", "resourceId": channel["resourceId"]}).execute()
    sub = graph.post(
        "subscriptions",
        json={
            "changeType": "updated",
            "notificationUrl": receiver.url("/graph/deleted"),
            "resource": f"/users/{LI}/events",
            "expirationDateTime": "2026-01-03T00:00:00Z",
        },
    ).json()
    assert graph.delete(f"subscriptions/{sub['id']}").status_code == 204
    sandbox.flush_sync()
    graph_op = {
        "provider": "microsoft",
        "op": "update",
        "calendars": [LI],
        "at": "2026-01-02T09:00:00Z",
        "event_id": "AAMkLi1=",
        "patch": {"subject": "after"},
    }
    assert sandbox.apply(_google_op(1)) == 0 and sandbox.apply(graph_op) == 0
    sandbox.faults.deliver_after_stop = True
    assert sandbox.apply(_google_op(2)) == 1 and sandbox.apply(graph_op) == 1
    sandbox.flush_sync()
    assert [r.headers["x-goog-resource-state"] for r in receiver.at("/google/stopped")] == ["sync", "exists"]
    assert len([r for r in receiver.at("/graph/deleted") if r.body]) == 1


def test_token_lifetime_follows_the_injected_clock(sandbox, graph) -> None:
    assert graph.get(f"users/{LI}/calendarView/delta", params=WINDOW).status_code == 200
    sandbox.clock.set(T0 + timedelta(minutes=59))
    assert graph.get(f"users/{LI}/calendarView/delta", params=WINDOW).status_code == 200
    sandbox.clock.set(T0 + timedelta(minutes=61))
    assert graph.get(f"users/{LI}/calendarView/delta", params=WINDOW).status_code == 401
