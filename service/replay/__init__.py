"""`oneonone replay`: a scenario through the real sync pipeline (see harness.py)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from service.replay.validate import ScenarioError, instant, load

# Below this many timeline entries one process is quicker than starting shards.
SHARD_FROM_ENTRIES = 1000
MAX_AUTO_JOBS = 4


def auto_jobs(scenario: dict) -> int:
    """Shards for a long timeline: one per core, up to MAX_AUTO_JOBS."""
    if len(scenario.get("timeline") or []) < SHARD_FROM_ENTRIES:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_JOBS))


def main(
    path: Path,
    *,
    as_json: bool,
    database_url: str | None,
    explain: bool,
    incremental: bool = False,
    jobs: int | None = None,
) -> int:
    from service import eventloop
    from service.logging import configure

    configure("WARNING")
    try:
        scenario = load(path)
    except ScenarioError as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        return 2
    if incremental and jobs is not None and jobs > 1:
        print(
            "error: --incremental keeps every instant's state in one database: it runs in one process, not with --jobs",
            file=sys.stderr,
        )
        return 2
    if jobs is None:
        jobs = 1 if incremental else auto_jobs(scenario)
    return eventloop.run(
        _run(scenario, as_json=as_json, database_url=database_url, explain=explain, incremental=incremental, jobs=jobs)
    )


async def _run(
    scenario: dict, *, as_json: bool, database_url: str | None, explain: bool, incremental: bool, jobs: int
) -> int:
    from service.domain.detection import to_replay_json
    from service.replay.harness import Harness
    from service.replay.report import explain_json, render, spelled_as_given

    started = time.monotonic()
    progress = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    if jobs > 1:
        from service.replay.shards import replay_in_shards

        detection = await replay_in_shards(scenario, jobs=jobs, database_url=database_url, progress=progress)
    else:
        async with Harness(scenario, database_url=database_url, progress=progress, incremental=incremental) as harness:
            detection = await harness.run()
    document = spelled_as_given(to_replay_json(detection, instant(scenario["now"], "now")), scenario["org"]["people"])
    if as_json:
        print(json.dumps(explain_json(document, detection) if explain else document, indent=2))
    else:
        print(render(document, detection, explain=explain))
    if len(scenario.get("timeline") or []) >= 200:
        progress(f"replay: done in {time.monotonic() - started:.1f} s")
    return 0
