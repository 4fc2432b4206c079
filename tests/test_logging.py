"""With ONEONONE_LOG_JSON=true every line a real `oneonone serve` writes is JSON:
alembic's migration lines, uvicorn's start-up and shutdown lines, our access log
and the service's own events."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {timeout} s")


def oneonone(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def json_lines(stderr: str) -> list[dict]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not JSON: {line!r}") from None
    return parsed


def test_serve_writes_only_json_lines_when_asked(tmp_path):
    port = free_port()
    env = {
        "ONEONONE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}",  # migrated by serve
        "ONEONONE_LOG_JSON": "true",
        "ONEONONE_LOG_LEVEL": "INFO",
        "ONEONONE_SECRET_KEY": "",
    }
    proc = oneonone("serve", "--port", str(port), env=env)
    try:
        assert wait_for(f"http://127.0.0.1:{port}/healthz", proc).status_code == 200
        r = httpx.get(f"http://127.0.0.1:{port}/v1/me", headers={"X-Request-ID": "json-1"})
        assert r.status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, -signal.SIGTERM), err  # uvicorn re-raises the signal once shut down
    lines = json_lines(err)
    assert all({"event", "level", "timestamp"} <= set(line) for line in lines)
    loggers = {line.get("logger") for line in lines}
    assert "alembic.runtime.migration" in loggers  # "Running upgrade  -> 0001, …"
    assert any(line["event"].startswith("Running upgrade") for line in lines)
    events = [line["event"] for line in lines if line.get("logger") == "uvicorn.error"]
    assert "Application startup complete." in events and f"Finished server process [{proc.pid}]" in events
    assert any(e.startswith("Uvicorn running on") for e in events)
    [access] = [line for line in lines if line["event"] == "request" and line.get("request_id") == "json-1"]
    assert (access["route"], access["status"]) == ("/v1/me", 401)
    assert not any(line.get("logger") == "uvicorn.access" for line in lines)  # ours replaces uvicorn's
