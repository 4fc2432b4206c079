"""A real `oneonone worker` serves /healthz, /readyz and /metrics on its own port:
ready only while the database is at head and the worker loop runs."""

from __future__ import annotations

import signal
import time

import httpx

from service.db.migrate import upgrade
from service.security.crypto import generate_key
from tests.test_logging import free_port, json_lines, oneonone, wait_for


def _worker(db_path, port: int):
    env = {
        "ONEONONE_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
        "ONEONONE_SECRET_KEY": generate_key(),
        "ONEONONE_LOG_JSON": "true",
        "ONEONONE_WORKER__HTTP_PORT": "1",  # the flag wins over the setting
    }
    return oneonone("worker", "--http-port", str(port), env=env)


def _ready(base: str, proc, status: int, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        r = wait_for(f"{base}/readyz", proc)
        if r.status_code == status or time.monotonic() > deadline:
            return r
        time.sleep(0.1)


def _stop(proc) -> str:
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


def test_the_worker_serves_health_readiness_and_metrics(tmp_path):
    db = tmp_path / "worker.db"
    upgrade(f"sqlite+aiosqlite:///{db}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _worker(db, port)
    try:
        assert wait_for(f"{base}/healthz", proc).json() == {"status": "ok"}
        r = _ready(base, proc, 200)
        assert r.status_code == 200 and r.json() == {"status": "ok"}, r.text
        metrics = httpx.get(f"{base}/metrics")
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
        assert "oneonone_leases_held 0.0" in metrics.text
        assert "# TYPE oneonone_syncs_total counter" in metrics.text
    finally:
        err = _stop(proc)
    lines = json_lines(err)  # uvicorn's lines too
    assert any(line["event"] == f"Uvicorn running on {base} (Press CTRL+C to quit)" for line in lines)
    assert any(line["event"] == "worker_stopped" for line in lines)


def test_an_unmigrated_database_keeps_the_worker_unready(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _worker(tmp_path / "empty.db", port)
    try:
        assert wait_for(f"{base}/healthz", proc).status_code == 200
        unmigrated = "database schema at revision none (never migrated)"
        details = set()
        deadline = time.monotonic() + 30
        while not any(d.startswith(unmigrated) for d in details) and time.monotonic() < deadline:
            r = httpx.get(f"{base}/readyz")
            assert r.status_code == 503, r.text  # never ready: its rounds fail, the loop goes on
            details.add(r.json()["detail"])
            time.sleep(0.05)
        assert all(d == "worker loop not started" or d.startswith(unmigrated) for d in details), details
        assert any(d.startswith(unmigrated) for d in details)
    finally:
        _stop(proc)


def test_port_0_serves_nothing(tmp_path):
    db = tmp_path / "quiet.db"
    upgrade(f"sqlite+aiosqlite:///{db}")
    proc = _worker(db, 0)
    seen = []
    try:
        while not any('"worker_started"' in line for line in seen):  # its loop runs: signals are handled
            line = proc.stderr.readline()
            assert line, "the worker exited"
            seen.append(line)
    finally:
        err = _stop(proc)
    lines = json_lines("".join(seen) + err)
    assert not any(line.get("logger", "").startswith("uvicorn") for line in lines)
