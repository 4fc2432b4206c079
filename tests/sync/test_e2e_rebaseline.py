"""A Graph series deleted while nobody looked, then met by a re-baseline (a full
re-read of the moving calendarView window): the re-read does not list the series
or its instances at all, so the worker must ask Graph about the series itself and
record the deletion as a deletion, exactly as an incremental sync would (the
master removed, no occurrence cancelled one by one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from service.db.models import Calendar, CalendarEvent, Finding
from service.replay.harness import Harness
from tests.conftest import BACKENDS
from tests.sync.e2e_helpers import _op, database_url, graph_event, graph_weekly

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

BOSS, REPORT = "boss@acme.test", "dev@acme.test"
UID = "040000008200E00074C5B7101A82E00800000000D1D1D1D1D1D1D1D1000000000000000000000000"
IDS = {BOSS: "AAMkAGboss0D0master0AAA=", REPORT: "AAMkAGdev0D0master0AAA="}


def _scenario(deleted: datetime, *, until: str | None = None) -> dict:
    people = [
        {"email": BOSS, "manager": None, "timezone": "Europe/Berlin", "provider": "microsoft"},
        {"email": REPORT, "manager": BOSS, "timezone": "Europe/Berlin", "provider": "microsoft"},
    ]
    series = {
        email: graph_event(
            event_id,
            "Boss / Dev 1:1",
            "2026-01-06T10:00:00",
            "2026-01-06T10:30:00",
            BOSS,
            [REPORT],
            uid=UID,
            recurrence=graph_weekly("tuesday", "2026-01-06", end_date=until),
        )
        for email, event_id in IDS.items()
    }
    deleted_at, now = (moment.strftime("%Y-%m-%dT%H:%M:%SZ") for moment in (deleted, deleted + timedelta(days=9)))
    return {
        "format": "oneonone-scenario/1",
        "start": "2026-01-05T00:00:00Z",
        "now": now,
        "org": {"people": people},
        "timeline": [_op("2026-01-05T00:00:00Z", "create", "microsoft", [email], event=series[email]) for email in IDS]
        + [_op(deleted_at, "delete", "microsoft", [email], event_id=IDS[email]) for email in IDS],
    }


async def test_a_series_deleted_before_a_rebaseline_is_recorded_as_deleted(backend):
    start = datetime(2026, 1, 5, tzinfo=UTC)
    async with Harness(_scenario(start), database_url=database_url(backend)) as probe:
        rebaseline = timedelta(days=probe.settings.sync.rebaseline_days)
    deleted = start + rebaseline + timedelta(days=2)
    scenario = _scenario(deleted)
    async with Harness(scenario, database_url=database_url(backend)) as harness:
        await harness.connect()
        creates, deletes = scenario["timeline"][:2], scenario["timeline"][2:]
        await harness.apply_all(creates)
        # Deleted after the subscriptions lapsed (nobody is told), found by the upkeep
        # that follows: the resync is due for a new baseline.
        harness.clock.set(deleted)
        for entry in deletes:
            harness.sandbox.apply(entry)
        await harness.sandbox.flush()
        assert await harness.worker.maintain() == 2
        await harness.sync()
        async with harness.sessions() as session:
            windows = set((await session.scalars(select(Calendar.window_start))).all())
            masters = (await session.scalars(select(CalendarEvent).where(CalendarEvent.kind == "series"))).all()
            live_instances = (
                await session.scalars(
                    select(CalendarEvent).where(
                        CalendarEvent.kind == "instance",
                        CalendarEvent.removed_at.is_(None),
                        CalendarEvent.start >= deleted,
                    )
                )
            ).all()
        # The deletion's sync was a new baseline on both mailboxes…
        assert {w.replace(tzinfo=None) for w in windows} == {
            (deleted - timedelta(days=harness.settings.sync.lookback_days)).replace(tzinfo=None)
        }
        # …and still saw the series go as a whole.
        assert sorted(m.event_id for m in masters) == sorted(IDS.values())
        assert {m.removed_at.replace(tzinfo=None) for m in masters} == {deleted.replace(tzinfo=None)}
        assert live_instances == []
        detection = await harness.finish()
        async with harness.sessions() as session:
            kinds = set((await session.scalars(select(Finding.type))).all())
    assert "cancelled_without_reschedule" not in kinds  # a deleted series is not a cancelled 1:1
    after = [m for m in detection.meetings if m.original_start >= deleted]
    assert after and {(m.status, m.cancelled_at) for m in after} == {("cancelled", deleted)}


async def test_a_deleted_series_all_before_the_new_window_is_recorded_as_deleted(backend):
    """Its instances all precede the new window, so the re-baseline lists none of
    them and none is stored in the window: only the master, asked about, tells."""
    start = datetime(2026, 1, 5, tzinfo=UTC)
    async with Harness(_scenario(start), database_url=database_url(backend)) as probe:
        rebaseline = timedelta(days=probe.settings.sync.rebaseline_days)
    deleted = start + rebaseline + timedelta(days=2)
    scenario = _scenario(deleted, until="2026-02-24")  # eight Tuesdays, long before the new window
    async with Harness(scenario, database_url=database_url(backend)) as harness:
        await harness.connect()
        await harness.apply_all(scenario["timeline"][:2])
        harness.clock.set(deleted)
        for entry in scenario["timeline"][2:]:
            harness.sandbox.apply(entry)
        await harness.sandbox.flush()
        assert await harness.worker.maintain() == 2
        await harness.sync()
        async with harness.sessions() as session:
            window_start = min((await session.scalars(select(Calendar.window_start))).all())
            rows = (await session.scalars(select(CalendarEvent))).all()
    assert window_start.replace(tzinfo=None) > datetime(2026, 2, 25)  # a new baseline, past the series
    masters = [r for r in rows if r.kind == "series"]
    assert sorted(m.event_id for m in masters) == sorted(IDS.values())
    assert {m.removed_at.replace(tzinfo=None) for m in masters} == {deleted.replace(tzinfo=None)}
    instances = [r for r in rows if r.kind == "instance"]
    assert len(instances) == 16 and all(r.removed_at is None for r in instances)  # history kept as it was
