"""The service's processes a bench starts and stops (bench/latency.py, bench/events.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
ONEONONE = str(ROOT / ".venv" / "bin" / "oneonone")


class Processes:
    """Started processes: any that exits early ends the bench (`check`); `stop` ends them all."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, env: dict[str, str], args: list[str], **kwargs: Any) -> subprocess.Popen:
        logs = os.environ.get("BENCH_EVENTS_LOGS")  # a folder: each process's stderr goes to a file there
        kwargs.setdefault("stdout", subprocess.DEVNULL)
        if logs and "stderr" not in kwargs:
            kwargs["stderr"] = open(Path(logs) / f"process-{len(self.started)}.log", "w")  # noqa: SIM115
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(args, cwd=ROOT, env=env, **kwargs)
        self.started.append(p)
        return p

    def check(self) -> None:
        for p in self.started:
            if p.poll() is not None:
                raise SystemExit(f"{' '.join(map(str, p.args))} exited with {p.returncode}")

    def stop(self) -> None:
        for p in self.started:
            if p.poll() is None:
                p.terminate()
        for p in self.started:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    async def wait_for(
        self, what: str, probe: Callable[[], Awaitable[bool]], timeout: float = 60.0, every: float = 0.05
    ) -> None:
        """Until `probe()` holds; a process that exits meanwhile, or `timeout`, ends the bench."""
        deadline = time.monotonic() + timeout
        while not await probe():
            self.check()
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}")
            await asyncio.sleep(every)


async def ready(base_url: str) -> bool:
    """Whether the service at `base_url` answers /readyz with 200."""
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{base_url}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False
