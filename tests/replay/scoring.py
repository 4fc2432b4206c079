"""Replay a scenario file through the production pipeline and assert a perfect score
with the shared checker (../shared/scenarios/check.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from service.domain.detection import to_replay_json
from service.replay.harness import Harness
from service.replay.validate import load
from tests.conftest import PG_URL, ROOT

PUBLIC = ROOT.parent / "shared" / "scenarios" / "public"


def checker():
    spec = importlib.util.spec_from_file_location("scenario_check", PUBLIC.parent / "check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def database_url(backend: str) -> str | None:
    return None if backend == "sqlite" else PG_URL


async def assert_scores_perfectly(path: Path, backend: str) -> None:
    """Both ways of running the detector are held to it: at `now` only (`oneonone
    replay`'s default) on SQLite, also after each instant (`--incremental`, the
    demo) on PostgreSQL."""
    scenario = load(path)
    async with Harness(scenario, database_url=database_url(backend), incremental=backend != "sqlite") as harness:
        detection = await harness.run()
    result = checker().score(scenario["expect"], to_replay_json(detection, harness.now))
    assert (result["f_fp"], result["f_fn"]) == (0, 0), (result["missed"], result["extra"])
    assert result["m_ok"] == result["m_total"] and result["m_extra"] == 0, result["m_wrong"]
    assert result["p_ok"] == result["p_total"]
