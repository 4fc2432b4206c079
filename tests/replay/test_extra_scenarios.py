"""Our own scenarios (tests/replay/scenarios/, with `expect` worked out from SPEC.md)
for cases the public ones leave out, replayed through the production pipeline on
SQLite and PostgreSQL: they must score perfectly too. 11-15 and 31 are written by build.py;
16-30 come from a rule-by-rule conformance review (27-30 caught two bugs: answers
counted as individual modifications, and a cancellation minutes before a series
deletion taken as part of it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.replay.harness import instants
from tests.conftest import BACKENDS
from tests.replay.scoring import assert_scores_perfectly

HERE = Path(__file__).resolve().parent / "scenarios"
SCENARIOS = sorted(HERE.glob("*.json"))


def test_there_are_extra_scenarios():
    assert len(SCENARIOS) >= 5


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
async def test_extra_scenario_scores_perfectly(path: Path, backend: str):
    await assert_scores_perfectly(path, backend)


def test_entries_at_one_instant_are_grouped_unless_they_change_one_event_twice():
    g = lambda at, event_id, op="update": {"at": at, "op": op, "provider": "google", "event_id": event_id}  # noqa: E731
    create = {"at": "t1", "op": "create", "provider": "google", "event": {"id": "a"}}
    timeline = [
        create,
        g("t1", "b"),
        g("t1", "a"),
        g("t2", "a"),
        g("t2", "c"),
        {"at": "t2", "op": "update", "provider": "microsoft", "event_id": "a"},
    ]
    assert [[e.get("event_id", "+a") for e in group] for group in instants(timeline)] == [
        ["+a", "b"],
        ["a"],
        ["a", "c", "a"],
    ]
