"""Every public scenario, replayed through the production pipeline (fake providers
over HTTP, webhooks, leased workers, the detector), scores perfectly — on SQLite
and on PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, ROOT
from tests.replay.scoring import PUBLIC, assert_scores_perfectly

SCENARIOS = sorted(PUBLIC.glob("*.json"))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
async def test_public_scenario_scores_perfectly(path: Path, backend: str):
    await assert_scores_perfectly(path, backend)


def _cli_replay(path: Path, *flags: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "service.cli", "replay", str(path), "--json", *flags],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_cli_prints_replay_json():
    document = _cli_replay(PUBLIC / "04-late-move.json")
    assert document["format"] == "oneonone-replay/1"
    assert {f["type"] for f in document["findings"]} == {"late_reschedule"}


def test_detecting_after_each_instant_changes_nothing_at_now():
    """`--incremental` runs the detector as a live service does (after every sync); the
    document at `now` is the same, explanations included."""
    path = max(SCENARIOS, key=lambda p: p.stat().st_size)  # the busiest public story
    assert _cli_replay(path, "--explain", "--incremental") == _cli_replay(path, "--explain")


def test_output_spells_emails_as_the_scenario_does(tmp_path):
    """People match case-insensitively, but the output names them as the org lists them
    (scoring compares emails exactly); --explain still finds each finding's evidence."""
    source = (PUBLIC / "04-late-move.json").read_text()
    people = json.loads(source)["org"]["people"]
    spelled = {p["email"]: p["email"].split("@")[0].title() + "@ACME.test" for p in people}
    text = source
    for lower, mixed in spelled.items():
        text = text.replace(f'"{lower}"', f'"{mixed}"', 1)  # the org entry; events keep lower case
    path = tmp_path / "mixed-case.json"
    path.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "service.cli", "replay", str(path), "--json", "--explain"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    names = {
        item[role]
        for section in ("pairs", "meetings", "findings")
        for item in document[section]
        for role in ("manager", "report")
    }
    assert names and names <= set(spelled.values())
    assert document["findings"] and all(f["evidence"] for f in document["findings"])
