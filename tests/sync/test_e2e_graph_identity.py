"""Graph mailboxes are addressed by the Entra object id, which never changes, not by
the address connect-all was given (a UPN or mail address: both can). Through the
production pipeline: an org calendar learns its id at its first baseline and keeps
syncing, and being notified, after its user is renamed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from service.db.models import Calendar, CalendarEvent
from service.replay.harness import Harness
from service.sandbox.oauth_entra import object_id
from tests.conftest import BACKENDS
from tests.sync.e2e_helpers import database_url
from tests.sync.test_e2e_graph_channels import BOSS, IDS, REPORT, scenario

pytestmark = pytest.mark.parametrize("backend", BACKENDS)


async def _calendars(harness: Harness) -> dict[str, Calendar]:
    async with harness.sessions() as session:
        return {c.external_id: c for c in (await session.scalars(select(Calendar))).all()}


async def test_an_org_calendar_keeps_syncing_after_its_user_is_renamed(backend):
    story = scenario()
    async with Harness(story, database_url=database_url(backend)) as harness:
        graph = harness.sandbox.graph
        await harness.connect()
        await harness.apply_all(story["timeline"])
        calendars = await _calendars(harness)
        assert {e: c.provider_user_id for e, c in calendars.items()} == {e: object_id(e) for e in (BOSS, REPORT)}
        [sub] = graph.subscriptions.active(BOSS)
        assert sub.resource == f"/users/{object_id(BOSS)}/events"

        graph.store.rename_mailbox(BOSS, "boss.renamed@acme.test")  # BOSS names nobody any more
        harness.clock.set(harness.clock.now() + timedelta(hours=1))
        graph.store.update([BOSS], IDS[BOSS], {"subject": "Renamed, still here"}, at=harness.clock.now())
        assert graph.changed(BOSS, IDS[BOSS], "updated") == 1
        assert {r.status for r in await harness.sandbox.flush()} == {202}
        await harness.sync()
        boss = (await _calendars(harness))[BOSS]
        assert (boss.status, boss.last_error, boss.failures) == ("active", None, 0)
        async with harness.sessions() as session:
            title = await session.scalar(
                select(CalendarEvent.title).where(
                    CalendarEvent.calendar_id == boss.id, CalendarEvent.event_id == IDS[BOSS]
                )
            )
        assert title == "Renamed, still here"

        # A new baseline (the window moved) and new subscriptions: by id as well.
        harness.clock.set(harness.clock.now() + timedelta(days=harness.settings.sync.rebaseline_days + 1))
        await harness.worker.maintain()
        await harness.sync()
        boss = (await _calendars(harness))[BOSS]
        assert (
            boss.status == "active" and boss.window_start.date() == (harness.clock.now() - timedelta(days=120)).date()
        )
        assert [s.resource for s in graph.subscriptions.active(BOSS)] == [f"/users/{object_id(BOSS)}/events"]
