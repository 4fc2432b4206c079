"""Every public scenario, replayed through the production pipeline (fake providers
over HTTP, webhooks, leased workers, the detector), scores perfectly — on SQLite
and on PostgreSQL."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from service.domain.detection import to_replay_json
from service.replay.harness import Harness
from service.replay.validate import load
from tests.conftest import BACKENDS, PG_ADMIN_DSN, ROOT

PUBLIC = ROOT.parent / "shared" / "scenarios" / "public"
SCENARIOS = sorted(PUBLIC.glob("*.json"))


def _checker():
    spec = importlib.util.spec_from_file_location("scenario_check", PUBLIC.parent / "check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _database_url(backend: str) -> str | None:
    return None if backend == "sqlite" else PG_ADMIN_DSN.replace("postgresql://", "postgresql+asyncpg://")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
async def test_public_scenario_scores_perfectly(path: Path, backend: str):
    scenario = load(path)
    async with Harness(scenario, database_url=_database_url(backend)) as harness:
        detection = await harness.run()
    result = _checker().score(scenario["expect"], to_replay_json(detection, harness.now))
    assert (result["f_fp"], result["f_fn"]) == (0, 0), (result["missed"], result["extra"])
    assert result["m_ok"] == result["m_total"] and result["m_extra"] == 0, result["m_wrong"]
    assert result["p_ok"] == result["p_total"]


def test_cli_prints_replay_json():
    path = PUBLIC / "04-late-move.json"
    proc = subprocess.run([sys.executable, "-m", "service.cli", "replay", str(path), "--json"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["format"] == "oneonone-replay/1"
    assert {f["type"] for f in document["findings"]} == {"late_reschedule"}
