"""`oneonone serve --sandbox` for real: a subprocess on a free port with its own
directory, changed with `oneonone sandbox cancel`, the finding read back from
`/v1/findings`. Polling is set to 10 hours of demo time, so only the fakes' push
notification can explain a finding that arrives within a second or two."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from service.live import world

ROOT = Path(__file__).resolve().parents[2]
PRIYA, OMAR = "priya.sharma@acme.test", "omar.haddad@acme.test"
START_SECONDS = 60  # a replay of the demo and a server start: ~5 s here, generous for a loaded CI
PUSH_SECONDS = 2.0  # measured 5-15 ms; polling (10 h) cannot explain anything under this


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEONONE_")}
    return env | {"ONEONONE_SYNC__POLL_MINUTES": "600", "ONEONONE_LOG_LEVEL": "INFO"} | extra


def _oneonone(cwd: Path, *argv: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", *argv],
        cwd=cwd,
        env=env or _env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


class Server:
    """One `serve --sandbox` process: started, read until ready, stopped with SIGTERM."""

    def __init__(self, cwd: Path, port: int) -> None:
        self.cwd, self.port = cwd, port
        self.proc = _oneonone(cwd, "serve", "--sandbox", "--host", "127.0.0.1", "--port", str(port))
        self.lines: list[str] = []
        deadline = time.monotonic() + START_SECONDS
        while len(self.lines) < 2:  # URL=, TOKEN=: printed once the worker runs
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"serve --sandbox ended early:\n{self.proc.stderr.read()[-3000:]}")
            self.lines.append(line.rstrip("\n"))
            assert time.monotonic() < deadline, "serve --sandbox did not start in time"
        self.url = self.lines[0].removeprefix("URL=")
        self.token = self.lines[1].removeprefix("TOKEN=")
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10)
        while self.http.get("/readyz").status_code != 200:
            time.sleep(0.05)

    def findings(self, kind: str) -> list[dict]:
        answer = self.http.get("/v1/findings", params={"type": kind, "limit": 100})
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]

    def stop(self) -> tuple[str, str]:
        self.http.close()
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=30)
        # uvicorn shuts down gracefully, then re-raises the signal it caught (as for `serve`).
        assert self.proc.returncode in (0, -signal.SIGTERM), err[-3000:]
        assert "Application shutdown complete" in err
        return out, err


@pytest.mark.slow
def test_a_cancel_in_the_live_sandbox_becomes_a_finding_within_a_second_and_a_restart_rebuilds(tmp_path):
    port = _free_port()
    server = Server(tmp_path, port)
    try:
        assert server.lines == [f"URL=http://127.0.0.1:{port}", f"TOKEN={server.token}"]
        env_file = tmp_path / ".oneonone" / "demo.env"
        assert env_file.read_text() == f"URL={server.url}\nTOKEN={server.token}\n"
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        before = server.findings("cancelled_without_reschedule")
        assert [f["key"].split("|")[2] for f in before] == [OMAR]  # the demo's own, as `oneonone replay` has it

        change = _oneonone(tmp_path, "sandbox", "cancel", "--email", PRIYA, "--next")
        out, err = change.communicate(timeout=30)
        returned = time.monotonic()
        assert change.returncode == 0, err
        assert out.startswith("cancel: Maya / Priya 1:1 at 2026-12-03T10:00:00Z (google maya.diaz@acme.test, ")

        while not (found := [f for f in server.findings("cancelled_without_reschedule") if PRIYA in f["key"]]):
            assert time.monotonic() - returned < PUSH_SECONDS, "no finding: the push did not arrive"
            time.sleep(0.02)
        latency = time.monotonic() - returned
        (finding,) = found
        assert finding["details"]["occurrence_start"] == "2026-12-03T10:00:00+00:00"
        # The explanation: the cancelled slot, stamped with the demo clock (running from the scenario's now).
        assert "'Maya / Priya 1:1' slot 2026-12-03T10:00:00Z" in finding["details"]["evidence"][0]
        assert finding["details"]["evidence"][0].startswith("2026-11-20T16:0")
        assert latency < PUSH_SECONDS
    finally:
        out, err = server.stop()
    assert out == ""  # nothing but URL= and TOKEN= ever reached stdout; the logs went to stderr
    assert "sandbox_ready" in err
    assert not env_file.exists()  # its token died with the server

    # Restarting rebuilds the demo from scratch, with the same development secret.
    secret = (tmp_path / ".oneonone" / "secret.key").read_text()
    again = Server(tmp_path, port)
    try:
        assert again.token != server.token
        assert [f["key"].split("|")[2] for f in again.findings("cancelled_without_reschedule")] == [OMAR]
    finally:
        again.stop()
    assert (tmp_path / ".oneonone" / "secret.key").read_text() == secret


def test_serve_sandbox_refuses_a_database_other_than_sqlite_unless_told(tmp_path):
    env = _env(ONEONONE_DATABASE_URL="postgresql+asyncpg://root@127.0.0.1:5432/prod")
    proc = _oneonone(tmp_path, "serve", "--sandbox", "--port", str(_free_port()), env=env)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and out == ""
    assert "--sandbox-anyway" in err
    assert not (tmp_path / ".oneonone").exists()


def test_oneonone_sandbox_says_when_no_sandbox_runs(tmp_path):
    proc = _oneonone(tmp_path, "sandbox", "cancel", "--email", PRIYA, "--next")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and out == ""
    assert "is `oneonone serve --sandbox` running" in err


def test_the_development_secret_is_made_once_private_and_never_with_a_configured_key(tmp_path):
    from service.settings import Settings

    unset = Settings(_env_file=None, secret_key="")
    key = world.secret_for(unset, tmp_path)
    path = tmp_path / world.SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert world.secret_for(unset, tmp_path) == key  # reused

    other = tmp_path / "elsewhere"
    other.mkdir()
    assert world.secret_for(Settings(_env_file=None, secret_key="configured"), other) == "configured"
    assert not (other / world.SECRET_FILE).exists()
