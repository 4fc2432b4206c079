"""A scenario run through the production pipeline, on a throw-away database.

The fake Google and Graph servers hold the scenario's calendars on loopback; the
service's own app serves the webhooks on loopback too; calendars are connected
with org-wide grants (a service account with domain-wide delegation, an Entra
app) exactly as `oneonone calendars connect-all` does; each timeline op is
applied at its time on the injected clock, its push notifications are delivered
over HTTP, and the normal worker pulls the increments. The detector runs after
each increment (as in production) and once more at `now`."""
from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import select
from sqlalchemy.engine import make_url

from service.api.app import create_app
from service.clock import FixedClock
from service.db.engine import create_engine, is_sqlite, session_factory
from service.db.migrate import upgrade_async
from service.db.models import Calendar, CalendarConnection, Pair, Person
from service.domain.detection import Detection
from service.domain.people import PersonRow, import_people
from service.domain.recompute import recompute
from service.replay.validate import instant
from service.sandbox.providers import SandboxProviders
from service.sandbox.serve import LoopbackServer
from service.security.crypto import Vault, generate_key
from service.settings import GoogleSettings, MicrosoftSettings, Settings, SyncSettings
from service.sync.channels import ChannelManager
from service.sync.google import GoogleCalendarProvider
from service.sync.microsoft import GraphCalendarProvider
from service.sync.worker import SyncWorker

Progress = Callable[[str], None]
# Notifications drive a replay; fallback polling stays on but only fires for a
# calendar that heard nothing for a year of scenario time, so clock jumps between
# entries do not re-poll every calendar.
REPLAY_POLL_MINUTES = 365 * 24 * 60


class Harness:
    def __init__(self, scenario: dict[str, Any], *, database_url: str | None = None,
                 progress: Progress | None = None) -> None:
        self.scenario = scenario
        self.start = instant(scenario["start"], "start")
        self.now = instant(scenario["now"], "now")
        self.clock = FixedClock(self.start)
        self._database_url = database_url
        self._progress = progress or (lambda _msg: None)
        self._cleanup: list[Callable[[], Any]] = []

    # -- set-up and tear-down -----------------------------------------------------------------
    async def __aenter__(self) -> Harness:
        try:
            await self._open()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _open(self) -> None:
        self.url = await self._database()
        await upgrade_async(self.url)
        self.engine = create_engine(self.url, pool_size=5)
        self._cleanup.append(self.engine.dispose)
        self.sessions = session_factory(self.engine)
        self.sandbox = SandboxProviders(self.scenario, clock=self.clock)
        await self.sandbox.__aenter__()
        self._cleanup.append(lambda: self.sandbox.__aexit__(None, None, None))
        google, microsoft = self.sandbox.google_connection(), self.sandbox.microsoft_connection()
        settings = Settings(
            _env_file=None, database_url=self.url, secret_key=generate_key(), auth_cache_seconds=0,
            sync=SyncSettings(poll_minutes=REPLAY_POLL_MINUTES),
            google=GoogleSettings(client_id=google.client_id, client_secret=google.client_secret,
                                  api_endpoint=google.api_endpoint, token_uri=google.token_uri),
            microsoft=MicrosoftSettings(tenant_id=microsoft.tenant_id, client_id=microsoft.client_id,
                                        client_secret=microsoft.client_secret,
                                        authority_host=microsoft.authority_host,
                                        graph_endpoint=microsoft.graph_endpoint))
        # The webhook server runs on its own thread and event loop, with its own
        # engine (opened by the app's lifespan there) on the same database.
        self.app = create_app(settings, clock=self.clock)
        server = LoopbackServer(self.app, name="oneonone-webhooks", lifespan="on")
        self.settings = settings.model_copy(update={"public_base_url": server.base_url})
        server.start()
        self._cleanup.append(server.stop)
        self.vault = Vault(self.settings.secret_key.get_secret_value())
        providers = {
            "google": GoogleCalendarProvider(self.settings, clock=self.clock),
            "microsoft": GraphCalendarProvider(self.settings, clock=self.clock,
                                               msal_http_client=microsoft.http_client()),
        }
        self._cleanup.append(providers["microsoft"].aclose)
        self.worker = SyncWorker(sessions=self.sessions, providers=providers, vault=self.vault, clock=self.clock,
                                 settings=self.settings.sync, on_changed=self._detect,
                                 channels=ChannelManager(self.sessions, self.clock, self.settings))

    async def _database(self) -> str:
        if self._database_url is None or is_sqlite(self._database_url):
            folder = tempfile.mkdtemp(prefix="oneonone-replay-")
            self._cleanup.append(lambda: shutil.rmtree(folder, ignore_errors=True))
            return f"sqlite+aiosqlite:///{Path(folder) / 'replay.db'}"
        # PostgreSQL: a fresh database beside the one named, dropped afterwards.
        url = make_url(self._database_url)
        name = f"oneonone_replay_{uuid.uuid4().hex[:12]}"
        admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        await _pg(admin_dsn, f'CREATE DATABASE "{name}"')
        self._cleanup.append(lambda: _pg(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return url.set(database=name).render_as_string(hide_password=False)

    async def __aexit__(self, *exc: object) -> None:
        while self._cleanup:
            result = self._cleanup.pop()()
            if hasattr(result, "__await__"):
                await result

    # -- the story ---------------------------------------------------------------------------------
    async def run(self) -> Detection:
        await self.connect()
        timeline = self.scenario.get("timeline") or []
        step = max(1, len(timeline) // 20)
        for i, entry in enumerate(timeline, 1):
            await self.apply(entry)
            if len(timeline) >= 200 and i % step == 0:
                self._progress(f"replay: {i}/{len(timeline)} entries applied ({entry['at']})")
        return await self.finish()

    async def connect(self) -> None:
        """At `start`: the org, its policies, and every calendar connected (full sync,
        watch channels and subscriptions)."""
        people = self.scenario["org"]["people"]
        async with self.sessions() as session:
            await import_people(session, [
                PersonRow(email=p["email"], name=p.get("name") or p["email"], timezone=p.get("timezone") or "UTC",
                          manager=p.get("manager")) for p in people], self.clock.now())
            await self._policies(session)
            await self._calendars(session, people)
            await session.commit()
        if len(people) >= 50:
            self._progress(f"replay: connecting {len(people)} calendars")
        await self.worker.drain()
        await self.sandbox.flush()

    async def _policies(self, session) -> None:
        ids = {p.email: p.id for p in (await session.scalars(select(Person))).all()}
        for policy in self.scenario.get("policies") or []:
            pair = await session.scalar(select(Pair).where(Pair.manager_id == ids[policy["manager"].lower()],
                                                           Pair.report_id == ids[policy["report"].lower()]))
            if pair is not None:
                pair.cadence_days = policy["cadence_days"]

    async def _calendars(self, session, people: list[dict[str, Any]]) -> None:
        google = self.sandbox.google_connection()
        microsoft = self.sandbox.microsoft_connection()
        now = self.clock.now()
        secrets = {"google": json.dumps(dict(google.service_account_info)),
                   "microsoft": json.dumps({"tenant_id": microsoft.tenant_id, "client_id": microsoft.client_id,
                                            "client_secret": microsoft.client_secret})}
        connections = {}
        for provider, secret in secrets.items():
            connection = CalendarConnection(provider=provider, kind="org", secret_encrypted=self.vault.encrypt(secret),
                                            scopes="calendar.readonly", status="active", created_at=now,
                                            updated_at=now)
            session.add(connection)
            connections[provider] = connection
        await session.flush()
        ids = {p.email: p.id for p in (await session.scalars(select(Person))).all()}
        for person in people:
            email = person["email"].lower()
            session.add(Calendar(person_id=ids[email], connection_id=connections[person["provider"]].id,
                                 provider=person["provider"], external_id=email, time_zone=person.get("timezone"),
                                 status="active", dirty=True, dirty_generation=0, failures=0,
                                 created_at=now, updated_at=now))

    async def apply(self, entry: dict[str, Any]) -> None:
        self.clock.set(instant(entry["at"], "at"))
        # A running service renews channels continuously; between entries the clock
        # jumps, so catch up on the channels of the calendars this entry touches.
        await self.worker.maintain(await self._calendar_ids(entry["calendars"]))
        await self.worker.drain()
        self.sandbox.apply(entry)
        await self.sandbox.flush()      # notifications → webhooks → calendars marked dirty
        await self.worker.drain()       # the worker pulls the increments

    async def _calendar_ids(self, emails: list[str]) -> set[int]:
        async with self.sessions() as session:
            return set((await session.scalars(select(Calendar.id).where(
                Calendar.external_id.in_([e.lower() for e in emails])))).all())

    async def finish(self) -> Detection:
        self.clock.set(self.now)
        await self.worker.drain()
        async with self.sessions() as session:
            detection = await recompute(session, self.now)
            await session.commit()
        return detection

    async def _detect(self, person_ids: set[int]) -> None:
        async with self.sessions() as session:
            await recompute(session, self.clock.now(), person_ids)
            await session.commit()


async def _pg(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def replay_time(value: str) -> datetime:
    return instant(value, "time")
