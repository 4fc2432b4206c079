"""`oneonone serve --sandbox`: the API, its in-process worker and a live sandbox in
one process, for a newcomer to change a calendar and watch a finding appear.

1. The fake Google and Graph servers start on loopback, on an OffsetClock frozen
   at the demo scenario's `start`.
2. The scenario is replayed into a fresh SQLite database by the replay Harness,
   exactly as `oneonone replay` does it (org-wide grants, full syncs, channels,
   every timeline entry at its instant, push notifications, the worker, the
   detector), except that the fakes stay up afterwards and the webhooks are
   served on the address the server will listen on: every channel and
   subscription already points at the server's own `/webhooks/...`. Then the
   channels are renewed at `now`, as a running service keeps them, and the
   demo's content, roles and token are added (service.demo).
3. The clock starts running from the scenario's `now` (Friday 2026-11-20 16:00
   UTC) at wall-clock speed, the fakes deliver notifications as soon as they
   have them, and the server takes over the listening socket with its worker
   and `POST /sandbox/{change}` (service.live.routes).

So the demo world's date is the scenario's, what it shows first is what
`oneonone replay` gives, and whatever changes later goes the production way:
fake → webhook → sync request → worker → detector. The fakes live in memory,
so the database is rebuilt on every start. Logs go to stderr; stdout carries
`URL=…` and `TOKEN=…`, also written (0600) to `<dir>/demo.env` for other
terminals and `oneonone sandbox …`."""

from __future__ import annotations

import socket
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog
from fastapi import FastAPI
from pydantic import SecretStr

from service import demo
from service.clock import OffsetClock
from service.db import dialect
from service.live.routes import router
from service.live.secret import development_secret, write_private
from service.replay.harness import Harness
from service.replay.validate import instant
from service.replay.validate import load as load_scenario
from service.runtime import build_app
from service.sandbox.providers import SandboxProviders
from service.settings import Settings

log = structlog.get_logger(__name__)

DEFAULT_DIR = Path(".oneonone")
ENV_FILE = "demo.env"  # URL=… and TOKEN=…, for other terminals (`. .oneonone/demo.env`)
SECRET_FILE = "secret.key"
DATABASE_FILE = "demo.db"


class SandboxRefused(Exception):
    pass


@dataclass
class LiveSandbox:
    settings: Settings  # what the server runs with
    clock: OffsetClock
    sandbox: SandboxProviders
    url: str
    token: str
    env_file: Path

    def app(self) -> FastAPI:
        """The API with its worker and the sandbox's endpoint, all on the demo clock;
        `URL=`/`TOKEN=` printed once the worker runs."""
        app = build_app(
            self.settings,
            worker=True,
            clock=self.clock,
            msal_http_client=self.sandbox.microsoft_connection().http_client(),
        )
        app.state.sandbox = self.sandbox
        app.include_router(router)
        inner = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(a: FastAPI):
            async with inner(a) as state:
                write_private(self.env_file, f"URL={self.url}\nTOKEN={self.token}\n")
                print(f"URL={self.url}\nTOKEN={self.token}", flush=True)
                log.info(
                    "sandbox_ready",
                    url=self.url,
                    demo_now=self.clock.now().isoformat(),
                    env_file=str(self.env_file),
                    then="oneonone sandbox cancel --email priya.sharma@acme.test --next"
                    + ("" if self.env_file.parent == DEFAULT_DIR else f" --dir {self.env_file.parent}"),
                )
                try:
                    yield state
                finally:
                    self.env_file.unlink(missing_ok=True)  # its token dies with this database

        app.router.lifespan_context = lifespan
        return app

    def stop(self) -> None:
        self.sandbox.stop()


def check_allowed(settings: Settings, *, allow: bool) -> None:
    """A development mode: refused where the configured database is not SQLite (a
    deployment, most likely) unless asked for explicitly."""
    if not allow and not dialect.is_sqlite(settings.database_url):
        raise SandboxRefused(
            "--sandbox is a development mode and the configured database is not SQLite; "
            "pass --sandbox-anyway to run it regardless (it uses its own SQLite file, never that database)"
        )


def bind(host: str, port: int) -> tuple[socket.socket, str]:
    """The server's listening socket, bound now so that the replay's webhooks already
    live at the address the server keeps; and the URL that reaches it from here."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(128)  # connections wait in the backlog between the replay's server and ours
    bound_host, bound_port = sock.getsockname()[:2]
    if bound_host in ("0.0.0.0", "::"):  # a wildcard: loopback reaches it
        bound_host = "127.0.0.1" if family == socket.AF_INET else "::1"
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return sock, f"http://{shown}:{bound_port}"


def secret_for(settings: Settings, directory: Path) -> str:
    """ONEONONE_SECRET_KEY when set (the development file is then neither read nor
    made), else the development secret in `directory`."""
    return settings.secret_key.get_secret_value() or development_secret(directory / SECRET_FILE)


async def build(settings: Settings, sock: socket.socket, url: str, directory: Path) -> LiveSandbox:
    """Steps 1 and 2 (see the module): the demo world, replayed and kept running."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = secret_for(settings, directory)
    database = directory / DATABASE_FILE
    for leftover in (database, *(database.with_name(database.name + s) for s in ("-wal", "-shm", "-journal"))):
        leftover.unlink(missing_ok=True)
    database_url = f"sqlite+aiosqlite:///{database.resolve()}"

    scenario = load_scenario(demo.SCENARIO)
    clock = OffsetClock(instant(scenario["start"], "start"))
    sandbox = SandboxProviders(scenario, clock=clock)
    await sandbox.__aenter__()
    try:
        async with Harness(
            scenario,
            database_url=database_url,
            keep=True,
            clock=clock,
            sandbox=sandbox,
            webhooks=(sock, url),
            secret_key=secret,
            label="sandbox",
        ) as harness:
            await harness.run()
            # A running service renews channels as they age; the replay jumped months.
            await harness.worker.maintain()
            await harness.sync()
            async with harness.sessions() as session:
                await demo.add_content(session, harness.now)
                await demo.set_roles(session, harness.now)
                token = await demo.issue_token(session, harness.now)
                await session.commit()
            grants = {"google": harness.settings.google, "microsoft": harness.settings.microsoft}
    except BaseException:
        await sandbox.__aexit__(None, None, None)
        raise
    clock.run()
    sandbox.notifier.auto = True  # from now on nobody flushes: deliver as changes happen
    server_settings = settings.model_copy(
        update={
            "database_url": database_url,
            "secret_key": SecretStr(secret),
            "public_base_url": url,
            **grants,
            # The fakes keep no quotas: no shared budget to spend a statement per call on.
            "sync": settings.sync.model_copy(
                update={"quota": settings.sync.quota.model_copy(update={"enabled": False})}
            ),
        }
    )
    return LiveSandbox(server_settings, clock, sandbox, url, token, directory / ENV_FILE)
