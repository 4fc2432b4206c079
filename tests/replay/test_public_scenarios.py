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


def test_cli_prints_replay_json():
    path = PUBLIC / "04-late-move.json"
    proc = subprocess.run([sys.executable, "-m", "service.cli", "replay", str(path), "--json"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["format"] == "oneonone-replay/1"
    assert {f["type"] for f in document["findings"]} == {"late_reschedule"}
