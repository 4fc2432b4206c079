"""Provider change to delivered webhook, under load: the production processes vs a floor, same run.

    make bench-events     (or: .venv/bin/python bench/events.py --calendars 10000 --rate 100 --seconds 60)
    .venv/bin/python bench/events.py --smoke    (20 calendars, 10 changes: tests/bench)

The org: `--calendars` people in teams of ten (a manager and nine reports, each
pair with a weekly 30-minute 1:1 series whose next occurrence is 2 to 19 hours
ahead), the even teams on the fake Google Calendar, the odd ones on the fake
Graph (service/sandbox, real clock, served on loopback by this process). The
service runs as production does, against a fresh PostgreSQL database: one
`oneonone serve --no-worker` (the webhooks and the admin API) and two worker
processes (`oneonone worker`'s code, `--worker` below: the same build_worker and
run_worker, handed the sandbox's loopback HTTP client for MSAL, since the fake
Entra authority's https host resolves nowhere), configured by ONEONONE_* only.
Every calendar is connected with an org grant per provider (`connect_org`, what
`oneonone calendars connect-all` does); the workers take the initial syncs and
open the watch channels and Graph subscriptions, which point at the serve
process. Steady state: every calendar has an open channel, no sync is requested,
no pair is due, no outbox event waits, every 1:1 within a day has had its
`meeting.upcoming` (the periodic pass announces a whole org's at once only when it
is first connected); then the database is vacuumed and analyzed, and is again every
minute while measured (bench/pg.py: autovacuum is off on this machine's server). Then an admin registers, through the
API, an endpoint for `finding.opened` and `meeting.cancelled` pointing at a
receiver on loopback (a process of its own, recording the arrival time of every
POST with its webhook-id; ONEONONE_OUTBOUND__ALLOW_NETWORKS=127.0.0.0/8 and
ALLOW_HTTP_LOOPBACK let the service reach it).

The measured phase: `--rate` changes a second for `--seconds` to distinct pairs'
next occurrence, a third each cancelled, moved by an hour (less than 24 h
ahead: a late reschedule) and declined by the report, made through the fakes'
own mutation API (service.sandbox.changes, what `oneonone sandbox cancel|move|
decline` uses), so the fakes notify the serve process's webhooks themselves.
Each change should yield, at the receiver: a cancellation, `meeting.cancelled`
and `finding.opened` (cancelled_without_reschedule); a move, `finding.opened`
(late_reschedule); a decline, `finding.opened` (declined). Latency is timed per
expected event, from the change at the fake (CLOCK_MONOTONIC, shared by the
processes) to its first arrival at the receiver. After the last change the run
waits up to `--drain` seconds for the missing ones: those still missing are
lost (900 by default: on two cores the issue's load leaves minutes of backlog,
which would otherwise count as lost; the wait ends as soon as all arrived).
Duplicates: a webhook-id that arrived more than once (allowed: at least once),
and distinct ids for the same expected event (not allowed). Provider
calls are counted at the fakes (every HTTP request, by kind) from the first
change to the end of the drain, and divided by the changes and by the calendars
they touched (two per change: both copies change, both are notified, both are
synced).

The floor, measured in the same run on a calendar outside the service, twice a
second during the load and 30 times after the drain with the machine quiet:
a change at the fake, then its Google notification POSTed to a bare endpoint
(Starlette, one asyncpg UPDATE), one incremental events.list with a sync token
(google-api-python-client), one asyncpg INSERT committed, and one POST of the
result to the same receiver, timed the same way (the change to the arrival).

Prints p50/p95/p99 of both, the ratios, lost/duplicate counts and provider calls
per change, and where the service's time goes: change → handed to delivery (the
outbox event fanned out: synced, detected, committed; from the database's clock),
the fakes' notification lag (queued → answered by the webhook) and latency by
provider and kind of change; writes bench/results/events.json (not with --smoke)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import pg  # noqa: E402
from bench.floor import bare_webhook_app  # noqa: E402
from bench.processes import CpuMeter, Processes, postgres_pids, ready  # noqa: E402
from bench.scenario_kit import Story, Weekly  # noqa: E402
from service.clock import SystemClock  # noqa: E402
from service.db.engine import create_engine, session_factory  # noqa: E402
from service.db.migrate import upgrade_async  # noqa: E402
from service.domain import api_tokens  # noqa: E402
from service.domain.connections import connect_org  # noqa: E402
from service.domain.people import PersonRow, import_people  # noqa: E402
from service.sandbox import changes  # noqa: E402
from service.sandbox.providers import SandboxProviders  # noqa: E402
from service.sandbox.serve import LoopbackServer  # noqa: E402
from service.security.crypto import Vault, generate_key  # noqa: E402

DOMAIN = "events.test"
TEAM = 10  # a manager and nine reports
ADMIN = f"bench-admin@{DOMAIN}"
OUTSIDER = f"floor@{DOMAIN}"  # the floor's calendar: on the fake Google, not in the service
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
KINDS = ("cancel", "move", "decline")
EXPECTED = {  # change → the events it must yield: (type, finding_type)
    "cancel": (("meeting.cancelled", None), ("finding.opened", "cancelled_without_reschedule")),
    "move": (("finding.opened", "late_reschedule"),),
    "decline": (("finding.opened", "declined"),),
}
SUBSCRIBED = ["finding.opened", "meeting.cancelled"]
TRACE = bool(os.environ.get("BENCH_EVENTS_TRACE"))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Daily:
    """FREQ=DAILY (the floor's series, Google only): a fresh occurrence per sample."""

    def rrule(self) -> str:
        return "FREQ=DAILY"


# -- the org ----------------------------------------------------------------------------------------------
class Org:
    def __init__(self, calendars: int, now: datetime) -> None:
        teams = max(1, calendars // TEAM)
        self.story = Story("bench-events", start=_stamp(now), now=_stamp(now), seed=24)
        self.pairs: list[tuple[str, str, str]] = []  # (manager, report, provider)
        hour = now.replace(minute=0, second=0, microsecond=0)
        for t in range(teams):
            provider = "google" if t % 2 == 0 else "microsoft"
            manager = self.story.person(f"m{t:05d}@{DOMAIN}", f"Manager {t}", tz="UTC", provider=provider)
            for j in range(TEAM - 1):
                report = self.story.person(
                    f"r{t:05d}x{j}@{DOMAIN}", f"Report {t} {j}", manager=manager, tz="UTC", provider=provider
                )
                # Two hours apart per manager (a move by an hour overlaps nothing), spread over the minutes.
                first = hour + timedelta(hours=2 + 2 * j, minutes=(t * 7) % 60)
                self.story.series(
                    manager,
                    [report],
                    at=now,
                    first=first.replace(tzinfo=None).isoformat(timespec="minutes"),
                    rule=Weekly(WEEKDAYS[first.weekday()]),
                    minutes=30,
                )
                self.pairs.append((manager, report, provider))
        self.people = list(self.story.people)  # the service's org
        self.story.person(OUTSIDER, "Floor", tz="UTC", provider="google")
        self.story.person(ADMIN, "Bench Admin", tz="UTC", provider="google")
        floor_first = hour + timedelta(days=1, hours=1)
        self.story.series(
            OUTSIDER,
            [f"guest@elsewhere.{DOMAIN}"],
            at=now,
            first=floor_first.replace(tzinfo=None).isoformat(timespec="minutes"),
            rule=Daily(),
            minutes=30,
        )
        self.floor_first = floor_first

    @property
    def calendars(self) -> int:
        return len(self.people)

    def scenario(self) -> dict[str, Any]:
        doc = self.story.document()
        doc["timeline"] = []  # applied by hand (`creates`), before the service connects
        return doc

    def creates(self) -> list[dict[str, Any]]:
        return list(self.story.timeline)


# -- counting provider calls ------------------------------------------------------------------------------
class Calls:
    """Every request the fakes serve, by (fake, kind)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def wrap(self, fake: Any, name: str) -> None:
        inner = fake.app.app  # inside the fake's FaultMiddleware

        async def counted(scope, receive, send) -> None:
            if scope["type"] == "http" and "floor" not in scope["path"]:  # the floor's own calls are not the service's
                kind = _kind(scope["method"], scope["path"])
                with self._lock:
                    self.counts[(name, kind)] += 1
                if TRACE:  # BENCH_EVENTS_TRACE=1: every provider call on stderr
                    log(f"{time.monotonic():.3f} {name} {scope['method']} {scope['path']}?{scope['query_string'][:60]}")
            await inner(scope, receive, send)

        fake.app.app = counted

    def snapshot(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter(self.counts)


class NotificationLag:
    """How long each push notification the fakes send waits from being queued to being
    answered by the service's webhook (the fakes' delivery plus the webhook's work)."""

    def __init__(self, notifier: Any) -> None:
        self.seconds: list[float] = []
        self.recording = False
        queued: dict[int, float] = {}
        enqueue, send = notifier.enqueue, notifier._send

        def timed_enqueue(delivery: Any) -> None:
            queued[id(delivery)] = time.monotonic()
            enqueue(delivery)

        def timed_send(delivery: Any) -> Any:
            result = send(delivery)
            start = queued.pop(id(delivery), None)
            if self.recording and start is not None:
                self.seconds.append(time.monotonic() - start)
            return result

        notifier.enqueue, notifier._send = timed_enqueue, timed_send


def _kind(method: str, path: str) -> str:
    if path.endswith("/events/watch") or path.endswith("/channels/stop"):
        return "channel"
    if "/subscriptions" in path:
        return "subscription"
    if "token" in path or "/oauth2" in path or "openid" in path or "discovery" in path:
        return "token"
    if method == "GET" and (path.endswith("/events") or "/delta" in path or "calendarView" in path):
        return "list"
    if method == "GET" and "/events/" in path:  # one event: a Graph series master, a removal confirmed
        return "get"
    return "other"


# -- the receiver (a process of its own) -----------------------------------------------------------------
def serve_receiver() -> int:
    """`--receiver`: record each POST (arrival time, webhook-id, the event's keys); GET /dump
    returns them. Prints the port on stdout once listening."""
    hits: list[list[Any]] = []

    async def hook(request: Request) -> Response:
        body = await request.body()
        arrived = time.monotonic()
        floor = request.headers.get("x-floor")
        if floor is not None:
            hits.append([arrived, None, "floor", int(floor), None])
        else:
            event = json.loads(body)
            data = event.get("data", {})
            hits.append([arrived, request.headers.get("webhook-id"), event["type"], data.get("pair_id"),
                         data.get("finding_type")])  # fmt: skip
        return Response(b"ok")

    async def dump(_request: Request) -> Response:
        return JSONResponse(hits)

    app = Starlette(routes=[Route("/hooks", hook, methods=["POST"]), Route("/dump", dump, methods=["GET"])])
    server = LoopbackServer(app, name="bench-receiver").start()
    print(server.port, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with suppress(KeyboardInterrupt):
        stop.wait()
    server.stop()
    return 0


# -- a worker process ---------------------------------------------------------------------------------------
def run_worker_process() -> int:
    """`--worker`: what `oneonone worker` runs (service.cli.server), with MSAL's requests to
    the fake Entra authority sent to the sandbox on loopback (ONEONONE_BENCH_LOGIN_URL)."""
    from service import eventloop
    from service.logging import configure
    from service.runtime import build_worker, close_worker, run_worker
    from service.sandbox.oauth import LoopbackHttpClient
    from service.settings import get_settings

    settings = get_settings()
    configure(settings.log_level, settings.log_json)

    async def run() -> int:
        authority = settings.microsoft.authority_host.split("://", 1)[1]
        msal_http = LoopbackHttpClient(os.environ["ONEONONE_BENCH_LOGIN_URL"], hosts=[authority])
        engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
        worker = build_worker(settings, session_factory(engine), SystemClock(), msal_http_client=msal_http)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stopping.set)
        try:
            await run_worker(worker)
            return 0
        finally:
            await close_worker(worker)
            await engine.dispose()
            msal_http.close()

    return eventloop.run(run())


# -- the service's processes ------------------------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(url: str, secret_key: str, sandbox: SandboxProviders, base_url: str) -> dict[str, str]:
    google, microsoft = sandbox.google_connection(), sandbox.microsoft_connection()
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("ONEONONE_")},
        "PYTHONPATH": str(ROOT),
        "ONEONONE_DATABASE_URL": url,
        "ONEONONE_SECRET_KEY": secret_key,
        "ONEONONE_PUBLIC_BASE_URL": base_url,
        "ONEONONE_LOG_LEVEL": "WARNING",
        # Three processes of a shared server (max_connections 100): 12 connections each at most.
        "ONEONONE_DB_POOL_SIZE": "12",
        # Google's documented default project quota (the service's own default is 6,000 a minute,
        # which the load alone would spend: 50 Google changes a second touch 100 calendars).
        "ONEONONE_SYNC__QUOTA__GOOGLE_PER_MINUTE": "10000",
        "ONEONONE_GOOGLE__CLIENT_ID": google.client_id,
        "ONEONONE_GOOGLE__CLIENT_SECRET": google.client_secret,
        "ONEONONE_GOOGLE__API_ENDPOINT": google.api_endpoint,
        "ONEONONE_GOOGLE__TOKEN_URI": google.token_uri,
        "ONEONONE_MICROSOFT__TENANT_ID": microsoft.tenant_id,
        "ONEONONE_MICROSOFT__CLIENT_ID": microsoft.client_id,
        "ONEONONE_MICROSOFT__CLIENT_SECRET": microsoft.client_secret,
        "ONEONONE_MICROSOFT__AUTHORITY_HOST": microsoft.authority_host,
        "ONEONONE_MICROSOFT__GRAPH_ENDPOINT": microsoft.graph_endpoint,
        "ONEONONE_BENCH_LOGIN_URL": microsoft.login_base_url,
        "ONEONONE_OUTBOUND__ALLOW_NETWORKS": "127.0.0.0/8",
        "ONEONONE_OUTBOUND__ALLOW_HTTP_LOOPBACK": "true",
    }


# -- the floor --------------------------------------------------------------------------------------------
class Floor:
    """One change → bare webhook (UPDATE) → incremental list → INSERT committed → POST to
    the receiver, on the outsider's calendar (no channel: the fake notifies nobody)."""

    NOTIFICATION = {
        "X-Goog-Channel-ID": "floor-channel",
        "X-Goog-Channel-Token": "t",
        "X-Goog-Resource-State": "exists",
        "X-Goog-Resource-ID": "r",
        "X-Goog-Message-Number": "1",
    }

    def __init__(self, org: Org, sandbox: SandboxProviders, dsn: str, receiver: str) -> None:
        self.org, self.sandbox, self.dsn, self.receiver = org, sandbox, dsn, receiver
        self.started: dict[int, float] = {}  # sample → monotonic start
        self.n = 0
        self.token = ""

    async def __aenter__(self) -> Floor:
        self.pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=1)
        await self.pool.execute("CREATE TABLE bench_floor_calendars (channel_id text PRIMARY KEY, dirty boolean)")
        await self.pool.execute("CREATE TABLE bench_floor_events (id bigserial PRIMARY KEY, event_id text, body jsonb)")
        await self.pool.execute("INSERT INTO bench_floor_calendars VALUES ('floor-channel', false)")
        self.server = LoopbackServer(bare_webhook_app(self.dsn), name="bench-floor-webhook", lifespan="on")
        await asyncio.to_thread(self.server.start)
        google = self.sandbox.google_connection()
        self.service = google.build(google.delegated_credentials(OUTSIDER))
        first = await asyncio.to_thread(self.service.events().list(calendarId=OUTSIDER).execute)
        self.token = first["nextSyncToken"]
        self.client = httpx.AsyncClient()
        self.lock = asyncio.Lock()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        await asyncio.to_thread(self.server.stop)
        await self.pool.close()

    async def sample(self) -> None:
        async with self.lock:  # one sync token: samples one at a time
            i = self.n
            self.n += 1
            slot = self.org.floor_first + timedelta(days=i)
            op = {
                "at": _stamp(self.sandbox.clock.now()),
                "op": "cancel_occurrence",
                "provider": "google",
                "calendars": [OUTSIDER],
                "event_id": self.org.story.timeline[-1]["event"]["id"],
                "original_start": _stamp(slot),
            }
            self.started[i] = time.monotonic()
            self.sandbox.apply(op)
            await self.client.post(f"{self.server.base_url}/webhooks/google", headers=self.NOTIFICATION)
            page = await asyncio.to_thread(
                self.service.events().list(calendarId=OUTSIDER, syncToken=self.token).execute
            )
            self.token = page["nextSyncToken"]
            if not page.get("items"):
                raise SystemExit("floor: the incremental list returned nothing")
            async with self.pool.acquire() as conn, conn.transaction():
                for item in page["items"]:
                    await conn.execute(
                        "INSERT INTO bench_floor_events (event_id, body) VALUES ($1, $2)", item["id"], json.dumps(item)
                    )
            await self.client.post(self.receiver, headers={"x-floor": str(i)}, content=json.dumps(page["items"]))

    async def during(self, stop: asyncio.Event, every: float) -> list[int]:
        """Samples every `every` seconds until `stop`: their numbers."""
        taken = []
        while not stop.is_set():
            taken.append(self.n)
            await self.sample()
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
        return taken


# -- the measured phase ----------------------------------------------------------------------------------
@dataclass
class Planned:
    kind: str
    pair: tuple[str, str, str]
    ops: list[dict[str, Any]]
    at: float = 0.0  # monotonic, when applied
    wall: float = 0.0  # time.time(), when applied (the database's timestamps are wall clock)
    late: float = 0.0  # how far behind its schedule it was applied


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    by_path: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # "provider kind"
    lost: list[Any] = field(default_factory=list)
    wire_duplicates: int = 0
    distinct_duplicates: int = 0
    other: int = 0


def plan(org: Org, sandbox: SandboxProviders, count: int, seed: int) -> list[Planned]:
    rng = random.Random(seed)
    pairs = rng.sample(org.pairs, count)
    out = []
    for i, pair in enumerate(pairs):
        kind = KINDS[i % len(KINDS)]
        manager, report, _ = pair
        # Their next occurrences are less than a day ahead: a day's horizon finds them.
        change = changes.plan_next(sandbox, kind, report, partner=manager, horizon=timedelta(days=1))
        out.append(Planned(kind, pair, change.ops))
    return out


async def drive(planned: list[Planned], sandbox: SandboxProviders, rate: float) -> None:
    start = time.monotonic()
    for i, change in enumerate(planned):
        due = start + i / rate
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        at = _stamp(sandbox.clock.now())
        change.at, change.wall = time.monotonic(), time.time()
        change.late = max(0.0, change.at - due)
        for op in change.ops:
            sandbox.apply({**op, "at": at})


def score(planned: list[Planned], hits: list[list[Any]], pair_ids: dict[tuple[str, str], int]) -> Outcome:
    out = Outcome()
    arrivals: dict[tuple[int, str, str | None], list[tuple[float, str]]] = defaultdict(list)
    ids = Counter()
    for arrived, webhook_id, kind, pair_id, finding_type in hits:
        if kind == "floor":
            continue
        ids[webhook_id] += 1
        key = (pair_id, kind, finding_type if kind == "finding.opened" else None)
        arrivals[key].append((arrived, webhook_id))
    out.wire_duplicates = sum(n - 1 for n in ids.values() if n > 1)
    expected = set()
    for change in planned:
        pair_id = pair_ids[(change.pair[0], change.pair[1])]
        for kind, finding_type in EXPECTED[change.kind]:
            key = (pair_id, kind, finding_type)
            expected.add(key)
            got = arrivals.get(key)
            if not got:
                out.lost.append(
                    {"change": change.kind, "pair": change.pair[:2], "event": kind, "finding": finding_type}
                )
                continue
            out.latencies.append(min(t for t, _ in got) - change.at)
            out.by_path[f"{change.pair[2]} {change.kind}"].append(out.latencies[-1])
            out.distinct_duplicates += len({i for _, i in got}) - 1
    out.other = sum(len(v) for k, v in arrivals.items() if k not in expected)
    return out


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan"),
                "samples": 0}  # fmt: skip
    ordered = sorted(values)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000

    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": ordered[-1] * 1000,
        "samples": len(ordered),
    }


# -- the run ------------------------------------------------------------------------------------------------
async def _dispatched(conn: asyncpg.Connection) -> dict[tuple[int, str, str | None], float]:
    """When each event was handed to delivery (its first delivery row: the outbound worker's
    fan-out, after the recompute committed it), by the receiver's key; wall clock."""
    rows = await conn.fetch(
        "SELECT o.pair_id, o.type, o.payload, min(d.created_at) AS at FROM outbox_events o "
        "JOIN webhook_deliveries d ON d.event_id = o.id GROUP BY o.id"
    )
    out = {}
    for r in rows:
        payload = json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"]
        key = (r["pair_id"], r["type"], payload.get("finding_type") if r["type"] == "finding.opened" else None)
        at = r["at"] if r["at"].tzinfo else r["at"].replace(tzinfo=UTC)
        out[key] = min(out.get(key, float("inf")), at.timestamp())
    return out


def stage(planned: list[Planned], dispatched: dict, pair_ids: dict[tuple[str, str], int]) -> list[float]:
    """Change → handed to delivery, per expected event that got that far."""
    out = []
    for change in planned:
        pair_id = pair_ids[(change.pair[0], change.pair[1])]
        for kind, finding_type in EXPECTED[change.kind]:
            at = dispatched.get((pair_id, kind, finding_type))
            if at is not None:
                out.append(at - change.wall)
    return out


async def _counts(conn: asyncpg.Connection) -> dict[str, int]:
    return dict(
        await conn.fetchrow(
            """SELECT
                 (SELECT count(*) FROM calendars) AS calendars,
                 (SELECT count(*) FROM calendars WHERE last_synced_at IS NOT NULL) AS synced,
                 (SELECT count(*) FROM calendars WHERE status <> 'active') AS not_active,
                 (SELECT count(DISTINCT calendar_id) FROM push_channels WHERE stopped_at IS NULL) AS channels,
                 (SELECT count(*) FROM sync_requests) AS requested,
                 (SELECT count(*) FROM pairs WHERE next_check_at <= now()) AS pairs_due,
                 (SELECT count(*) FROM outbox_events WHERE dispatched_at IS NULL) AS outbox_waiting,
                 (SELECT count(*) FROM meetings WHERE status = 'scheduled' AND start > now()
                    AND start <= now() + interval '24 hours'
                    AND upcoming_notified_start IS DISTINCT FROM start) AS unannounced"""
        )
    )


async def setup_org(url: str, org: Org, sandbox: SandboxProviders, secret_key: str, now: datetime) -> str:
    """People, the admin and its API token, and both org grants; returns the token."""
    microsoft = sandbox.microsoft_connection()
    engine = create_engine(url, pool_size=2)
    try:
        async with session_factory(engine)() as session:
            rows = [
                PersonRow(email=p, name=org.story.people[p].name, timezone="UTC", manager=org.story.people[p].manager)
                for p in org.people
            ]
            await import_people(session, rows + [PersonRow(email=ADMIN, name="Bench Admin", timezone="UTC")], now)
            await session.execute(text("UPDATE people SET role = 'admin' WHERE email = :e"), {"e": ADMIN})
            token = await api_tokens.create(session, ADMIN, "bench", now)
            for provider, secret, tenant in (
                ("google", json.dumps(dict(sandbox.google_connection().service_account_info)), None),
                (
                    "microsoft",
                    json.dumps(
                        {
                            "tenant_id": microsoft.tenant_id,
                            "client_id": microsoft.client_id,
                            "client_secret": microsoft.client_secret,
                        }
                    ),
                    microsoft.tenant_id,
                ),
            ):
                emails = [p for p in org.people if org.story.people[p].provider == provider]
                if emails:
                    await connect_org(
                        session,
                        Vault(secret_key),
                        provider=provider,
                        now=now,
                        secret=secret,
                        tenant=tenant,
                        emails=emails,
                        scopes="calendar.readonly" if provider == "google" else "Calendars.Read",
                    )
            await session.commit()
    finally:
        await engine.dispose()
    return token


async def run(args: argparse.Namespace) -> dict[str, Any]:
    clock = SystemClock()
    org = Org(args.calendars, clock.now())
    count = int(args.rate * args.seconds)
    if count > len(org.pairs):
        raise SystemExit(f"{count} changes need as many pairs; {org.calendars} calendars have {len(org.pairs)}")
    dsn, drop = await pg.scratch()
    url = pg.sqlalchemy_url(dsn)
    processes = Processes()
    calls = Calls()
    try:
        log(f"events: migrating {dsn.rsplit('/', 1)[1]}")
        await upgrade_async(url)
        receiver = processes.start(
            {**os.environ, "PYTHONPATH": str(ROOT)},
            [sys.executable, str(Path(__file__).resolve()), "--receiver"],
            stdout=subprocess.PIPE,
            text=True,
        )
        receiver_url = f"http://127.0.0.1:{int(receiver.stdout.readline())}"
        sandbox = SandboxProviders(org.scenario(), clock=clock, auto_deliver=True)
        calls.wrap(sandbox.google, "google")
        calls.wrap(sandbox.graph, "graph")
        lag = NotificationLag(sandbox.notifier)
        async with sandbox:
            t0 = time.perf_counter()
            for op in org.creates():
                sandbox.apply(op)
            planned = plan(org, sandbox, count, args.seed)  # before the service connects: the fakes' state is final
            log(f"events: {org.calendars} calendars, {len(org.pairs)} weekly 1:1s at the fakes, {count} changes "
                f"planned ({time.perf_counter() - t0:.1f} s)")  # fmt: skip
            port = _free_port()
            base_url = f"http://127.0.0.1:{port}"
            secret_key = generate_key()
            env = _environment(url, secret_key, sandbox, base_url)
            oneonone = str(ROOT / ".venv" / "bin" / "oneonone")
            serve = [oneonone, "serve", "--no-worker", "--no-migrate", "--host", "127.0.0.1", "--port", str(port)]
            served = processes.start(env, serve)
            await processes.wait_for("oneonone serve", lambda: ready(base_url))
            token = await setup_org(url, org, sandbox, secret_key, clock.now())
            workers = [
                processes.start(env, [sys.executable, str(Path(__file__).resolve()), "--worker"]) for _ in range(2)
            ]
            cpu = CpuMeter(
                {
                    "workers": lambda: [w.pid for w in workers],
                    "serve": lambda: [served.pid],
                    "postgresql": postgres_pids,
                    "fakes and driver": lambda: [os.getpid()],
                    "receiver": lambda: [receiver.pid],
                }
            )
            conn = await asyncpg.connect(dsn)
            try:
                t0 = time.perf_counter()
                last = [0.0]

                async def steady() -> bool:
                    c = await _counts(conn)
                    if time.perf_counter() - last[0] > 10:
                        last[0] = time.perf_counter()
                        log(f"events: baseline {time.perf_counter() - t0:.0f} s: {c}")
                    return (
                        c["channels"] == c["calendars"] == org.calendars
                        and c["synced"] == org.calendars
                        and c["requested"] == c["pairs_due"] == c["outbox_waiting"] == 0
                        # the first announcements wait for the periodic pass (a minute): not in a smoke run
                        and (args.smoke or c["unannounced"] == 0)
                    )

                await processes.wait_for("the baseline (syncs, channels, detector)", steady, args.baseline_timeout, 0.5)
                baseline_seconds = time.perf_counter() - t0
                log(f"events: steady state after {baseline_seconds:.0f} s")
                await pg.vacuum_analyze(dsn)  # see bench/pg.py: what autovacuum would have done
                vacuumed = asyncio.Event()
                vacuuming = asyncio.create_task(pg.autovacuum(dsn, vacuumed))
                async with httpx.AsyncClient(base_url=base_url) as api:
                    answer = await api.post(
                        "/v1/webhook-endpoints",
                        headers={"Authorization": f"Bearer {token}"},
                        json={"url": f"{receiver_url}/hooks", "event_types": SUBSCRIBED, "description": "bench"},
                    )
                    answer.raise_for_status()
                pair_ids = {
                    (r["manager"], r["report"]): r["id"]
                    for r in await conn.fetch(
                        "SELECT p.id, m.email AS manager, r.email AS report FROM pairs p "
                        "JOIN people m ON m.id = p.manager_id JOIN people r ON r.id = p.report_id"
                    )
                }
                async with Floor(org, sandbox, dsn, f"{receiver_url}/hooks") as floor:
                    await asyncio.sleep(1.0)
                    log(f"events: {count} changes at {args.rate:g}/s for {args.seconds:g} s")
                    before = calls.snapshot()
                    cpu.start()
                    lag.recording = True
                    stop = asyncio.Event()
                    loaded_floor = asyncio.create_task(floor.during(stop, 0.5))
                    await drive(planned, sandbox, args.rate)
                    stop.set()
                    loaded = await loaded_floor
                    log(f"events: draining (up to {args.drain:g} s)")
                    expected = sum(len(EXPECTED[c.kind]) for c in planned)
                    async with httpx.AsyncClient() as client:

                        async def arrived() -> bool:
                            hits = (await client.get(f"{receiver_url}/dump")).json()
                            return len(score(planned, hits, pair_ids).latencies) >= expected

                        with suppress(SystemExit):  # what has not arrived by then is lost
                            await processes.wait_for("the events", arrived, args.drain, 0.5)
                        processes.check()  # but a process that died ends the bench
                        after = calls.snapshot()
                        cpu.stop()
                        lag.recording = False
                        vacuumed.set()
                        await vacuuming
                        await asyncio.sleep(1.0)
                        idle = [floor.n + i for i in range(args.floor_samples)]
                        for _ in idle:
                            await floor.sample()
                        await asyncio.sleep(0.5)
                        hits = (await client.get(f"{receiver_url}/dump")).json()
                    final = await _counts(conn)
                    dispatched = await _dispatched(conn)
            finally:
                await conn.close()
    finally:
        processes.stop()
        await drop()

    outcome = score(planned, hits, pair_ids)
    floor_arrivals = {h[3]: h[0] for h in hits if h[2] == "floor"}
    floor_loaded = [floor_arrivals[i] - floor.started[i] for i in loaded if i in floor_arrivals]
    floor_idle = [floor_arrivals[i] - floor.started[i] for i in idle if i in floor_arrivals]
    spent = after - before
    by_kind: Counter[str] = Counter()
    for (_fake, kind), n in spent.items():
        by_kind[kind] += n
    total_calls = sum(spent.values())
    touched = sum(len({c for op in ch.ops for c in op["calendars"]}) for ch in planned)
    late = sorted(c.late for c in planned)
    return {
        "calendars": org.calendars,
        "pairs": len(org.pairs),
        "rate": args.rate,
        "seconds": args.seconds,
        "changes": count,
        "changes_by_kind": dict(Counter(c.kind for c in planned)),
        "driver_behind_p99_ms": late[min(len(late) - 1, int(0.99 * (len(late) - 1)))] * 1000,
        "baseline_seconds": baseline_seconds,
        "expected_events": sum(len(EXPECTED[c.kind]) for c in planned),
        "service": summary(outcome.latencies),
        "service_by_path": {path: summary(values) for path, values in sorted(outcome.by_path.items())},
        "service_to_dispatch": summary(stage(planned, dispatched, pair_ids)),
        "notification_lag": summary(lag.seconds),
        "floor_loaded": summary(floor_loaded),
        "floor_idle": summary(floor_idle),
        "lost": len(outcome.lost),
        "lost_examples": outcome.lost[:10],
        "wire_duplicates": outcome.wire_duplicates,
        "distinct_duplicates": outcome.distinct_duplicates,
        "other_events": outcome.other,
        "provider_calls": {f"{fake}:{kind}": n for (fake, kind), n in sorted(spent.items())},
        "provider_calls_by_kind": dict(by_kind),
        "calls_per_change": total_calls / count,
        "calendars_touched": touched,
        "calls_per_calendar_touched": total_calls / touched,
        "list_calls_per_calendar_touched": by_kind["list"] / touched,
        "cpu_ms_per_change": {name: 1000 * used / count for name, used in cpu.used.items()},
        "cpu_cores_busy": sum(cpu.used.values()) / cpu.wall,
        # What keeping up with the rate takes at this CPU a change, against what the machine has.
        "cpu_cores_needed": sum(cpu.used.values()) / count * args.rate,
        "cpu_cores_here": os.cpu_count(),
        "state_after": final,
    }


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b and b == b and a == a else "n/a"


def report(result: dict[str, Any]) -> None:
    s, fl, fi = result["service"], result["floor_loaded"], result["floor_idle"]
    print("\n| path | p50 ms | p95 ms | p99 ms | max ms | samples |\n|---|---|---|---|---|---|")
    for label, r in (
        ("service: change → delivered (serve + 2 workers)", s),
        ("  of which: change → handed to delivery (synced, detected, committed)", result["service_to_dispatch"]),
        ("  a fake's notification: queued → answered by the webhook", result["notification_lag"]),
        ("floor under the same load", fl),
        ("floor, machine quiet", fi),
    ):
        print(
            f"| {label} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} | {r['max_ms']:.0f} "
            f"| {r['samples']} |"
        )
    for path, r in result["service_by_path"].items():
        print(f"| service, {path} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} | {r['max_ms']:.0f} "
              f"| {r['samples']} |")  # fmt: skip
    for label, f in (("the floor under load", fl), ("the quiet floor", fi)):
        ratios = ", ".join(f"{q} {_ratio(s[f'{q}_ms'], f[f'{q}_ms'])}" for q in ("p50", "p95", "p99"))
        print(f"service / {label}: {ratios}")
    print(
        f"changes {result['changes']} ({result['changes_by_kind']}) over {result['calendars']} calendars; "
        f"expected events {result['expected_events']}, lost {result['lost']}, duplicates on the wire "
        f"{result['wire_duplicates']} (same id), distinct ids for one change {result['distinct_duplicates']}, "
        f"other events {result['other_events']}"
    )
    print(
        f"provider calls per change {result['calls_per_change']:.2f} (target ≤ 1.2); per calendar touched "
        f"{result['calls_per_calendar_touched']:.2f} (lists alone {result['list_calls_per_calendar_touched']:.2f}); "
        f"by kind {result['provider_calls_by_kind']}; by fake and kind {result['provider_calls']}"
    )
    per_change = result["cpu_ms_per_change"]
    print(
        f"CPU per change {sum(per_change.values()):.1f} ms ("
        + ", ".join(f"{name} {ms:.1f}" for name, ms in per_change.items())
        + f"); {result['cpu_cores_busy']:.2f} cores busy from the first change to the last event; "
        f"keeping up with {result['rate']:g} changes a second needs {result['cpu_cores_needed']:.1f} cores at that "
        f"CPU a change, this machine has {result['cpu_cores_here']}"
    )
    print(
        f"baseline {result['baseline_seconds']:.0f} s; the driver was at most "
        f"{result['driver_behind_p99_ms']:.0f} ms behind schedule (p99)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calendars", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=100.0, help="changes a second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--drain", type=float, default=900.0, help="how long to wait for late events (ends once all arrived)"
    )
    parser.add_argument("--floor-samples", type=int, default=30, help="floor samples after the drain")
    parser.add_argument("--baseline-timeout", type=float, default=3600.0)
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--smoke", action="store_true", help="20 calendars, 10 changes, no results file")
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        sys.exit(serve_receiver())
    if args.worker:
        sys.exit(run_worker_process())
    if args.smoke:
        args.calendars, args.rate, args.seconds, args.drain, args.floor_samples = 20, 5.0, 2.0, 60.0, 3
    result = asyncio.run(run(args))
    report(result)
    if args.smoke:
        return
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "events.json").write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
