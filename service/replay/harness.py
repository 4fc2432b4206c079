"""A scenario run through the production pipeline, on a throw-away database.

The fake Google and Graph servers hold the scenario's calendars on loopback; the
service's own app serves the webhooks on loopback too; calendars are connected
with org-wide grants (a service account with domain-wide delegation, an Entra
app) exactly as `oneonone calendars connect-all` does; each timeline op is
applied at its time on the injected clock, its push notifications are delivered
over HTTP, and the normal worker pulls the increments. Entries made at one
instant are synced together (`instants`). The detector runs at `now` over every
pair, as SPEC has it; `incremental` also runs it over the changed people's pairs
after each instant's increments (production: after each increment), with their
parsed history kept between runs, so the stored meetings and findings go
through the states a running service gives them (the demo, tests of those
rows). Detection is a function of the synced history at `now`, so the result
is the same either way."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from service.api.app import create_app
from service.clock import FixedClock, OffsetClock
from service.db.dialect import throwaway_database
from service.db.engine import create_engine, session_factory
from service.db.migrate import upgrade_async
from service.db.models import Calendar, Pair, Person
from service.domain import schedule
from service.domain.connections import connect_org
from service.domain.detection import Detection
from service.domain.people import PersonRow, import_people
from service.domain.recompute import HistoryCache, recompute
from service.replay.validate import instant
from service.runtime import build_worker, close_worker
from service.sandbox.providers import SandboxProviders
from service.sandbox.serve import LoopbackServer
from service.security.crypto import generate_key
from service.settings import GoogleSettings, MicrosoftSettings, QuotaSettings, Settings, SyncSettings
from service.sync.port import CalendarProvider

Progress = Callable[[str], None]
ProviderFactory = Callable[[Settings, FixedClock | OffsetClock, Any], Mapping[str, CalendarProvider]]
# Notifications drive a replay; fallback polling stays on but only fires for a
# calendar that heard nothing for ten years of scenario time, so clock jumps
# between entries do not re-poll every calendar, nor does the jump to `now` re-read
# (and re-baseline) every calendar left quiet since `start` in a year-long story.
REPLAY_POLL_MINUTES = 10 * 365 * 24 * 60


class Harness:
    def __init__(
        self,
        scenario: dict[str, Any],
        *,
        database_url: str | None = None,
        keep: bool = False,
        progress: Progress | None = None,
        providers: ProviderFactory | None = None,
        incremental: bool = True,
        calendars: Collection[str] | None = None,
        label: str = "replay",
        clock: FixedClock | OffsetClock | None = None,
        sandbox: SandboxProviders | None = None,
        webhooks: tuple[socket.socket, str] | None = None,
        secret_key: str | None = None,
    ) -> None:
        """`keep`: replay into the database at `database_url` itself (migrated, never
        dropped; the demo loads this way) instead of a throw-away one beside it.
        `providers(settings, clock, msal_http_client)`: the worker's adapters, for tests
        that build them with their own knobs (an injected `sleep`, timeouts).
        `calendars`: connect only these people's calendars (a shard, see shards.py);
        the providers still hold, and the timeline still changes, everyone's.
        `label`: what its progress lines start with.
        The live sandbox (service.live) keeps the world the replay leaves: `clock`, set
        at each entry here (an OffsetClock, run afterwards); `sandbox`, the fakes on
        that clock, which the caller started and stops; `webhooks`: a bound socket to
        serve the webhooks on (a dup is served, so the address stays open for the
        server that takes over) and the public base URL that reaches it; `secret_key`,
        the key the grants are sealed with, which that server must then hold."""
        self.scenario = scenario
        self.start = instant(scenario["start"], "start")
        self.now = instant(scenario["now"], "now")
        self.clock = clock if clock is not None else FixedClock(self.start)
        self.clock.set(self.start)
        self._database_url = database_url
        self._keep = keep
        self._progress = progress or (lambda _msg: None)
        self._label = label
        self._providers = providers
        self._incremental = incremental
        self._shard = None if calendars is None else {email.lower() for email in calendars}
        self._cleanup: list[Callable[[], Any]] = []
        self._given_sandbox = sandbox
        self._webhooks = webhooks
        self._secret_key = secret_key

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
        if self._given_sandbox is not None:
            self.sandbox = self._given_sandbox
        else:
            self.sandbox = SandboxProviders(self.scenario, clock=self.clock)
            await self.sandbox.__aenter__()
            self._cleanup.append(lambda: self.sandbox.__aexit__(None, None, None))
        google, microsoft = self.sandbox.google_connection(), self.sandbox.microsoft_connection()
        settings = Settings(
            _env_file=None,
            database_url=self.url,
            secret_key=self._secret_key or generate_key(),
            auth_cache_seconds=0,
            # The fakes have no quotas here: no budget to keep (it would cost a statement per call).
            sync=SyncSettings(poll_minutes=REPLAY_POLL_MINUTES, quota=QuotaSettings(enabled=False)),
            google=GoogleSettings(
                client_id=google.client_id,
                client_secret=google.client_secret,
                api_endpoint=google.api_endpoint,
                token_uri=google.token_uri,
            ),
            microsoft=MicrosoftSettings(
                tenant_id=microsoft.tenant_id,
                client_id=microsoft.client_id,
                client_secret=microsoft.client_secret,
                authority_host=microsoft.authority_host,
                graph_endpoint=microsoft.graph_endpoint,
            ),
        )
        # The webhook server runs on its own thread and event loop, with its own
        # engine (opened by the app's lifespan there) on the same database.
        self.app = create_app(settings, clock=self.clock)
        if self._webhooks is not None:
            sock, public_base_url = self._webhooks
            server = LoopbackServer(self.app, name="oneonone-webhooks", lifespan="on", sock=sock.dup())
        else:
            server = LoopbackServer(self.app, name="oneonone-webhooks", lifespan="on")
            public_base_url = server.base_url
        self.settings = settings.model_copy(update={"public_base_url": public_base_url})
        server.start()
        self._cleanup.append(server.stop)
        # Production's own wiring (service.runtime): adapters, vault, channels, detector on change.
        custom = self._providers(self.settings, self.clock, microsoft.http_client()) if self._providers else None
        # Parsed history kept between the detector's runs (one database, written by this
        # run alone); a replay that detects only at `now` reads once, what can matter.
        self.history = HistoryCache() if self._incremental else None
        self._changed: set[int] = set()
        self._calendars_by_email: dict[str, int] | None = None
        self.worker = build_worker(
            self.settings,
            self.sessions,
            self.clock,
            msal_http_client=microsoft.http_client(),
            providers=custom,
            on_changed=self._on_changed,
        )
        self._cleanup.append(lambda: close_worker(self.worker))
        self.vault = self.worker.vault

    async def _database(self) -> str:
        if self._keep and self._database_url is not None:
            return self._database_url
        url, drop = await throwaway_database(self._database_url)
        self._cleanup.append(drop)
        return url

    async def __aexit__(self, *exc: object) -> None:
        while self._cleanup:
            result = self._cleanup.pop()()
            if hasattr(result, "__await__"):
                await result

    # -- the story ---------------------------------------------------------------------------------
    async def run(self) -> Detection:
        await self.connect()
        await self.timeline()
        return await self.finish()

    async def timeline(self) -> None:
        """Every timeline entry, instant by instant, with a progress line now and then."""
        timeline = self.scenario.get("timeline") or []
        step, done = max(1, len(timeline) // 20), 0
        for group in instants(timeline):
            await self.apply_all(group)
            if len(timeline) >= 200 and (done + len(group)) // step > done // step:
                self._progress(
                    f"{self._label}: {done + len(group)}/{len(timeline)} entries applied ({group[-1]['at']})"
                )
            done += len(group)

    async def connect(self) -> None:
        """At `start`: the org, its policies, and every calendar (a shard's: its
        people's) connected (full sync, watch channels and subscriptions)."""
        people = self.scenario["org"]["people"]
        if self._shard is not None:
            people = [p for p in people if p["email"].lower() in self._shard]
        async with self.sessions() as session:
            await import_people(
                session,
                [
                    PersonRow(
                        email=p["email"],
                        name=p.get("name") or p["email"],
                        timezone=p.get("timezone") or "UTC",
                        manager=p.get("manager"),
                    )
                    for p in self.scenario["org"]["people"]
                ],
                self.clock.now(),
            )
            await self._policies(session)
            await self._calendars(session, people)
            await session.commit()
        if len(people) >= 50:
            self._progress(f"{self._label}: connecting {len(people)} calendars")
        await self.worker.drain()
        await self.sandbox.flush()
        await self._detect()

    async def _policies(self, session) -> None:
        ids = {p.email: p.id for p in (await session.scalars(select(Person))).all()}
        for policy in self.scenario.get("policies") or []:
            pair = await session.scalar(
                select(Pair).where(
                    Pair.manager_id == ids[policy["manager"].lower()], Pair.report_id == ids[policy["report"].lower()]
                )
            )
            if pair is not None:
                pair.cadence_days = policy["cadence_days"]

    async def _calendars(self, session, people: list[dict[str, Any]]) -> None:
        """Org-wide grants, as `oneonone calendars connect-all` makes them."""
        google = self.sandbox.google_connection()
        microsoft = self.sandbox.microsoft_connection()
        secrets = {
            "google": json.dumps(dict(google.service_account_info)),
            "microsoft": json.dumps(
                {
                    "tenant_id": microsoft.tenant_id,
                    "client_id": microsoft.client_id,
                    "client_secret": microsoft.client_secret,
                }
            ),
        }
        tenants = {"google": None, "microsoft": microsoft.tenant_id}
        for provider, secret in secrets.items():
            emails = [p["email"] for p in people if p["provider"] == provider]
            await connect_org(
                session,
                self.vault,
                provider=provider,
                secret=secret,
                now=self.clock.now(),
                tenant=tenants[provider],
                emails=emails,
                scopes="calendar.readonly",
            )

    async def apply(self, entry: dict[str, Any]) -> None:
        await self.apply_all([entry])

    async def apply_all(self, entries: list[dict[str, Any]]) -> None:
        """Entries made at one instant (see `instants`): applied to the providers in
        order, then synced together, as a worker finds them when it next looks."""
        self.clock.set(instant(entries[0]["at"], "at"))
        touched = await self._calendar_ids([c for e in entries for c in e["calendars"]])
        if not touched:  # only calendars this replay did not connect (another shard's)
            for entry in entries:
                self.sandbox.apply(entry)
            return
        # A running service renews channels continuously; between entries the clock
        # jumps, so catch up on the channels of the calendars these entries touch.
        # One whose channel had lapsed is resynced with the entries' increments
        # (nothing else changes a replay's calendars in between).
        await self.worker.maintain(touched)
        for entry in entries:
            self.sandbox.apply(entry)
        await self.sandbox.flush()  # notifications → webhooks → calendars marked dirty
        await self.worker.drain()  # the worker pulls the increments
        await self._detect()

    async def sync(self) -> None:
        """Sync whatever is due now and run the detector over what changed: for tests
        that move the clock between entries (a backoff or a lease running out)."""
        await self.worker.drain()
        await self._detect()

    async def _on_changed(self, pair_ids: set[int]) -> None:
        """The worker's hook after an increment (production: the detector)."""
        if self._incremental:
            self._changed |= pair_ids

    async def _detect(self) -> None:
        """The detector over the pairs the increments of an instant concern, once for
        them all (production runs it after each increment), then over the pairs that
        time alone made due since the last instant (production's periodic pass)."""
        if self._changed:
            changed, self._changed = self._changed, set()
            async with self.sessions() as session:
                await recompute(session, self.clock.now(), pair_ids=changed, cache=self.history)
                await session.commit()
        if self._incremental:
            handled = schedule.DEFAULT_LIMIT
            while handled >= schedule.DEFAULT_LIMIT:
                async with self.sessions() as session:
                    handled = await schedule.recompute_due(session, self.clock.now())
                    await session.commit()

    async def _calendar_ids(self, emails: list[str]) -> set[int]:
        """Calendars are connected once, at `start`: their ids are read once too."""
        if self._calendars_by_email is None:
            async with self.sessions() as session:
                self._calendars_by_email = dict(
                    (await session.execute(select(Calendar.external_id, Calendar.id))).all()
                )
        return {self._calendars_by_email[e.lower()] for e in emails if e.lower() in self._calendars_by_email}

    async def settle(self) -> None:
        """At `now`: whatever is still due is synced."""
        self.clock.set(self.now)
        await self.worker.drain()

    async def finish(self) -> Detection:
        await self.settle()
        async with self.sessions() as session:
            ids = await self._people_ids(session) if self._keep else None  # a kept database holds others too
            detection = await recompute(session, self.now, ids, cache=self.history)
            await session.commit()
        return detection

    async def _people_ids(self, session) -> set[int]:
        emails = [p["email"].lower() for p in self.scenario["org"]["people"]]
        return set((await session.scalars(select(Person.id).where(Person.email.in_(emails)))).all())


def instants(timeline: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive entries at one instant, in order, that change different events:
    synced together, each event still goes through every state the timeline gives
    it (a second change to an event at the same instant starts a new group)."""
    groups: list[list[dict[str, Any]]] = []
    seen: set[tuple[str, str]] = set()
    for entry in timeline:
        event = (entry["provider"], entry.get("event_id") or (entry.get("event") or {}).get("id") or "")
        if not groups or entry["at"] != groups[-1][0]["at"] or event in seen:
            groups.append([])
            seen = set()
        groups[-1].append(entry)
        seen.add(event)
    return groups


def replay_time(value: str) -> datetime:
    return instant(value, "time")
