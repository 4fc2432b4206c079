"""A sync worker in its own OS process, for tests/sync/test_e2e_workers.py.

    python -m tests.sync.worker_process

What `oneonone worker --once` runs (service.runtime: build_worker, run_worker:
keep channels alive, sync everything due, exit), configured the production way
(ONEONONE_* environment variables read by Settings), against the test's
PostgreSQL database and the fake providers the test process serves on loopback.
Three test-only inputs:

- ONEONONE_E2E_CLOCK_FILE: the injected clock; every `now()` reads the ISO time
  in that file, so the test moves time for running processes (lease expiry);
- ONEONONE_E2E_OWNER: the worker's lease owner name;
- ONEONONE_E2E_LOGIN_URL: where MSAL's requests to the fake Entra authority go
  (the sandbox's loopback HTTP client, as the harness wires it).

Logs are JSON lines on stderr, each carrying `owner`: the test reads which
worker synced which calendar from the `synced` events."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import structlog

from service.db.engine import create_engine, session_factory
from service.logging import configure
from service.runtime import build_worker, close_worker, run_worker
from service.sandbox.oauth import LoopbackHttpClient
from service.settings import Settings


class FileClock:
    """The injected clock of a worker process: the instant written in a file."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def now(self) -> datetime:
        return datetime.fromisoformat(self.path.read_text().strip()).astimezone(UTC)


async def main() -> int:
    settings = Settings(_env_file=None)
    owner = os.environ["ONEONONE_E2E_OWNER"]
    configure("INFO", json=True)
    structlog.contextvars.bind_contextvars(owner=owner)
    clock = FileClock(os.environ["ONEONONE_E2E_CLOCK_FILE"])
    authority = settings.microsoft.authority_host.split("://", 1)[1]
    msal_http = LoopbackHttpClient(os.environ["ONEONONE_E2E_LOGIN_URL"], hosts=[authority])
    engine = create_engine(settings.database_url, pool_size=2)
    worker = build_worker(settings, session_factory(engine), clock, msal_http_client=msal_http, owner=owner)
    try:
        synced = await run_worker(worker, once=True)
        structlog.get_logger("tests.worker_process").info("worker_done", synced=synced)
        return 0
    finally:
        await close_worker(worker)
        await engine.dispose()
        msal_http.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
