"""`oneonone calendars connect-all | list`, `oneonone worker [--once]` and `serve`'s
worker flag, on a fresh migrated SQLite file, against the sandbox fakes (the
worker commands in a real subprocess: signals, logging and exit status included)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.cli import build_parser, main
from service.cli import calendars as cli_calendars
from service.clock import SystemClock
from service.db.engine import create_engine, session_factory
from service.db.migrate import upgrade
from service.runtime import build_worker, close_worker
from service.sandbox.providers import SandboxProviders
from service.security.crypto import Vault, generate_key
from service.settings import get_settings
from tests.conftest import ROOT

PEOPLE = """email,name,timezone,manager,role
maya@acme.test,Maya,Europe/Berlin,,admin
li@acme.test,Li,Europe/Berlin,maya@acme.test,
omar@contoso.test,Omar,Europe/London,,
priya@contoso.test,Priya,Asia/Kolkata,omar@contoso.test,
"""
GOOGLE_PEOPLE, GRAPH_PEOPLE = ("maya@acme.test", "li@acme.test"), ("omar@contoso.test", "priya@contoso.test")


@pytest.fixture(scope="module")
def sandbox():
    with SandboxProviders() as box:  # the system clock: the workers here run on it too
        for email in GOOGLE_PEOPLE:
            box.add_person(email, "google")
        for email in GRAPH_PEOPLE:
            box.add_person(email, "microsoft")
        yield box


class Cli:
    def __init__(self, tmp_path: Path, sandbox: SandboxProviders) -> None:
        self.tmp, self.sandbox = tmp_path, sandbox
        self.db = tmp_path / "cli.db"
        self.url = f"sqlite+aiosqlite:///{self.db}"
        google, microsoft = sandbox.google_connection(), sandbox.microsoft_connection()
        self.key_file = tmp_path / "key.json"
        self.key_file.write_text(json.dumps(dict(google.service_account_info)))
        self.private_key = google.service_account_info["private_key"]
        self.entra = microsoft
        self.env = {
            "ONEONONE_DATABASE_URL": self.url,
            "ONEONONE_SECRET_KEY": generate_key(),
            "ONEONONE_PUBLIC_BASE_URL": "http://127.0.0.1:9",  # no receiver: channels are not the point here
            "ONEONONE_GOOGLE__API_ENDPOINT": google.api_endpoint,
            "ONEONONE_GOOGLE__TOKEN_URI": google.token_uri,
            "ONEONONE_GOOGLE__DIRECTORY_ENDPOINT": google.directory_endpoint,
            "ONEONONE_MICROSOFT__AUTHORITY_HOST": microsoft.authority_host,
            "ONEONONE_MICROSOFT__GRAPH_ENDPOINT": microsoft.graph_endpoint,
            "ONEONONE_WORKER__HTTP_PORT": "0",  # no probe listener: parallel runs would share its port
        }

    def rows(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(sql).fetchall()

    def file(self, name: str, text: str) -> str:
        path = self.tmp / name
        path.write_text(text)
        return str(path)

    def connect_google(self, *extra: str) -> int:
        return main(
            ["calendars", "connect-all", "--provider", "google", "--service-account-file", str(self.key_file), *extra]
        )

    def connect_microsoft(self, *extra: str) -> int:
        return main(
            [
                "calendars",
                "connect-all",
                "--provider",
                "microsoft",
                "--tenant",
                self.entra.tenant_id,
                "--client-id",
                self.entra.client_id,
                *extra,
            ]
        )

    def subprocess_env(self) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("ONEONONE_")},
            **self.env,
            "ONEONONE_LOG_LEVEL": "INFO",
        }


@pytest.fixture
def cli(tmp_path, monkeypatch, sandbox) -> Cli:
    c = Cli(tmp_path, sandbox)
    upgrade(c.url)
    for name, value in c.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("service.logging.configure", lambda *a, **k: None)  # keep this process's structlog
    get_settings.cache_clear()
    assert main(["people", "import", c.file("people.csv", PEOPLE)]) == 0
    yield c
    get_settings.cache_clear()


def _drain(cli: Cli) -> int:
    async def run() -> int:
        engine = create_engine(cli.url)
        worker = build_worker(
            get_settings(), session_factory(engine), SystemClock(), msal_http_client=cli.entra.http_client()
        )
        try:
            return await worker.drain()
        finally:
            await close_worker(worker)
            await engine.dispose()

    return asyncio.run(run())


def test_connect_all_for_both_providers_then_a_drain_syncs_everyone(cli, capsys, monkeypatch):
    assert cli.connect_google("--domain", "acme.test") == 0
    out = capsys.readouterr().out
    assert "google: org connection 1 (created)" in out and "people in acme.test: 2" in out
    assert "calendars created: 2" in out

    monkeypatch.setenv("ONEONONE_MICROSOFT__CLIENT_SECRET", cli.entra.client_secret)  # from env, not argv
    get_settings.cache_clear()
    emails = cli.file("emails.txt", "# the Contoso side\nomar@contoso.test\nPRIYA@contoso.test\nghost@contoso.test\n")
    assert cli.connect_microsoft("--emails", emails) == 0
    out = capsys.readouterr().out
    assert "microsoft: org connection 2 (created)" in out and "calendars created: 2" in out
    assert "unknown emails (import them first): 1: ghost@contoso.test" in out

    assert cli.rows("SELECT provider, kind, tenant FROM calendar_connections ORDER BY id") == [
        ("google", "org", "acme.test"),
        ("microsoft", "org", cli.entra.tenant_id),
    ]
    stored = [row[0] for row in cli.rows("SELECT secret_encrypted FROM calendar_connections ORDER BY id")]
    assert cli.private_key not in stored[0] and cli.entra.client_secret not in stored[1]
    vault = Vault(cli.env["ONEONONE_SECRET_KEY"])
    assert json.loads(vault.decrypt(stored[0]))["private_key"] == cli.private_key
    assert json.loads(vault.decrypt(stored[1]))["client_secret"] == cli.entra.client_secret

    assert _drain(cli) == 4
    calendars = cli.rows(
        "SELECT external_id, provider, status, last_synced_at IS NOT NULL, "
        "(SELECT COUNT(*) FROM sync_requests r WHERE r.calendar_id = calendars.id) FROM calendars ORDER BY external_id"
    )
    assert calendars == [
        ("li@acme.test", "google", "active", 1, 0),
        ("maya@acme.test", "google", "active", 1, 0),
        ("omar@contoso.test", "microsoft", "active", 1, 0),
        ("priya@contoso.test", "microsoft", "active", 1, 0),
    ]

    assert main(["calendars", "list"]) == 0
    listing = capsys.readouterr().out
    assert listing.count("\tgoogle\torg\tactive\t") == 2 and listing.count("\tmicrosoft\torg\tactive\t") == 2
    assert cli.entra.client_secret not in listing and "BEGIN PRIVATE KEY" not in listing
    assert main(["calendars", "list", "--email", "omar@contoso.test"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2  # header and Omar's calendar
    assert main(["calendars", "list", "--email", "nobody@acme.test"]) == 1


def test_connect_all_again_skips_the_connected_and_shows_progress(cli, capsys, monkeypatch):
    monkeypatch.setattr(cli_calendars, "LARGE", 1)
    assert cli.connect_google("--domain", "acme.test") == 0
    captured = capsys.readouterr()
    assert "connect-all: 2/2 calendars" in captured.err
    assert cli.connect_google() == 0  # the whole directory now, with the same grant
    out = capsys.readouterr().out
    assert "org connection 2 (created)" in out  # another tenant (no --domain): its own grant
    assert "people in the directory: 4" in out and "calendars created: 2" in out
    assert "already connected on google: 2" in out
    assert cli.connect_google("--domain", "acme.test") == 0
    out = capsys.readouterr().out
    assert "org connection 1 (updated)" in out and "calendars created: 0" in out
    assert cli.rows("SELECT COUNT(*) FROM calendars") == [(4,)]


def test_connect_all_refuses_without_the_secret_key(cli, capsys, monkeypatch):
    monkeypatch.setenv("ONEONONE_SECRET_KEY", "")
    get_settings.cache_clear()
    assert cli.connect_google() == 2
    err = capsys.readouterr().err
    assert "ONEONONE_SECRET_KEY" in err and "oneonone keygen" in err
    assert cli.rows("SELECT COUNT(*) FROM calendar_connections") == [(0,)]
    monkeypatch.setenv("ONEONONE_SECRET_KEY", "not-a-fernet-key")
    get_settings.cache_clear()
    assert cli.connect_google() == 2 and "not a Fernet key" in capsys.readouterr().err


def test_connect_all_input_errors_name_the_problem_and_write_nothing(cli, capsys, monkeypatch):
    not_json = cli.file("broken.json", "{")
    not_a_key = cli.file("user.json", json.dumps({"type": "authorized_user", "private_key": cli.private_key}))
    for argv, message in [
        (["--provider", "google", "--service-account-file", not_json], "is not JSON"),
        (["--provider", "google", "--service-account-file", not_a_key], "is not a service-account key"),
        (["--provider", "google", "--service-account-file", str(cli.tmp / "absent.json")], "cannot read"),
        (["--provider", "google"], "--service-account-file is required"),
        (["--provider", "microsoft", "--client-id", "c", "--client-secret", "s"], "--tenant is required"),
        (
            ["--provider", "microsoft", "--tenant", "organizations", "--client-id", "c", "--client-secret", "s"],
            "--tenant organizations is a multi-tenant authority",
        ),
        (["--provider", "microsoft", "--tenant", "t", "--client-secret", "s"], "--client-id is required"),
        (["--provider", "microsoft", "--tenant", "t", "--client-id", "c"], "--client-secret is required"),
        (
            [
                "--provider",
                "google",
                "--service-account-file",
                str(cli.key_file),
                "--emails",
                cli.file("bad.txt", "maya@acme.test\nnot an email\n"),
            ],
            "line(s) 2",
        ),
    ]:
        assert main(["calendars", "connect-all", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert message in err, (argv, err)
        assert cli.private_key not in err
    assert cli.rows("SELECT COUNT(*) FROM calendar_connections") == [(0,)]


DIRECTORY_PEOPLE = """email,name,timezone,manager,role
maya@acme.test,Maya,Europe/Berlin,,admin
li@acme.test,Li,Europe/Berlin,maya@acme.test,
nora@acme.test,Nora,Europe/Berlin,maya@acme.test,
"""


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A Workspace where Li's primary address is li.wei@ (li@, which our directory has,
    is an alias) and Nora has no account yet."""
    with SandboxProviders() as box:
        box.add_person("maya@acme.test", "google")
        box.add_person("li.wei@acme.test", "google")
        box.google.add_alias("li.wei@acme.test", "li@acme.test")
        c = Cli(tmp_path, box)
        upgrade(c.url)
        for name, value in c.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr("service.logging.configure", lambda *a, **k: None)
        get_settings.cache_clear()
        assert main(["people", "import", c.file("people.csv", DIRECTORY_PEOPLE)]) == 0
        yield c
        get_settings.cache_clear()


def test_connect_all_with_an_admin_stores_primary_addresses_and_immutable_ids(workspace, capsys):
    from service.sandbox.providers import GOOGLE_ADMIN

    google = workspace.sandbox.google
    ids = {email: google.directory.user(email).id for email in ("maya@acme.test", "li.wei@acme.test")}
    assert workspace.connect_google("--admin-email", GOOGLE_ADMIN) == 0
    out = capsys.readouterr().out
    assert "calendars created: 3" in out
    assert "not in the Workspace directory (connected under their email: they sync once they exist): 1: " in out
    assert workspace.rows("SELECT external_id, provider_user_id FROM calendars ORDER BY person_id") == [
        ("maya@acme.test", ids["maya@acme.test"]),
        ("li.wei@acme.test", ids["li.wei@acme.test"]),  # what delegation impersonates, not the alias
        ("nora@acme.test", None),
    ]
    [(secret, scopes)] = workspace.rows("SELECT secret_encrypted, scopes FROM calendar_connections")
    grant = json.loads(Vault(workspace.env["ONEONONE_SECRET_KEY"]).decrypt(secret))
    assert grant["directory_admin"] == GOOGLE_ADMIN and grant["service_account_key"]["private_key"]
    assert scopes.split() == [
        "https://www.googleapis.com/auth/calendar.readonly",
        "https://www.googleapis.com/auth/admin.directory.user.readonly",
    ]
    assert _drain(workspace) == 3
    statuses = workspace.rows("SELECT external_id, status FROM calendars ORDER BY person_id")
    assert statuses == [
        ("maya@acme.test", "active"),
        ("li.wei@acme.test", "active"),
        ("nora@acme.test", "needs_reconnect"),
    ]

    # Maya is renamed (her old address now an alias): connect-all again brings her calendar
    # up to date (the workers would find her by id meanwhile: tests/sync/providers/google).
    google.rename_user("maya@acme.test", "maya.diaz@acme.test")
    assert workspace.connect_google("--admin-email", GOOGLE_ADMIN) == 0
    out = capsys.readouterr().out
    assert "existing calendars given their account's primary address and id: 1" in out
    assert "calendars created: 0" in out
    assert workspace.rows("SELECT external_id, provider_user_id FROM calendars ORDER BY person_id")[0] == (
        "maya.diaz@acme.test",
        ids["maya@acme.test"],
    )


def test_connect_all_reports_a_directory_it_may_not_read(workspace, capsys):
    assert workspace.connect_google("--admin-email", "li.wei@acme.test") == 1  # no admin
    err = capsys.readouterr().err
    assert "could not be read as li.wei@acme.test" in err and "403" in err
    assert workspace.rows("SELECT COUNT(*) FROM calendars") == [(0,)]
    assert main(["calendars", "connect-all", "--provider", "microsoft", "--admin-email", "a@b.test"]) == 2
    assert "--admin-email is for --provider google" in capsys.readouterr().err


def test_serve_runs_the_worker_in_process_unless_told(cli, monkeypatch):
    parse = build_parser().parse_args
    assert parse(["serve"]).worker is None
    assert parse(["serve", "--worker"]).worker is True and parse(["serve", "--no-worker"]).worker is False
    served = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: served.append(app))
    assert main(["serve", "--no-migrate"]) == 0 and main(["serve", "--no-migrate", "--no-worker"]) == 0
    assert [app.state.embedded_worker for app in served] == [True, False]  # SQLite: on by default


def test_worker_refuses_without_the_secret_key(cli, capsys, monkeypatch):
    monkeypatch.setenv("ONEONONE_SECRET_KEY", "")
    get_settings.cache_clear()
    assert main(["worker", "--once"]) == 2
    assert "ONEONONE_SECRET_KEY" in capsys.readouterr().err


# -- the worker process ---------------------------------------------------------------------------------------
def _oneonone(cli: Cli, *argv: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", *argv],
        cwd=ROOT,
        env=cli.subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_worker_once_drains_and_exits(cli, sandbox):
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    stamp = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    sandbox.google.store.create(
        ["maya@acme.test", "li@acme.test"],
        {
            "id": "cliworker1",
            "status": "confirmed",
            "summary": "1:1",
            "iCalUID": "cliworker1@google.com",
            "start": {"dateTime": stamp(when), "timeZone": "UTC"},
            "end": {"dateTime": stamp(when + timedelta(minutes=30)), "timeZone": "UTC"},
            "organizer": {"email": "maya@acme.test"},
            "attendees": [
                {"email": "maya@acme.test", "organizer": True, "responseStatus": "accepted"},
                {"email": "li@acme.test", "responseStatus": "accepted"},
            ],
        },
        at=when - timedelta(days=7),
    )
    assert cli.connect_google("--domain", "acme.test") == 0
    process = _oneonone(cli, "worker", "--once")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "synced 2 calendar(s)" in err and "worker_stopped" in err and "synced" in err
    assert cli.rows("SELECT COUNT(*) FROM calendars WHERE last_synced_at IS NOT NULL") == [(2,)]
    assert cli.rows("SELECT COUNT(*) FROM sync_requests") == [(0,)]
    assert cli.rows("SELECT COUNT(*) FROM calendar_events WHERE event_id = 'cliworker1'") == [(2,)]
    assert cli.rows("SELECT COUNT(*) FROM meetings") == [(1,)]  # the detector ran on the change
    assert cli.private_key not in err and cli.env["ONEONONE_SECRET_KEY"] not in err


def test_worker_stops_gracefully_on_sigterm(cli):
    process = _oneonone(cli, "worker")
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # structlog's first line: the loop is running
        line = process.stderr.readline()
        lines.append(line)
        if "worker_started" in line or not line:
            break
    assert any("worker_started" in line for line in lines), "".join(lines)
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "worker_stopping" in err and "signal=SIGTERM" in err and "worker_stopped" in err
