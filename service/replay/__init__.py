"""`oneonone replay`: a scenario through the real sync pipeline (see harness.py)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from service.replay.validate import ScenarioError, load


def main(path: Path, *, as_json: bool, database_url: str | None, explain: bool, incremental: bool = False) -> int:
    from service import eventloop
    from service.logging import configure

    configure("WARNING")
    try:
        scenario = load(path)
    except ScenarioError as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        return 2
    return eventloop.run(_run(scenario, as_json=as_json, database_url=database_url, explain=explain,
                            incremental=incremental))


async def _run(scenario: dict, *, as_json: bool, database_url: str | None, explain: bool, incremental: bool) -> int:
    from service.domain.detection import to_replay_json
    from service.replay.harness import Harness
    from service.replay.report import explain_json, render, spelled_as_given

    started = time.monotonic()
    progress = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    async with Harness(scenario, database_url=database_url, progress=progress, incremental=incremental) as harness:
        detection = await harness.run()
    document = spelled_as_given(to_replay_json(detection, harness.now), scenario["org"]["people"])
    if as_json:
        print(json.dumps(explain_json(document, detection) if explain else document, indent=2))
    else:
        print(render(document, detection, explain=explain))
    if len(scenario.get("timeline") or []) >= 200:
        progress(f"replay: done in {time.monotonic() - started:.1f} s")
    return 0
