"""Webhook-to-finding latency: the production processes vs a floor, same run.

    make bench-latency    (or: .venv/bin/python bench/latency.py --samples 30)
    .venv/bin/python bench/latency.py --smoke    (one report, 2 samples: tests/bench)

A fake Google Calendar (service/sandbox, real clock) is served on loopback by this
process; a manager and `--reports` reports each have a weekly 1:1 series there.
The service runs as production does, against a fresh PostgreSQL database:
`oneonone serve --no-worker` (the webhooks) and one `oneonone worker` process,
configured by ONEONONE_* variables only; the org's calendars are connected with
an org grant, so the worker takes the initial syncs and opens watch channels that
point at the serve process.

Each sample, once the worker is idle (1.5 s after the previous one), cancels one
upcoming occurrence at the fake (shared by both participants' calendars),
delivers the fake's push notifications, and waits for the
`cancelled_without_reschedule` row: Google → webhook (channel token checked,
calendar marked dirty, NOTIFY) → the worker wakes, claims, pulls the increment
with the sync token, commits, runs the detector for the manager's pairs,
commits the finding. Timed from the change at the fake to the row being visible.

The floor, measured in the same run, is the irreducible part of that path, each
step done once by the simplest means: the same notification POSTed to a bare
endpoint (Starlette, one asyncpg UPDATE), one incremental events.list with a sync
token through google-api-python-client against the same fake (returning one
cancelled occurrence), and one asyncpg INSERT committed.

Prints p50/p95/max of both and service/floor at p50; writes
bench/results/latency.json (not with --smoke, whose figures mean nothing)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import pg  # noqa: E402
from bench.floor import bare_webhook_app  # noqa: E402
from bench.processes import ONEONONE, Processes, ready  # noqa: E402
from service.clock import SystemClock  # noqa: E402
from service.db.engine import create_engine, session_factory  # noqa: E402
from service.db.migrate import upgrade_async  # noqa: E402
from service.domain.connections import connect_org  # noqa: E402
from service.domain.people import PersonRow, import_people  # noqa: E402
from service.sandbox.providers import SandboxProviders  # noqa: E402
from service.sandbox.serve import LoopbackServer  # noqa: E402
from service.security.crypto import Vault, generate_key  # noqa: E402

DOMAIN = "latency.test"
ZONE = "Europe/Berlin"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _series(event_id: str, organizer: str, attendee: str, first: datetime) -> dict[str, Any]:
    local = first.astimezone(ZoneInfo(ZONE))
    return {
        "id": event_id,
        "status": "confirmed",
        "summary": f"{organizer.split('@')[0]} / {attendee.split('@')[0]}",
        "iCalUID": f"{event_id}@google.com",
        "eventType": "default",
        "start": {"dateTime": local.isoformat(), "timeZone": ZONE},
        "end": {"dateTime": (local + timedelta(minutes=30)).isoformat(), "timeZone": ZONE},
        "recurrence": ["RRULE:FREQ=WEEKLY"],
        "organizer": {"email": organizer},
        "creator": {"email": organizer},
        "attendees": [
            {"email": organizer, "organizer": True, "responseStatus": "accepted"},
            {"email": attendee, "responseStatus": "accepted"},
        ],
    }


def _weeks_later(slot: datetime, weeks: int) -> datetime:
    """The same local time `weeks` later (a weekly series keeps its wall-clock time across DST)."""
    return (slot.astimezone(ZoneInfo(ZONE)) + timedelta(weeks=weeks)).astimezone(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Story:
    """The org at the fake: a manager, reports with a weekly 1:1 each, and one
    person outside the service whose calendar the floor lists."""

    def __init__(self, reports: int, now: datetime) -> None:
        self.manager = f"boss@{DOMAIN}"
        self.reports = [f"r{i:02d}@{DOMAIN}" for i in range(reports)]
        self.outsider = f"floor@{DOMAIN}"
        # First slots tomorrow at whole hours, one report per hour.
        day = (now + timedelta(days=1)).replace(hour=7, minute=0, second=0, microsecond=0)
        self.first = {r: day + timedelta(hours=i % 9, days=i // 9) for i, r in enumerate(self.reports)}
        self.cancelled: dict[str, int] = dict.fromkeys(self.reports, 0)
        people = [{"email": self.manager, "manager": None, "timezone": ZONE, "provider": "google"}]
        people += [
            {"email": r, "manager": self.manager, "timezone": ZONE, "provider": "google"}
            for r in self.reports + [self.outsider]
        ]
        self.scenario = {
            "format": "oneonone-scenario/1",
            "start": _stamp(now),
            "now": _stamp(now),
            "org": {"people": people},
            "timeline": [],
        }

    def creates(self, now: datetime) -> list[dict[str, Any]]:
        ops = [
            {
                "at": _stamp(now),
                "op": "create",
                "provider": "google",
                "calendars": [self.manager, r],
                "event": _series(self.series_id(r), self.manager, r, self.first[r]),
            }
            for r in self.reports
        ]
        ops.append(
            {
                "at": _stamp(now),
                "op": "create",
                "provider": "google",
                "calendars": [self.outsider],
                "event": _series("floor0series", self.outsider, self.manager, self.first[self.reports[0]]),
            }
        )
        return ops

    @staticmethod
    def series_id(report: str) -> str:
        return "lat0" + report.split("@")[0]

    def cancel(self, now: datetime, report: str) -> dict[str, Any]:
        """The report's next occurrence not yet cancelled: its first two are within the
        detector's window (two weeks ahead), which bounds the samples to 2 × reports."""
        original = _weeks_later(self.first[report], self.cancelled[report])
        self.cancelled[report] += 1
        return {
            "at": _stamp(now),
            "op": "cancel_occurrence",
            "provider": "google",
            "calendars": [self.manager, report],
            "event_id": self.series_id(report),
            "original_start": _stamp(original),
        }

    def cancel_outside(self, now: datetime, n: int) -> dict[str, Any]:
        original = _weeks_later(self.first[self.reports[0]], n + 1)
        return {
            "at": _stamp(now),
            "op": "cancel_occurrence",
            "provider": "google",
            "calendars": [self.outsider],
            "event_id": "floor0series",
            "original_start": _stamp(original),
        }


# -- the service's processes ------------------------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(url: str, secret_key: str, sandbox: SandboxProviders, base_url: str) -> dict[str, str]:
    google = sandbox.google_connection()
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("ONEONONE_")},
        "ONEONONE_DATABASE_URL": url,
        "ONEONONE_SECRET_KEY": secret_key,
        "ONEONONE_PUBLIC_BASE_URL": base_url,
        "ONEONONE_LOG_LEVEL": "WARNING",
        "ONEONONE_GOOGLE__CLIENT_ID": google.client_id,
        "ONEONONE_GOOGLE__CLIENT_SECRET": google.client_secret,
        "ONEONONE_GOOGLE__API_ENDPOINT": google.api_endpoint,
        "ONEONONE_GOOGLE__TOKEN_URI": google.token_uri,
        "ONEONONE_WORKER__HTTP_PORT": "0",  # no probe listener: nothing scrapes it here
    }


async def _findings(conn: asyncpg.Connection) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM findings WHERE type = 'cancelled_without_reschedule' AND resolved_at IS NULL"
    )


async def measure_service(
    story: Story,
    sandbox: SandboxProviders,
    conn: asyncpg.Connection,
    clock: SystemClock,
    samples: int,
    processes: Processes,
    pause: float = 1.5,
) -> list[float]:
    out = []
    for i in range(samples):
        report = story.reports[i % len(story.reports)]
        # Past the worker's idle timeout: each change meets an idle worker (not one
        # still busy with the previous sample, which would pick it up at once).
        await asyncio.sleep(pause)
        before = await _findings(conn)
        started = time.perf_counter()
        sandbox.apply(story.cancel(clock.now(), report))
        await sandbox.flush()  # the POSTs to the serve process
        while await _findings(conn) == before:
            if time.perf_counter() - started > 30:
                processes.check()
                raise SystemExit(f"sample {i}: no finding after 30 s")
            await asyncio.sleep(0.002)
        out.append(time.perf_counter() - started)
    return out


# -- the floor ------------------------------------------------------------------------------------------
async def measure_floor(
    story: Story, sandbox: SandboxProviders, url: str, clock: SystemClock, samples: int
) -> list[float]:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    await pool.execute("CREATE TABLE bench_floor_calendars (channel_id text PRIMARY KEY, dirty boolean)")
    await pool.execute("CREATE TABLE bench_floor_events (id bigserial PRIMARY KEY, event_id text, body jsonb)")
    await pool.execute("INSERT INTO bench_floor_calendars VALUES ('floor-channel', false)")
    server = LoopbackServer(bare_webhook_app(dsn), name="bench-floor-webhook", lifespan="on")
    server.start()
    try:
        google = sandbox.google_connection()
        service = google.build(google.delegated_credentials(story.outsider))
        first = await asyncio.to_thread(service.events().list(calendarId=story.outsider).execute)
        token = first["nextSyncToken"]
        notification = {
            "X-Goog-Channel-ID": "floor-channel",
            "X-Goog-Channel-Token": "t",
            "X-Goog-Resource-State": "exists",
            "X-Goog-Resource-ID": "r",
            "X-Goog-Message-Number": "1",
        }
        out = []
        async with httpx.AsyncClient() as client:
            for i in range(samples):
                sandbox.apply(story.cancel_outside(clock.now(), i))  # the outsider has no channel: no push
                started = time.perf_counter()
                await client.post(f"{server.base_url}/webhooks/google", headers=notification)
                page = await asyncio.to_thread(
                    service.events().list(calendarId=story.outsider, syncToken=token).execute
                )
                token = page["nextSyncToken"]
                async with pool.acquire() as conn, conn.transaction():
                    for item in page.get("items", []):
                        await conn.execute(
                            "INSERT INTO bench_floor_events (event_id, body) VALUES ($1, $2)",
                            item["id"],
                            json.dumps(item),
                        )
                out.append(time.perf_counter() - started)
                if not page.get("items"):
                    raise SystemExit("floor: the incremental list returned nothing")
        return out
    finally:
        server.stop()
        await pool.close()


# -- the run --------------------------------------------------------------------------------------------
def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))] * 1000,
        "max_ms": ordered[-1] * 1000,
        "samples": len(ordered),
    }


async def run(samples: int, reports: int, pause: float = 1.5, settle: float = 1.0) -> dict[str, Any]:
    """`pause`: the wait before each sample, so that each change meets an idle worker;
    `settle`: the wait for the detector's first pass after the initial syncs."""
    clock = SystemClock()
    dsn, drop = await pg.scratch()
    url = pg.sqlalchemy_url(dsn)
    name = dsn.rsplit("/", 1)[1]
    processes = Processes()
    story = Story(reports, clock.now())
    try:
        log(f"latency: migrating {name}")
        await upgrade_async(url)
        async with SandboxProviders(story.scenario, clock=clock) as sandbox:
            for op in story.creates(clock.now()):
                sandbox.apply(op)
            port = _free_port()
            base_url = f"http://127.0.0.1:{port}"
            secret_key = generate_key()
            env = _environment(url, secret_key, sandbox, base_url)
            processes.start(
                env, [ONEONONE, "serve", "--no-worker", "--no-migrate", "--host", "127.0.0.1", "--port", str(port)]
            )
            await processes.wait_for("oneonone serve", lambda: ready(base_url))
            engine = create_engine(url, pool_size=2)
            try:
                async with session_factory(engine)() as session:
                    people = story.scenario["org"]["people"][:-1]  # the outsider is not in the org
                    await import_people(
                        session,
                        [
                            PersonRow(email=p["email"], name=p["email"], timezone=ZONE, manager=p["manager"])
                            for p in people
                        ],
                        clock.now(),
                    )
                    await connect_org(
                        session,
                        Vault(secret_key),
                        provider="google",
                        now=clock.now(),
                        secret=json.dumps(dict(sandbox.google_connection().service_account_info)),
                        emails=[p["email"] for p in people],
                        scopes="calendar.readonly",
                    )
                    await session.commit()
            finally:
                await engine.dispose()
            processes.start(env, [ONEONONE, "worker"])
            conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
            try:

                async def connected() -> bool:
                    return await conn.fetchval("SELECT count(*) FROM push_channels WHERE stopped_at IS NULL") == len(
                        people
                    )

                log(f"latency: {len(people)} calendars connecting (initial syncs, watch channels)")
                await processes.wait_for("initial syncs and watch channels", connected)
                await asyncio.sleep(settle)
                log(f"latency: service, {samples} samples")
                service = await measure_service(story, sandbox, conn, clock, samples, processes, pause)
            finally:
                await conn.close()
            log(f"latency: floor, {samples} samples")
            floor = await measure_floor(story, sandbox, url, clock, samples)
    finally:
        processes.stop()
        await drop()
    return {"service": _summary(service), "floor": _summary(floor)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--reports", type=int, default=15)
    parser.add_argument("--smoke", action="store_true", help="one report, 2 samples, no results file (tests/bench)")
    args = parser.parse_args()
    if args.smoke:
        args.samples, args.reports = 2, 1
    if args.samples > 2 * args.reports:
        parser.error("at most 2 samples per report (their first two 1:1s are within the detector's window)")
    quick = {"pause": 0.3, "settle": 0.3} if args.smoke else {}  # a smoke run's figures mean nothing
    result = asyncio.run(run(args.samples, args.reports, **quick))
    service, floor = result["service"], result["floor"]
    ratio = service["p50_ms"] / floor["p50_ms"]
    print("\n| path | p50 ms | p95 ms | max ms | samples |\n|---|---|---|---|---|")
    for label, r in (("service (serve + worker)", service), ("floor (bare webhook, list, INSERT)", floor)):
        print(f"| {label} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['max_ms']:.1f} | {r['samples']} |")
    print(f"\nservice/floor at p50: {ratio:.1f}x")
    if args.smoke:
        return
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latency.json").write_text(json.dumps({**result, "ratio_p50": ratio}, indent=2))


if __name__ == "__main__":
    main()
