"""`oneonone serve --workers N`: N API processes on one port, each answering requests
with its own engine; refused where it cannot work."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from service.cli import main
from tests.conftest import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """The uvicorn server processes under `pid` (not multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _server_side(port: int, client_port: int) -> str | None:
    """The inode of the accepted socket serving our connection from `client_port`."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16) == client_port:
            return inode
    return None


def _get(port: int, path: str) -> tuple[socket.socket, bytes]:
    """One request on a new connection, left open: the connection and the status line."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    return conn, conn.recv(4096).split(b"\r\n", 1)[0]


def test_two_processes_serve_requests(db_url):
    """Requests on new connections until both server processes have answered one (each
    connection is traced to the process holding its accepted socket), in under 60 s (a
    loaded 2-core CI machine took over 20 s to start two)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("several API processes need PostgreSQL (see the SQLite test below)")
    port = _free_port()
    env = {**os.environ, "ONEONONE_DATABASE_URL": db_url, "ONEONONE_LOG_LEVEL": "WARNING"}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--workers", "2", "--port", str(port), "--no-migrate"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    connections: list[socket.socket] = []
    served_by: set[int] = set()
    try:
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() - started < 60, f"not both processes answered within 60 s: {served_by}"
            children = _children(proc.pid)
            try:
                conn, status = _get(port, "/readyz")  # a round trip on the process's own pool
            except OSError:  # not listening yet
                time.sleep(0.2)
                continue
            connections.append(conn)
            assert status == b"HTTP/1.1 200 OK"
            inode = _server_side(port, conn.getsockname()[1])
            owners = {pid for pid in children if inode in _socket_inodes(pid)}
            assert len(owners) == 1, (children, inode)
            served_by |= owners
            if len(children) == 2 and served_by == set(children):
                break
    finally:
        for conn in connections:
            conn.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    assert proc.returncode == 0


def test_several_processes_are_refused_on_sqlite(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ONEONONE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    from service.settings import get_settings

    get_settings.cache_clear()
    try:
        assert main(["serve", "--workers", "2"]) == 2
    finally:
        get_settings.cache_clear()
    assert "need PostgreSQL" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()  # refused before migrating


def test_no_sync_worker_in_several_processes(monkeypatch, capsys):
    monkeypatch.setenv("ONEONONE_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    from service.settings import get_settings

    get_settings.cache_clear()
    try:
        assert main(["serve", "--workers", "2", "--worker"]) == 2
    finally:
        get_settings.cache_clear()
    assert "oneonone worker" in capsys.readouterr().err


def test_the_factory_builds_an_api_without_a_worker(monkeypatch, tmp_path):
    from service.runtime import app_factory
    from service.settings import get_settings

    monkeypatch.setenv("ONEONONE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    get_settings.cache_clear()
    try:
        app = app_factory()
    finally:
        get_settings.cache_clear()
    assert app.state.embedded_worker is False
