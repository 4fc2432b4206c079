"""Prometheus metrics move when the real paths run: syncs against the sandbox fakes
(increments, errors, durations, events changed, lag, leases), push notifications
delivered over HTTP to our webhooks (accepted, rejected by reason), detection
(findings opened and resolved), each HTTP request (by route template). Read from
the scraped `/metrics` text, as Prometheus would."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from service.db.models import Calendar
from service.domain.connections import connect_org
from service.runtime import close_worker
from service.security.crypto import Vault
from service.sync import queue
from service.sync.worker import SyncWorker
from tests.conftest import T0
from tests.sync.runtime_world import World, running_world

BOSS, DEV = "boss@acme.test", "dev@acme.test"


async def scrape(world: World) -> dict[tuple[str, frozenset], float]:
    async with world.api() as api:
        return samples(await api.get("/metrics"))


class Scrapes:
    """Differences between two scrapes of the world's `/metrics`."""

    def __init__(self, before: dict, after: dict) -> None:
        self.before, self.after = before, after

    def __call__(self, name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return self.after.get(key, 0.0) - self.before.get(key, 0.0)


async def moved(world: World, before: dict) -> Scrapes:
    return Scrapes(before, await scrape(world))


async def _connect(world: World, sessions) -> None:
    google = world.sandbox.google_connection()
    async with sessions() as s:
        await connect_org(
            s,
            Vault(world.settings.secret_key.get_secret_value()),
            provider="google",
            secret=json.dumps(dict(google.service_account_info)),
            now=T0,
            emails=[BOSS, DEV],
        )
        await s.commit()


def _watch_leases(world: World, worker: SyncWorker, seen: list[float]) -> None:
    """Note the scraped `oneonone_leases_held` while each increment is fetched."""
    google = worker.providers["google"]
    fetch = google.fetch_changes

    async def fetch_noting_leases(*args, **kwargs):
        seen.append((await scrape(world))[("oneonone_leases_held", frozenset())])
        return await fetch(*args, **kwargs)

    google.fetch_changes = fetch_noting_leases


async def test_syncs_webhooks_and_detection_move_the_metrics(db_url, sessions, clock, factory):
    async with running_world(db_url, clock) as world:
        boss = await factory.person(email=world.add(BOSS, "google"))
        dev = await factory.person(manager=boss, email=world.add(DEV, "google"))
        await factory.pair(boss, dev)
        world.one_on_one("google", BOSS, DEV, T0 + timedelta(days=2), event_id="weekly")
        await _connect(world, sessions)
        worker = world.worker(sessions)
        leases: list[float] = []
        _watch_leases(world, worker, leases)
        try:
            # First syncs: increments and events, no lag yet (nothing synced before).
            start = await scrape(world)
            idle = start.get(("oneonone_leases_held", frozenset()), 0.0)
            assert await worker.drain() == 2
            d = await moved(world, start)
            assert d("oneonone_syncs_total", provider="google", outcome="ok") == 2
            assert d("oneonone_sync_seconds_count", provider="google") == 2
            assert d("oneonone_sync_seconds_sum", provider="google") > 0
            assert d("oneonone_events_changed_total", provider="google") == 2  # the 1:1 in each calendar
            assert d("oneonone_sync_lag_seconds_count", provider="google") == 0
            assert leases == [idle + 2, idle + 1]  # both claimed in one round, each handed back once synced
            assert d.after[("oneonone_leases_held", frozenset())] == idle  # all handed back

            # The 1:1 is cancelled: Google notifies both channels, our webhook accepts
            # both, the syncs 10 minutes after the first ones find it, detection opens a finding.
            clock.set(T0 + timedelta(minutes=10))
            before = await scrape(world)
            world.sandbox.apply(
                {
                    "provider": "google",
                    "op": "delete",
                    "calendars": [BOSS, DEV],
                    "event_id": "weekly",
                    "at": clock.now().isoformat(),
                }
            )
            await world.sandbox.flush()
            assert await worker.drain() == 2
            d = await moved(world, before)
            assert d("oneonone_webhook_notifications_total", provider="google", outcome="accepted") == 2
            # …and acknowledges the channels' `sync` handshakes, queued when they opened.
            assert d("oneonone_webhook_notifications_total", provider="google", outcome="ignored") == 2
            assert d("oneonone_http_requests_total", method="POST", route="/webhooks/google", status="200") == 4
            assert d("oneonone_http_request_seconds_count", method="POST", route="/webhooks/google") == 4
            assert d("oneonone_syncs_total", provider="google", outcome="ok") == 2
            assert d("oneonone_events_changed_total", provider="google") == 2
            assert d("oneonone_sync_lag_seconds_count", provider="google") == 2
            assert d("oneonone_sync_lag_seconds_sum", provider="google") == 2 * 600  # the injected clock's
            assert d("oneonone_sync_lag_seconds_bucket", provider="google", le="600.0") == 2
            assert d("oneonone_sync_lag_seconds_bucket", provider="google", le="300.0") == 0
            assert d("oneonone_findings_opened_total", type="cancelled_without_reschedule") == 1
            assert d("oneonone_findings_resolved_total", type="cancelled_without_reschedule") == 0

            # Rescheduled a day later: the finding resolves.
            clock.set(T0 + timedelta(minutes=20))
            before = await scrape(world)
            world.one_on_one("google", BOSS, DEV, T0 + timedelta(days=3), event_id="moved")
            for calendar in (BOSS, DEV):
                world.sandbox.google.channels.notify(calendar)
            await world.sandbox.flush()
            assert await worker.drain() == 2
            d = await moved(world, before)
            assert d("oneonone_findings_resolved_total", type="cancelled_without_reschedule") == 1
            assert d("oneonone_findings_opened_total", type="cancelled_without_reschedule") == 0

            # A provider error: counted as a failed increment, by error class.
            before = await scrape(world)
            world.sandbox.faults.fail_next(1, 400, target="google")
            async with sessions() as s:
                boss_calendar = await s.scalar(select(Calendar.id).where(Calendar.external_id == BOSS))
                await queue.request_sync(s, [boss_calendar], clock.now())
                await s.commit()
            assert await worker.drain() == 1
            d = await moved(world, before)
            assert d("oneonone_syncs_total", provider="google", outcome="failed") == 1
            assert d("oneonone_syncs_total", provider="google", outcome="ok") == 0
            assert d("oneonone_sync_errors_total", provider="google", error="ProviderError") == 1
            assert d("oneonone_sync_seconds_count", provider="google") == 1
        finally:
            await close_worker(worker)


async def test_webhook_rejections_are_counted_by_reason(db_url, sessions, clock):
    async with running_world(db_url, clock) as world:
        before = await scrape(world)
        async with world.api() as api:
            forged = {
                "X-Goog-Channel-ID": "not-ours",
                "X-Goog-Channel-Token": "guess",
                "X-Goog-Resource-State": "exists",
            }
            assert (await api.post("/webhooks/google", headers=forged)).status_code == 403
            assert (await api.post("/webhooks/microsoft", content=b"[not json")).status_code == 400
            batch = {"value": [{"subscriptionId": "sub-1", "clientState": 7}, 3]}
            assert (await api.post("/webhooks/microsoft", json=batch)).status_code == 403
        d = await moved(world, before)
    assert d("oneonone_webhook_rejections_total", provider="google", reason="forbidden") == 1
    assert d("oneonone_webhook_rejections_total", provider="microsoft", reason="invalid") == 1
    assert d("oneonone_webhook_rejections_total", provider="microsoft", reason="malformed") == 2
    assert d("oneonone_webhook_notifications_total", provider="microsoft", outcome="rejected") == 2
    assert d("oneonone_http_requests_total", method="POST", route="/webhooks/google", status="403") == 1
    assert d("oneonone_http_requests_total", method="POST", route="/webhooks/microsoft", status="400") == 1


def samples(r: httpx.Response) -> dict[tuple[str, frozenset], float]:
    assert r.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }
