"""Graph subscriptions through the production pipeline (fake Graph → webhooks →
worker upkeep): what a lifecycle challenge costs at Graph, counted there."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import select

from service.db.models import Calendar, OrphanSubscription, PushChannel
from service.replay.harness import Harness
from service.sandbox.oauth_entra import object_id
from service.sync import grants
from tests.conftest import BACKENDS
from tests.sync.e2e_helpers import _op, database_url, graph_event, graph_weekly

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

BOSS, REPORT = "boss@acme.test", "dev@acme.test"
UID = "040000008200E00074C5B7101A82E00800000000E1E1E1E1E1E1E1E1000000000000000000000000"
IDS = {BOSS: "AAMkAGboss0E0master0AAA=", REPORT: "AAMkAGdev0E0master0AAA="}


def scenario() -> dict:
    people = [
        {"email": BOSS, "manager": None, "timezone": "Europe/Berlin", "provider": "microsoft"},
        {"email": REPORT, "manager": BOSS, "timezone": "Europe/Berlin", "provider": "microsoft"},
    ]
    timeline = [
        _op(
            "2026-01-05T00:00:00Z",
            "create",
            "microsoft",
            [email],
            event=graph_event(
                event_id,
                "Boss / Dev 1:1",
                "2026-01-06T10:00:00",
                "2026-01-06T10:30:00",
                BOSS,
                [REPORT],
                uid=UID,
                recurrence=graph_weekly("tuesday", "2026-01-06"),
            ),
        )
        for email, event_id in IDS.items()
    ]
    return {
        "format": "oneonone-scenario/1",
        "start": "2026-01-05T00:00:00Z",
        "now": "2026-01-20T00:00:00Z",
        "org": {"people": people},
        "timeline": timeline,
    }


async def _live(harness: Harness, email: str) -> list[PushChannel]:
    async with harness.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(PushChannel)
                    .join(Calendar, Calendar.id == PushChannel.calendar_id)
                    .where(Calendar.external_id == email, PushChannel.stopped_at.is_(None))
                )
            ).all()
        )


async def test_reauthorization_challenges_keep_one_subscription_per_mailbox(backend):
    """Graph may ask every few minutes; a mailbox holds about 1,000 subscriptions
    across all apps (3 here). Each challenge is answered with reauthorize on the
    subscription we have: none is opened, none leaks, notifications keep flowing."""
    with_cap = scenario()
    async with Harness(with_cap, database_url=database_url(backend)) as harness:
        graph = harness.sandbox.graph
        graph.subscriptions.max_per_mailbox = 3
        await harness.connect()
        await harness.apply_all(with_cap["timeline"])
        [channel] = await _live(harness, BOSS)
        for minutes in range(1, 6):  # five challenges, a few minutes apart
            harness.clock.set(harness.clock.now().replace(minute=minutes * 5))
            assert graph.fire_lifecycle(channel.channel_id, "reauthorizationRequired")
            assert {r.status for r in await harness.sandbox.flush()} == {202}
            [flagged] = await _live(harness, BOSS)
            assert flagged.reauthorize_requested_at == harness.clock.now()  # recorded, Graph not called
            await harness.worker.maintain()
        [kept] = await _live(harness, BOSS)
        assert kept.channel_id == channel.channel_id and kept.reauthorize_requested_at is None
        [sub] = graph.subscriptions.active(BOSS)
        assert sub.id == channel.channel_id and sub.reauthorizations == 5 and sub.reauthorization_required is None
        assert len(graph.subscriptions.active(REPORT)) == 1

        graph.store.update([BOSS], IDS[BOSS], {"subject": "Boss / Dev weekly"}, at=harness.clock.now())
        assert graph.changed(BOSS, IDS[BOSS], "updated") == 1  # still notified, on the one subscription
        assert {r.status for r in await harness.sandbox.flush()} == {202}


async def _ref(harness: Harness, email: str):
    async with harness.sessions() as session:
        calendar_id = await session.scalar(select(Calendar.id).where(Calendar.external_id == email))
        [(_row, ref)] = await grants.read_calendars(session, [calendar_id], harness.vault)
    return ref


async def test_a_subscription_we_lost_is_acknowledged_then_deleted_at_graph(backend):
    """Created at Graph, never recorded (the service died in between): Graph would retry
    a refusal of each notification for hours, for as long as the subscription lives.
    Acknowledged, recorded, then deleted by the upkeep with the mailbox's grant."""
    story = scenario()
    async with Harness(story, database_url=database_url(backend)) as harness:
        graph = harness.sandbox.graph
        await harness.connect()
        await harness.apply_all(story["timeline"])
        [ours] = graph.subscriptions.active(BOSS)
        base = harness.settings.public_base_url
        lost = await harness.worker.providers["microsoft"].watch(
            await _ref(harness, BOSS), f"{base}/webhooks/microsoft", f"{base}/webhooks/microsoft/lifecycle", "x", 3600
        )
        graph.store.update([BOSS], IDS[BOSS], {"subject": "Boss / Dev weekly"}, at=harness.clock.now())
        assert graph.changed(BOSS, IDS[BOSS], "updated") == 2
        results = await harness.sandbox.flush()
        assert sorted((r.delivery.channel == lost.channel_id, r.status) for r in results) == [(False, 202), (True, 202)]
        async with harness.sessions() as session:
            [orphan] = (await session.scalars(select(OrphanSubscription))).all()
        assert orphan.subscription_id == lost.channel_id and orphan.user == object_id(BOSS)

        await harness.worker.maintain()  # the periodic upkeep
        assert [s.id for s in graph.subscriptions.active(BOSS)] == [ours.id]
        async with harness.sessions() as session:
            [orphan] = (await session.scalars(select(OrphanSubscription))).all()
        assert (orphan.outcome, orphan.done_at) == ("deleted", harness.clock.now())
        assert graph.changed(BOSS, IDS[BOSS], "updated") == 1  # only ours is left to notify


async def test_google_s_sync_message_sent_during_watch_is_acknowledged(backend):
    """Google posts `sync` while it answers events.watch: before our channel row exists."""
    story = scenario()
    story["org"]["people"].append({"email": "gia@acme.test", "manager": BOSS, "provider": "google"})
    async with Harness(story, database_url=database_url(backend)) as harness:
        await harness.connect()
        base = harness.settings.public_base_url
        channel = await harness.worker.providers["google"].watch(
            await _ref(harness, "gia@acme.test"), f"{base}/webhooks/google", "", "s3cret-not-recorded", 3600
        )
        [sync] = [r for r in await harness.sandbox.flush() if r.delivery.channel == channel.channel_id]
        assert sync.delivery.meta["state"] == "sync" and sync.status == 200


async def test_another_app_s_subscription_is_not_ours_to_delete(backend):
    story = scenario()
    async with Harness(story, database_url=database_url(backend)) as harness:
        graph = harness.sandbox.graph
        await harness.connect()
        graph.entra.register_app("another-app", "another-secret")
        creds = json.dumps(
            {"tenant_id": graph.tenant_id, "client_id": "another-app", "client_secret": "another-secret"}
        )
        base = harness.settings.public_base_url
        theirs = await harness.worker.providers["microsoft"].watch(
            dataclasses.replace(await _ref(harness, BOSS), credentials=creds),
            f"{base}/webhooks/microsoft",
            f"{base}/webhooks/microsoft/lifecycle",
            "theirs",
            3600,
        )
        assert graph.changed(BOSS, IDS[BOSS], "updated") == 2
        assert {r.status for r in await harness.sandbox.flush()} == {202}
        await harness.worker.maintain()
        async with harness.sessions() as session:
            [orphan] = (await session.scalars(select(OrphanSubscription))).all()
        assert (orphan.subscription_id, orphan.outcome) == (theirs.channel_id, "refused")  # Graph: 403
        assert len(graph.subscriptions.active(BOSS)) == 2
        await harness.worker.maintain()  # done: not tried again
        async with harness.sessions() as session:
            assert (await session.scalars(select(OrphanSubscription.attempts))).all() == [1]
