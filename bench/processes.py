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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc); 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def postgres_pids() -> list[int]:
    """This machine's PostgreSQL processes (the server and its backends)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"postgres"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class CpuMeter:
    """CPU time used by groups of processes between `start` and `stop`, so that a
    bench can say what each part costs per unit of work, a figure that holds when
    latencies swing with the machine's load. PostgreSQL's backends are found anew at
    each reading: one that ended in between is not counted (pools keep theirs)."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self.used: dict[str, float] = {}
        self.wall = 0.0
        self._began: dict[str, dict[int, float]] = {}
        self._t0 = 0.0

    def _read(self) -> dict[str, dict[int, float]]:
        return {name: {pid: cpu_seconds(pid) for pid in pids()} for name, pids in self.groups.items()}

    def start(self) -> None:
        self._began, self._t0 = self._read(), time.monotonic()

    def stop(self) -> None:
        self.wall = time.monotonic() - self._t0
        ended = self._read()
        self.used = {
            name: sum(t - self._began[name].get(pid, 0.0) for pid, t in ended[name].items()) for name in self.groups
        }
