"""Graph subscriptions through the production pipeline (fake Graph → webhooks →
worker upkeep): what a lifecycle challenge costs at Graph, counted there."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from service.db.models import Calendar, PushChannel
from service.replay.harness import Harness
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
