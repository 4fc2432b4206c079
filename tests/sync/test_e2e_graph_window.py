"""Graph's calendarView delta names, as removed ("deleted"), events outside the
window of the round that were added or updated, and events that moved out of it.
Through the production pipeline (fake Graph → webhooks → worker → reconciler):
such a removal must not erase what is kept, nor turn a move into a deletion."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from service.db.models import CalendarEvent
from service.replay.harness import Harness
from tests.conftest import BACKENDS
from tests.sync.e2e_helpers import _op, at, database_url, graph_event, graph_time, graph_weekly

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

BOSS, REPORT = "boss@acme.test", "dev@acme.test"
SERIES = "AAMkAGboss0W0master0AAA="
SINGLE = "AAMkAGboss0W0single0AAA="
UID = "040000008200E00074C5B7101A82E00800000000F1F1F1F1F1F1F1F1000000000000000000000000"
START = "2026-01-05T00:00:00Z"


def scenario() -> dict:
    people = [
        {"email": BOSS, "manager": None, "timezone": "Europe/Berlin", "provider": "microsoft"},
        {"email": REPORT, "manager": BOSS, "timezone": "Europe/Berlin", "provider": "microsoft"},
    ]
    weekly = graph_event(
        SERIES,
        "Boss / Dev 1:1",
        "2026-01-06T10:00:00",
        "2026-01-06T10:30:00",
        BOSS,
        [REPORT],
        uid=UID,
        recurrence=graph_weekly("tuesday", "2026-01-06"),
    )
    single = graph_event(
        SINGLE, "Boss / Dev career", "2026-02-12T15:00:00", "2026-02-12T15:30:00", BOSS, [REPORT], uid=f"{UID}x"
    )
    return {
        "format": "oneonone-scenario/1",
        "start": START,
        "now": "2027-01-05T00:00:00Z",
        "org": {"people": people},
        "timeline": [
            _op(START, "create", "microsoft", [BOSS], event=weekly),
            _op(START, "create", "microsoft", [BOSS], event=single),
        ],
    }


async def _rows(harness: Harness) -> dict[str, CalendarEvent]:
    async with harness.sessions() as session:
        return {r.event_id: r for r in (await session.scalars(select(CalendarEvent))).all()}


async def _change(harness: Harness, when: datetime, **op) -> None:
    harness.clock.set(when)
    await harness.worker.maintain()  # subscriptions live days: renewed as a running service does
    harness.sandbox.apply(_op(when.strftime("%Y-%m-%dT%H:%M:%SZ"), calendars=[BOSS], provider="microsoft", **op))
    assert {r.status for r in await harness.sandbox.flush()} == {202}
    await harness.sync()


async def test_a_series_edit_after_a_rebaseline_keeps_the_occurrences_of_earlier_windows(backend):
    story = scenario()
    async with Harness(story, database_url=database_url(backend)) as harness:
        await harness.connect()
        await harness.apply_all(story["timeline"])
        first = await _rows(harness)
        january = {i for i, r in first.items() if r.series_id == SERIES and r.start < at("2026-02-01T00:00:00Z")}
        assert len(january) == 4

        # 200 days on the window has moved: the upkeep's resync takes a new baseline,
        # which no longer reaches January; the rows kept from then stay as they are.
        later = at(START) + timedelta(days=harness.settings.sync.rebaseline_days + 20)
        harness.clock.set(later)
        await harness.worker.maintain()
        await harness.sync()
        assert {i: r.removed_at for i, r in (await _rows(harness)).items() if i in january} == dict.fromkeys(january)

        # The series is renamed: Graph resends the window's occurrences and names every
        # occurrence outside the window, January's too, as removed ("deleted").
        await _change(harness, later + timedelta(hours=1), op="update", event_id=SERIES, patch={"subject": "Weekly"})
        seen = [r for r in harness.sandbox.graph.store._rounds.values() if r.mailbox == BOSS]
        assert any(e.get("id") in january and e.get("removed") == "deleted" for r in seen for e in r.entries)
        rows = await _rows(harness)
        assert {i: rows[i].removed_at for i in january} == dict.fromkeys(january)  # history kept
        assert rows[SERIES].removed_at is None and rows[SERIES].title == "Weekly"


async def test_a_meeting_moved_beyond_the_window_is_moved_not_deleted(backend):
    story = scenario()
    async with Harness(story, database_url=database_url(backend)) as harness:
        await harness.connect()
        await harness.apply_all(story["timeline"])
        horizon = at(START) + timedelta(days=harness.settings.sync.lookahead_days)
        moved = {"start": graph_time("2027-03-01T15:00:00"), "end": graph_time("2027-03-01T15:30:00")}
        assert at("2027-03-01T14:00:00Z") > horizon  # past the window's end
        await _change(harness, at("2026-01-20T09:00:00Z"), op="update", event_id=SINGLE, patch=moved)
        row = (await _rows(harness))[SINGLE]
        assert row.removed_at is None and row.status == "confirmed"
        assert row.start.replace(tzinfo=None) == datetime(2027, 3, 1, 14, 0)  # as Graph has it now

        # A deletion inside the window still counts (Graph confirms it: 404).
        await _change(
            harness,
            at("2026-01-21T09:00:00Z"),
            op="cancel_occurrence",
            event_id=SERIES,
            original_start="2026-01-27T09:00:00Z",
        )
        rows = await _rows(harness)
        cancelled = [r for r in rows.values() if r.original_start == at("2026-01-27T09:00:00Z")]
        assert [r.removed_at for r in cancelled] == [at("2026-01-21T09:00:00Z")]


async def test_a_cancelled_occurrence_is_confirmed_by_its_series_without_a_get_of_its_own(backend):
    """A cancellation changes the master: its occurrences come again as stubs, so the
    increment reads the master, whose cancelledOccurrences names the slot. That read
    confirms the removal; asking Graph for the occurrence too would be a call per
    cancellation for nothing. A removal the master does not explain is still asked."""
    story = scenario()
    async with Harness(story, database_url=database_url(backend)) as harness:
        await harness.connect()
        await harness.apply_all(story["timeline"])
        fake, asked = harness.sandbox.graph.app, []
        inner = fake.app  # inside the fault middleware: what reached Graph over HTTP

        async def counted(scope, receive, send) -> None:
            if scope["type"] == "http" and scope["method"] == "GET" and "/events/" in scope["path"]:
                asked.append(unquote(scope["path"].rsplit("/", 1)[1]))
            await inner(scope, receive, send)

        fake.app = counted
        slot = at("2026-01-27T09:00:00Z")
        await _change(harness, at("2026-01-21T09:00:00Z"), op="cancel_occurrence", event_id=SERIES, original_start=slot)
        rows = await _rows(harness)
        assert [r.removed_at for r in rows.values() if r.original_start == slot] == [at("2026-01-21T09:00:00Z")]
        assert asked == [SERIES]  # the master alone

        # The single meeting deleted: no series explains it, so Graph is asked (404).
        asked.clear()
        await _change(harness, at("2026-01-22T09:00:00Z"), op="delete", event_id=SINGLE)
        assert asked == [SINGLE]
        assert (await _rows(harness))[SINGLE].removed_at == at("2026-01-22T09:00:00Z")
