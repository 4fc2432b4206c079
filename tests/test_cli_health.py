"""`oneonone healthcheck`: which process it probes (the role, from PID 1's command line
unless told) and what it answers for a healthy, unready or absent server."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from service.cli import main
from service.cli.health import health_url, role_from_cmdline
from service.settings import Settings


@pytest.mark.parametrize(
    ("cmdline", "role"),
    [
        (["/opt/venv/bin/python", "/opt/venv/bin/oneonone", "serve", "--no-migrate"], "api"),
        (["/opt/venv/bin/python", "/opt/venv/bin/oneonone", "worker"], "worker"),
        (["/sbin/docker-init", "--", "oneonone", "worker"], "worker"),  # compose `init: true`
        (["python", "-m", "service.cli", "migrate"], "migrate"),
        (["oneonone", "--help"], None),
        (["postgres", "-D", "/var/lib/postgresql/data"], None),
        ([], None),
    ],
)
def test_role_from_the_main_process_command_line(cmdline, role):
    assert role_from_cmdline(cmdline) == role


def test_health_urls_follow_the_settings():
    s = Settings(_env_file=None, api={"host": "0.0.0.0", "port": 9100})
    assert health_url(s, "api") == "http://127.0.0.1:9100/readyz"
    assert health_url(s, "api", 9200) == "http://127.0.0.1:9200/readyz"
    assert health_url(Settings(_env_file=None, api={"host": "::"}), "api") == "http://[::1]:8000/readyz"
    assert health_url(s, "migrate") is None
    # The worker's own listener (worker.http_host/http_port); port 0: none.
    worker = Settings(_env_file=None, worker={"http_host": "0.0.0.0", "http_port": 9300})
    assert health_url(worker, "worker") == "http://127.0.0.1:9300/healthz"
    assert health_url(worker, "worker", 9400) == "http://127.0.0.1:9400/healthz"
    assert health_url(Settings(_env_file=None, worker={"http_port": 0}), "worker") is None


class _Server:
    def __init__(self, status: int):
        seen = self.paths = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.path)
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b'{"detail": "database schema at revision none"}')

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server_factory():
    servers = []

    def start(status: int) -> _Server:
        servers.append(_Server(status))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def test_healthy_unready_and_absent_api(server_factory, monkeypatch, capsys):
    ok, unready = server_factory(200), server_factory(503)
    monkeypatch.setenv("ONEONONE_API__PORT", str(ok.port))
    monkeypatch.setattr("service.cli.health.get_settings", lambda: Settings(_env_file=None))
    assert main(["healthcheck", "--role", "api"]) == 0 and ok.paths == ["/readyz"]
    assert main(["healthcheck", "--role", "api", "--port", str(unready.port)]) == 1
    assert "answered 503" in capsys.readouterr().err and unready.paths == ["/readyz"]
    unready.close()  # nothing listening any more
    assert main(["healthcheck", "--role", "api", "--port", str(unready.port), "--timeout", "1"]) == 1
    assert "unhealthy" in capsys.readouterr().err


def test_the_worker_role_probes_the_workers_port(server_factory, monkeypatch):
    worker = server_factory(200)
    settings = Settings(_env_file=None, worker={"http_port": worker.port})
    monkeypatch.setattr("service.cli.health.get_settings", lambda: settings)
    assert main(["healthcheck", "--role", "worker"]) == 0 and worker.paths == ["/healthz"]


def test_a_one_shot_migrate_has_nothing_to_probe(monkeypatch):
    monkeypatch.setattr("service.cli.health.container_role", lambda: "migrate")
    assert main(["healthcheck"]) == 0


def test_serve_listens_where_the_healthcheck_probes(tmp_path, monkeypatch):
    """ONEONONE_API__HOST/PORT set both the listener and the probe (the container sets
    them once); --host/--port still win for the listener."""
    from service.settings import get_settings

    monkeypatch.setenv("ONEONONE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("ONEONONE_API__HOST", "0.0.0.0")
    monkeypatch.setenv("ONEONONE_API__PORT", "9123")
    monkeypatch.setattr("service.logging.configure", lambda *a, **k: None)
    served = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: served.append((kwargs["host"], kwargs["port"])))
    get_settings.cache_clear()
    try:
        assert main(["serve", "--no-migrate", "--no-worker"]) == 0
        assert main(["serve", "--no-migrate", "--no-worker", "--host", "127.0.0.1", "--port", "9124"]) == 0
        assert served == [("0.0.0.0", 9123), ("127.0.0.1", 9124)]
        assert health_url(get_settings(), "api") == "http://127.0.0.1:9123/readyz"
    finally:
        get_settings.cache_clear()
