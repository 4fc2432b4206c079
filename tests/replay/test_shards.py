"""`oneonone replay --jobs N`: shards (service/replay/shards.py) give the very
document one process gives, explanations included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.gen_org_scenario import org_story
from service.domain.detection import to_replay_json
from service.replay import auto_jobs
from service.replay.harness import Harness
from service.replay.report import explain_json
from service.replay.shards import partition, replay_in_shards, replay_shard
from service.replay.validate import load
from tests.conftest import BACKENDS, ROOT
from tests.replay.scoring import PUBLIC, checker, database_url

SCENARIOS = sorted(PUBLIC.glob("*.json"))


def _org(people: list[tuple[str, str | None]], timeline: list[dict] | None = None) -> dict:
    return {"org": {"people": [{"email": e, "manager": m} for e, m in people]}, "timeline": timeline or []}


def test_partition_keeps_subtrees_together_and_balances_work():
    # ceo → a (a1, a2), b (b1, b2): depth-first order ceo a a1 a2 b b1 b2, one unit each.
    people = [
        ("ceo@x", None),
        ("a@x", "ceo@x"),
        ("b@x", "ceo@x"),
        ("a1@x", "a@x"),
        ("b1@x", "b@x"),
        ("a2@x", "a@x"),
        ("b2@x", "b@x"),
    ]
    assert partition(_org(people), 2) == [["ceo@x", "a@x", "a1@x", "a2@x"], ["b@x", "b1@x", "b2@x"]]
    # Work is one plus the entries naming a calendar: b1's eight move the boundary.
    busy = [{"calendars": ["B1@x"]}] * 8
    assert partition(_org(people, busy), 2) == [["ceo@x", "a@x", "a1@x", "a2@x", "b@x"], ["b1@x", "b2@x"]]


def test_partition_covers_everyone_once_and_never_makes_an_empty_shard():
    people = [("ceo@x", None), ("a@x", "ceo@x"), ("orphan@x", "gone@x")]
    assert partition(_org(people), 1) == [["ceo@x", "a@x", "orphan@x"]]
    assert partition(_org(people), 8) == [["ceo@x"], ["a@x"], ["orphan@x"]]
    story = org_story(40, 2, seed=3).document()
    groups = partition(story, 3)
    assert len(groups) == 3 and sorted(sum(groups, [])) == sorted(p["email"] for p in story["org"]["people"])


async def _one_after_another(scenario: dict, shards: list) -> None:
    for shard in shards:
        await replay_shard(scenario, *shard)


async def _sharded(scenario: dict, jobs: int, backend: str = "sqlite"):
    """`replay_in_shards`, with the shards run one after the other in this process."""
    return await replay_in_shards(
        scenario, jobs=jobs, database_url=database_url(backend), progress=print, run=_one_after_another
    )


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
async def test_a_public_scenario_split_three_ways_scores_perfectly(path: Path):
    scenario = load(path)
    detection = await _sharded(scenario, 3)
    result = checker().score(scenario["expect"], to_replay_json(detection, Harness(scenario).now))
    assert (result["f_fp"], result["f_fn"]) == (0, 0), (result["missed"], result["extra"])
    assert result["m_ok"] == result["m_total"] and result["m_extra"] == 0, result["m_wrong"]
    assert result["p_ok"] == result["p_total"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
async def test_an_org_split_in_shards_gives_the_single_replays_document(backend: str):
    """Team syncs and 1:1s cross the shards' boundaries; every finding type shows up."""
    scenario = org_story(16, 6, seed=1).document()
    shard_of = {email: i for i, group in enumerate(partition(scenario, 3)) for email in group}
    shards_per_event: dict[str, set[int]] = {}
    for entry in scenario["timeline"]:
        if entry["op"] == "create":
            event = entry["event"]
            shards_per_event.setdefault(event["iCalUId" if "iCalUId" in event else "iCalUID"], set()).update(
                shard_of[c] for c in entry["calendars"]
            )
    assert any(len(shards) > 1 for shards in shards_per_event.values())
    async with Harness(scenario, incremental=False) as harness:
        single = await harness.run()
    sharded = await _sharded(scenario, 3, backend)
    expected = explain_json(to_replay_json(single, harness.now), single)
    assert {f["type"] for f in expected["findings"]} == {
        "cancelled_without_reschedule",
        "late_reschedule",
        "shortened",
        "declined",
        "double_booked",
        "cadence_gap",
        "no_upcoming",
    }
    assert explain_json(to_replay_json(sharded, harness.now), sharded) == expected


def _cli(path: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "replay", str(path), "--json", *flags],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )


@pytest.mark.slow
async def test_cli_jobs_runs_shards_in_processes(tmp_path):
    scenario = org_story(10, 1, seed=7).document()
    path = tmp_path / "org.json"
    path.write_text(json.dumps(scenario))
    proc = _cli(path, "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    assert "2 shards" in proc.stderr and "shard 2/2" in proc.stderr
    async with Harness(scenario, incremental=False) as harness:
        single = await harness.run()
    assert json.loads(proc.stdout) == to_replay_json(single, harness.now)


@pytest.mark.parametrize(
    "flags, message", [(("--jobs", "0"), "must be 1 or more"), (("--jobs", "2", "--incremental"), "--incremental")]
)
def test_cli_rejects_bad_jobs(flags, message):
    proc = _cli(PUBLIC / "04-late-move.json", *flags)
    assert proc.returncode == 2 and message in proc.stderr


@pytest.mark.parametrize(
    "entries, cores, jobs", [(999, 8, 1), (1000, 8, 4), (1000, 2, 2), (5000, 1, 1), (5000, None, 1)]
)
def test_long_timelines_are_sharded_one_per_core_up_to_four(monkeypatch, entries, cores, jobs):
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    assert auto_jobs({"timeline": [{}] * entries}) == jobs
