"""End to end: a 1:1 cancelled in the fake Google Calendar reaches a receiver on
loopback as a signed `finding.opened` (and `meeting.cancelled`), through the real
sync path, the recompute's outbox and the worker's delivery (service.runtime)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from service.domain import webhook_endpoints as endpoints
from service.domain.connections import connect_org
from service.runtime import close_worker, run_worker
from service.security.addresses import networks
from service.security.crypto import Vault
from service.settings import OutboundWebhookSettings
from tests.conftest import T0
from tests.outbound.receiver import HookReceiver
from tests.outbound.test_delivery import signed_by
from tests.sync.runtime_world import running_world
from tests.sync.test_runtime import _org_secrets

OUTBOUND = OutboundWebhookSettings(allow_networks=["127.0.0.0/8"], allow_http_loopback=True)


@pytest.fixture
def receiver():
    r = HookReceiver().start()
    yield r
    r.stop()


async def test_a_cancelled_1on1_reaches_the_receiver_as_a_signed_finding(db_url, sessions, clock, factory, receiver):
    async with running_world(db_url, clock, outbound=OUTBOUND) as world:
        manager = await factory.person(email=world.add("maya@acme.test", "google"))
        report = await factory.person(manager=manager, email=world.add("li@acme.test", "google"))
        pair = await factory.pair(manager, report, cadence_days=7)  # weekly: a cancellation is a finding
        for days, event_id in ((-11, "before2"), (-4, "before1"), (3, "weekly1on1"), (10, "after1")):  # weekly
            world.one_on_one("google", manager.email, report.email, T0 + timedelta(days=days), event_id=event_id)
        vault = Vault(world.settings.secret_key.get_secret_value())
        async with sessions() as s:
            await connect_org(s, vault, provider="google", secret=_org_secrets(world)["google"][0], now=T0)
            _endpoint, secret = await endpoints.create(
                s,
                vault,
                endpoints.UrlRules(True, tuple(networks(OUTBOUND.allow_networks))),
                url=receiver.url,
                event_types=["finding.opened", "meeting.cancelled"],
                description="e2e",
                enabled=True,
                created_by=None,
                now=T0,
            )
            await s.commit()
        worker = world.worker(sessions)
        try:
            assert await run_worker(worker, once=True) == 2
            assert receiver.hits == []  # a 1:1 booked: nothing to tell yet
            clock.set(T0 + timedelta(hours=1))
            world.sandbox.google.store.delete([manager.email, report.email], "weekly1on1", at=clock.now())
            clock.set(T0 + timedelta(minutes=80))  # notified, and in any case due for a poll
            assert await run_worker(worker, once=True) >= 1
        finally:
            await close_worker(worker)
    assert [hit.event["type"] for hit in receiver.hits] == ["meeting.cancelled", "finding.opened"]  # in order
    by_type = {hit.event["type"]: hit for hit in receiver.hits}
    assert set(by_type) == {"finding.opened", "meeting.cancelled"}
    opened = by_type["finding.opened"]
    assert signed_by(secret, opened)
    assert opened.event["data"]["finding_type"] == "cancelled_without_reschedule"
    assert opened.event["data"]["pair_id"] == pair.id
    assert by_type["meeting.cancelled"].event["data"]["start"] == "2026-03-05T09:00:00Z"
