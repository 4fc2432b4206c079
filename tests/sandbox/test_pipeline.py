"""tests/sandbox_pipeline.py: scenarios → CalendarHistory through the stores' APIs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.domain.events import CalendarHistory, EventSnapshot, Kind, Response, Status
from tests.sandbox_pipeline import history_from_scenario

UTC = UTC
PUBLIC = Path(__file__).resolve().parents[2].parent / "shared" / "scenarios" / "public"
SCENARIOS = sorted(PUBLIC.glob("*.json"))


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _latest(history: CalendarHistory, calendar: str) -> list[EventSnapshot]:
    return [
        changes[-1].snapshot
        for (cal, _), changes in history.changes.items()
        if cal == calendar and changes[-1].snapshot is not None
    ]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_history_is_well_formed(path: Path) -> None:
    history, people, policies, now = history_from_scenario(path)
    assert history.changes and people and now.tzinfo is not None
    for (calendar, event_id), changes in history.changes.items():
        assert [c.changed_at for c in changes] == sorted(c.changed_at for c in changes)
        for change in changes:
            assert (change.calendar, change.event_id) == (calendar, event_id)
            if change.snapshot is not None:
                assert change.changed_at == change.snapshot.updated
                assert change.snapshot.calendar == calendar
                if change.snapshot.kind is Kind.instance:
                    assert change.snapshot.series_id and change.snapshot.original_start is not None


def test_google_cancelled_occurrence_and_series_split() -> None:
    history, people, _, now = history_from_scenario(PUBLIC / "03-cancel-rescheduled.json")
    stub = history.changes[("kara.novak@acme.test", "2u7erm91qctdbf68a3aqhi8ck3_20260212T150000Z")][-1]
    assert stub.changed_at == t("2026-02-09T10:00:00Z")
    assert stub.snapshot.status is Status.cancelled and stub.snapshot.original_start == t("2026-02-12T15:00:00Z")
    history, *_ = history_from_scenario(PUBLIC / "01-weekly-clean.json")
    old = history.changes[("jonas.becker@acme.test", "2j6s3kc2p07ueb831ujvlf70va")]
    assert [c.snapshot.recurrence for c in old] == [
        ("RRULE:FREQ=WEEKLY;BYDAY=WE",),
        ("RRULE:FREQ=WEEKLY;BYDAY=WE;UNTIL=20260217T225959Z",),
    ]
    assert old[-1].changed_at == t("2026-02-09T12:00:00Z")


def test_graph_cancel_is_a_removal_at_the_op_time() -> None:
    history, *_ = history_from_scenario(PUBLIC / "02-cancel-no-reschedule.json")
    removals = [(key, changes) for key, changes in history.changes.items() if changes[-1].snapshot is None]
    assert len(removals) == 4
    for _key, changes in removals:
        before = changes[-2].snapshot
        assert before.kind is Kind.instance and before.provider == "microsoft"
        slot = before.original_start
        if slot == t("2026-01-21T18:00:00Z"):
            assert changes[-1].changed_at == t("2026-01-23T15:00:00Z")
        else:
            assert (slot, changes[-1].changed_at) == (t("2026-02-09T14:00:00Z"), t("2026-02-05T16:30:00Z"))


def test_graph_series_delete_removes_master_and_instances() -> None:
    history, *_ = history_from_scenario(PUBLIC / "08-cadence-gap-and-no-upcoming.json")
    master = history.changes[
        ("pablo.young@acme.test", "AAMkAG8WBVSV9GmCuyLMNEtDK8fAvBYrjYGCxOu7wwt721zOUAhEKwJwbGzOyefqAAA=")
    ]
    assert master[0].snapshot.kind is Kind.series and master[-1].snapshot is None
    assert master[-1].changed_at == t("2026-02-20T22:00:00Z")
    assert _latest(history, "pablo.young@acme.test") == []
    google_series = history.changes[("nils.vogel@acme.test", "saeeoa842890fmun7vlu54g4o0")][-1]
    assert google_series.snapshot.status is Status.cancelled and google_series.changed_at == t("2026-02-20T22:00:00Z")


def test_graph_moves_become_exceptions_with_new_times() -> None:
    history, *_ = history_from_scenario(PUBLIC / "04-late-move.json")
    moved = [s for s in _latest(history, "oscar.silva@acme.test") if s.start != s.original_start and s.original_start]
    assert sorted((s.original_start, s.start, s.updated) for s in moved) == [
        (t("2026-02-10T10:00:00Z"), t("2026-02-10T13:00:00Z"), t("2026-02-09T17:00:00Z")),
        (t("2026-02-24T10:00:00Z"), t("2026-02-25T10:00:00Z"), t("2026-02-18T08:00:00Z")),
        (t("2026-03-03T10:00:00Z"), t("2026-03-02T08:00:00Z"), t("2026-03-01T19:00:00Z")),
    ]


def test_copies_across_providers_share_uid_and_slot() -> None:
    history, *_ = history_from_scenario(PUBLIC / "06-declined.json")
    julia = {
        (s.ical_uid, s.original_start): s for s in _latest(history, "julia.meyer@acme.test") if s.kind is Kind.instance
    }
    karim = {
        (s.ical_uid, s.original_start): s for s in _latest(history, "karim.okafor@acme.test") if s.kind is Kind.instance
    }
    shared = set(julia) & set(karim)
    assert shared
    declined = [
        k
        for k in shared
        if {a.email: a.response for a in karim[k].attendees}.get("karim.okafor@acme.test") is Response.declined
    ]
    assert [k[1] for k in declined] == [t("2026-02-03T10:00:00Z")]
    assert {a.email: a.response for a in julia[declined[0]].attendees}["karim.okafor@acme.test"] is Response.declined


def test_dst_series_in_both_providers() -> None:
    history, *_ = history_from_scenario(PUBLIC / "09-mixed-google-outlook-dst.json")
    lucas = sorted(s.original_start for s in _latest(history, "lucas.martin@acme.test") if s.kind is Kind.instance)
    assert t("2026-03-23T14:00:00Z") in lucas and t("2026-03-30T13:00:00Z") in lucas
    zoe = history.changes[
        (
            "zoe.tanaka@acme.test",
            next(
                e
                for (c, e) in history.changes
                if c == "zoe.tanaka@acme.test" and history.changes[(c, e)][-1].snapshot is None
            ),
        )
    ]
    assert zoe[-2].snapshot.original_start == t("2026-03-12T14:00:00Z")
