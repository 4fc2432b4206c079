"""SandboxProviders driven by a public scenario: connect every calendar the way the
service will (watch channels, subscriptions), replay the timeline, flush."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx

from service.clock import FixedClock
from service.sandbox.providers import SandboxProviders
from service.sandbox.scenario import load_scenario
from service.sandbox.timefmt import graph_stamp, parse_instant
from tests.sandbox.receiver import Receiver

PUBLIC = Path(__file__).resolve().parents[2].parent / "shared" / "scenarios" / "public"
MIXED = PUBLIC / "09-mixed-google-outlook-dst.json"
# A replay spans months and these tests do not renew channels or subscriptions.
LONG_LIVED = {"max_subscription_minutes": 60 * 24 * 120, "channel_max_ttl": timedelta(days=120)}


async def _connect(sandbox: SandboxProviders, receiver: Receiver) -> dict[str, str]:
    """Watch every Google calendar, subscribe to every mailbox; the first sync tokens per calendar."""
    google, microsoft = sandbox.google_connection(), sandbox.microsoft_connection()
    tokens: dict[str, str] = {}

    def watch(email: str) -> None:
        events = google.build(google.user_credentials(email)).events()
        tokens[email] = events.list(calendarId="primary", maxResults=2500).execute()["nextSyncToken"]
        events.watch(
            calendarId="primary",
            body={
                "id": f"ch-{email.encode().hex()}",
                "type": "web_hook",
                "address": receiver.url(f"/google/{email}"),
                "token": email,
                "params": {"ttl": str(100 * 86400)},
            },
        ).execute()

    app = microsoft.msal_app()
    token = (await asyncio.to_thread(app.acquire_token_for_client, scopes=list(microsoft.scopes)))["access_token"]
    expires = graph_stamp(sandbox.clock.now() + timedelta(days=100))
    async with httpx.AsyncClient(
        base_url=microsoft.graph_endpoint + "/", headers={"Authorization": f"Bearer {token}"}
    ) as client:
        for person in sandbox.scenario.people:
            email = person["email"].lower()
            if person["provider"] == "google":
                await asyncio.to_thread(watch, email)
            else:
                created = await client.post(
                    "subscriptions",
                    json={
                        "changeType": "created,updated,deleted",
                        "notificationUrl": receiver.url(f"/graph/{email}"),
                        "resource": f"/users/{email}/events",
                        "expirationDateTime": expires,
                        "clientState": email,
                    },
                )
                assert created.status_code == 201, created.text
    return tokens


async def test_replaying_a_scenario_notifies_every_touched_calendar() -> None:
    scenario = load_scenario(MIXED)
    receiver = Receiver()
    receiver.server.start()
    clock = FixedClock(scenario.start)
    try:
        async with SandboxProviders(scenario, clock=clock, **LONG_LIVED) as sandbox:
            tokens = await _connect(sandbox, receiver)
            syncs = await sandbox.flush()
            assert [r.delivery.meta["state"] for r in syncs] == ["sync"] * len(tokens) and all(r.ok for r in syncs)
            for op in scenario.timeline:
                clock.set(parse_instant(op["at"]))
                queued = sandbox.apply(op)
                assert queued == len(op["calendars"])  # each listed calendar is watched
                results = await sandbox.flush()
                assert len(results) == queued and all(r.ok for r in results)
                assert {r.delivery.url for r in results} == {
                    receiver.url(f"/{'google' if op['provider'] == 'google' else 'graph'}/{c.lower()}")
                    for c in op["calendars"]
                }
            google = sandbox.google_connection()
            for email, token in tokens.items():  # a token-expired, month-later increment still works
                events = google.build(google.delegated_credentials(email)).events()
                changed = await asyncio.to_thread(events.list(calendarId=email, syncToken=token).execute)
                touched = any(email in [c.lower() for c in op["calendars"]] for op in scenario.timeline)
                assert bool(changed["items"]) == touched
    finally:
        receiver.server.stop()


async def test_auto_delivery_needs_no_flush() -> None:
    scenario = load_scenario(MIXED)
    receiver = Receiver()
    receiver.server.start()
    try:
        async with SandboxProviders(
            scenario, clock=FixedClock(scenario.start), auto_deliver=True, **LONG_LIVED
        ) as sandbox:
            await _connect(sandbox, receiver)
            op = next(o for o in scenario.timeline if o["provider"] == "google")
            sandbox.apply(op)
            for _ in range(200):  # delivered in the background
                if len(sandbox.notifier.results) == len(sandbox.scenario.people) + len(op["calendars"]):
                    break
                await asyncio.sleep(0.01)
            assert all(r.ok for r in sandbox.notifier.results)
            assert len(sandbox.notifier.results) == len(sandbox.scenario.people) + len(op["calendars"])
    finally:
        receiver.server.stop()
