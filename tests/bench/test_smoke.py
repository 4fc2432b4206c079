"""Every benchmark and scenario generator runs its whole path at a tiny size
(`--smoke`), so none can rot unnoticed: each must exit 0 and print its result
table. The figures mean nothing and bench/results/ is left alone. bench/api.py
uses its built-in load generator (wrk or not); the benchmarks that need
PostgreSQL take scratch databases on the test server (bench/pg.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import BACKENDS, PG_ADMIN_DSN, ROOT

TABLE = re.compile(r"^\|.+\|\n\|(?:-+\|)+$", re.MULTILINE)
NEEDS_POSTGRES = pytest.mark.skipif("postgres" not in BACKENDS, reason="needs PostgreSQL (ONEONONE_TEST_DATABASES)")

SLOW_ON_POSTGRES = [pytest.mark.postgres, NEEDS_POSTGRES, pytest.mark.slow]
SMOKES = [
    pytest.param(["bench/latency.py"], id="latency", marks=SLOW_ON_POSTGRES),
    pytest.param(["-m", "bench.gen_demo_scenario"], id="gen_demo_scenario"),
    pytest.param(["bench/api.py"], id="api", marks=SLOW_ON_POSTGRES),
    pytest.param(["bench/sync.py"], id="sync", marks=[pytest.mark.postgres, NEEDS_POSTGRES]),
    pytest.param(["bench/events.py"], id="events", marks=SLOW_ON_POSTGRES),
    pytest.param(["bench/detect.py"], id="detect"),
    pytest.param(["-m", "bench.gen_org_scenario"], id="gen_org_scenario"),
]


@pytest.mark.parametrize("command", SMOKES)
def test_bench_runs_its_whole_path_at_a_tiny_size(command: list[str]) -> None:
    env = {**os.environ, "BENCH_PG_ADMIN": PG_ADMIN_DSN}
    done = subprocess.run(
        [sys.executable, *command, "--smoke"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert TABLE.search(done.stdout), done.stdout[-4000:]
