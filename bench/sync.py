"""Initial full sync throughput: the production path vs a floor, same run.

    make bench-sync       (or: .venv/bin/python bench/sync.py --events 100000 --rounds 2)
    .venv/bin/python bench/sync.py --smoke     (300 events, one round: tests/bench)

A fake Google Calendar v3 (service/sandbox, over HTTP on loopback) runs in a
subprocess of its own, so its 100,000 stored events neither compete for this
process's GIL nor weigh on its garbage collector. Its store is seeded directly
(GoogleStore.seed, not through the API) with one calendar holding a deterministic
mix (`--seed`): mostly single events with 2–4 attendees spread over the look-back
window, some all-day or free-time ones, weekly series with moved and cancelled
occurrences, and cancelled events.

Each round, into a new scratch PostgreSQL database (bench/pg.py) migrated with
service.db.migrate:

- service: the real SyncWorker + GoogleCalendarProvider (google-api-python-client,
  org grant with domain-wide delegation) claims the calendar and takes its initial
  full sync: events.list pages of 2,500, normalization, reconciliation
  (calendar_events rows + event_revisions) and the commit. Timed from the claim
  to the commit; broken down into fetch (HTTP + JSON parse + normalization, the
  latter also shown alone) and the DB write (reconciler, then claim/load/commit).
  What production does after the commit (the detector for the calendar's owner,
  opening a watch channel) is not part of it. The adapter must ask for pages of
  2,500 (maxResults, checked on the fake's side).
- floor: the same pages from the same fake with httpx, parsed with orjson, the
  raw fields loaded with asyncpg COPY (copy_records_to_table) into a table like
  calendar_events (same columns and indexes), committed.

Prints the best round of each, the spread, and service/floor; writes
bench/results/sync.json (not with --smoke, whose figures mean nothing). The
fake's own time serving the pages (the same for both) is shown for reference."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import pg  # noqa: E402

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OWNER = "bench.owner@acme.test"
CLIENT_ID = "1234567890-bench.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-bench-not-a-secret"
SERVICE_ACCOUNT = "oneonone-bench@oneonone-sandbox.iam.gserviceaccount.com"
PAGE_SIZE = 2500
UTC = UTC
ZONES = ("Europe/Berlin", "Europe/Berlin", "Europe/London", "America/New_York", "Asia/Kolkata", "UTC")
TITLES = (
    "1:1",
    "Weekly sync",
    "Design review",
    "Planning",
    "Retro",
    "Customer call",
    "Interview",
    "Lunch",
    "Standup",
    "Roadmap",
    "Hiring debrief",
    "Incident review",
    "Offsite prep",
    "Coffee chat",
)


# -- the event mix --------------------------------------------------------------------------------------------
def _local(moment: datetime) -> str:
    """`2026-01-05T10:00:00+01:00` (Google writes a zero offset as `Z`)."""
    text = moment.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def generate_events(
    n: int, seed: int, *, now: datetime = NOW, lookback_days: int = 120, owner: str = OWNER
) -> list[dict[str, Any]]:
    """`n` stored Google event resources of `owner`'s calendar, in change order,
    shaped as service/sandbox/google_store.py keeps them. Deterministic for a seed.

    Mix: 2% weekly series masters; 3% exceptions of those (two thirds moved
    occurrences, one third cancelled-occurrence stubs); 5% cancelled events; the
    rest single events (3% all-day, 8% free time), 2–4 attendees each."""
    rng = random.Random(seed)
    zones = {name: ZoneInfo(name) for name in set(ZONES)}
    colleagues = [f"person{i:03d}@acme.test" for i in range(300)] + [f"guest{i:02d}@partner.test" for i in range(40)]
    rooms = [f"room-{i}@resource.calendar.google.com" for i in range(8)]
    first_day = now - timedelta(days=lookback_days - 1)
    used: set[str] = set()
    descriptions = ["Agenda: " + " ".join(rng.choice(TITLES).lower() for _ in range(12)) for _ in range(64)]

    def new_id() -> str:
        while True:
            event_id = f"{rng.getrandbits(100):025x}"
            if event_id not in used:
                used.add(event_id)
                return event_id

    def when(zone: str, earliest: datetime, latest: datetime) -> datetime:
        """A working-hours start, on the quarter hour, local to `zone`."""
        day = earliest + timedelta(seconds=rng.uniform(0, max(0.0, (latest - earliest).total_seconds())))
        local = day.astimezone(zones[zone])
        return local.replace(hour=rng.randint(8, 17), minute=rng.choice((0, 15, 30, 45)), second=0, microsecond=0)

    def attendees(organizer: str) -> list[dict[str, Any]]:
        people = {owner, organizer}
        while len(people) < rng.randint(2, 4):
            people.add(rng.choice(colleagues))
        out = []
        for email in sorted(people):
            person: dict[str, Any] = {
                "email": email,
                "responseStatus": rng.choice(
                    ("accepted", "accepted", "accepted", "tentative", "needsAction", "declined")
                ),
            }
            if email == organizer:
                person["organizer"], person["responseStatus"] = True, "accepted"
            out.append(person)
        if rng.random() < 0.1:
            out.append({"email": rng.choice(rooms), "resource": True, "responseStatus": "accepted"})
        return out

    def base(event_id: str, updated: datetime, organizer: str, title: str) -> dict[str, Any]:
        created = updated - timedelta(minutes=rng.randint(0, 60 * 24 * 10))
        resource: dict[str, Any] = {
            "kind": "calendar#event",
            "id": event_id,
            "status": "confirmed",
            "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
            "created": _stamp(created),
            "updated": _stamp(updated),
            "summary": title,
            "creator": {"email": organizer},
            "organizer": {"email": organizer},
            "iCalUID": f"{event_id}@google.com",
            "sequence": 0,
            "reminders": {"useDefault": True},
            "eventType": "default",
        }
        if rng.random() < 0.5:
            resource["hangoutLink"] = f"https://meet.google.com/{event_id[:3]}-{event_id[3:7]}-{event_id[7:10]}"
        if rng.random() < 0.3:
            resource["description"] = rng.choice(descriptions)
        return resource

    def updated_before(start: datetime) -> datetime:
        return min(now - timedelta(minutes=1), start - timedelta(minutes=rng.randint(60, 60 * 24 * 20)))

    items: list[tuple[datetime, dict[str, Any]]] = []
    n_series = n * 2 // 100
    n_exceptions = n * 3 // 100 if n_series else 0
    n_cancelled = n * 5 // 100
    n_single = n - n_series - n_exceptions - n_cancelled

    series: list[tuple[dict[str, Any], datetime, timedelta, int]] = []
    for _ in range(n_series):
        zone = rng.choice(ZONES[:-1])
        start = when(zone, first_day, now - timedelta(days=21))
        length = timedelta(minutes=rng.choice((25, 30, 30, 45, 60)))
        count = rng.randint(4, 30)
        organizer = owner if rng.random() < 0.5 else rng.choice(colleagues)
        event_id = new_id()
        updated = updated_before(start)
        resource = base(event_id, updated, organizer, rng.choice(TITLES))
        resource["start"] = {"dateTime": _local(start), "timeZone": zone}
        resource["end"] = {"dateTime": _local(start + length), "timeZone": zone}
        byday = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[start.weekday()]
        rule = f"RRULE:FREQ=WEEKLY;BYDAY={byday}"
        rule += f";COUNT={count}" if rng.random() < 0.5 else ""
        resource["recurrence"] = [rule]
        resource["attendees"] = attendees(organizer)
        items.append((updated, resource))
        series.append((resource, start, length, count))

    for i in range(n_exceptions):
        master, start, length, count = series[i % len(series)]
        zone = master["start"]["timeZone"]
        while True:  # at most two exceptions per series, at least three slots to choose from
            slot = start + timedelta(weeks=rng.randint(1, min(count, 16) - 1))  # same wall-clock time
            event_id = f"{master['id']}_{slot.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"
            if event_id not in used:
                break
        used.add(event_id)
        updated = min(
            now - timedelta(seconds=30),
            datetime.fromisoformat(master["updated"]) + timedelta(minutes=rng.randint(5, 60 * 24 * 30)),
        )
        original = {"dateTime": _local(slot), "timeZone": zone}
        if i % 3 == 2:  # a cancelled occurrence: Google keeps only a stub
            stub = {
                "kind": "calendar#event",
                "id": event_id,
                "status": "cancelled",
                "recurringEventId": master["id"],
                "originalStartTime": original,
                "updated": _stamp(updated),
            }
            items.append((updated, stub))
            continue
        moved = {k: json.loads(json.dumps(v)) for k, v in master.items() if k not in ("recurrence", "id")}
        moved.update(
            id=event_id,
            recurringEventId=master["id"],
            originalStartTime=original,
            sequence=1,
            htmlLink=f"https://www.google.com/calendar/event?eid={event_id}",
            updated=_stamp(updated),
        )
        shift = timedelta(hours=rng.choice((-2, -1, 1, 2, 24)))
        moved["start"] = {"dateTime": _local(slot + shift), "timeZone": zone}
        moved["end"] = {"dateTime": _local(slot + shift + length), "timeZone": zone}
        items.append((updated, moved))

    for i in range(n_single + n_cancelled):
        zone = rng.choice(ZONES)
        start = when(zone, first_day, now + timedelta(days=30) if rng.random() < 0.15 else now)
        organizer = owner if rng.random() < 0.4 else rng.choice(colleagues)
        event_id = new_id()
        updated = updated_before(start)
        resource = base(event_id, updated, organizer, rng.choice(TITLES))
        if rng.random() < 0.03:
            day = start.date()
            resource["start"] = {"date": day.isoformat()}
            resource["end"] = {"date": (day + timedelta(days=rng.choice((1, 1, 2)))).isoformat()}
            resource["transparency"] = "transparent"
        else:
            length = timedelta(minutes=rng.choice((15, 25, 30, 30, 45, 60, 90)))
            with_zone = rng.random() < 0.7
            resource["start"] = {"dateTime": _local(start), **({"timeZone": zone} if with_zone else {})}
            resource["end"] = {"dateTime": _local(start + length), **({"timeZone": zone} if with_zone else {})}
            if rng.random() < 0.08:
                resource["transparency"] = "transparent"
        resource["attendees"] = attendees(organizer)
        if i >= n_single:  # deleted: Google keeps the whole resource, status cancelled
            resource["status"] = "cancelled"
            updated = min(now - timedelta(seconds=10), updated + timedelta(minutes=rng.randint(5, 60 * 24 * 5)))
            resource["updated"] = _stamp(updated)
        items.append((updated, resource))

    items.sort(key=lambda pair: pair[0])
    out = []
    for stamp, (updated, resource) in enumerate(items, 1):
        resource["etag"] = f'"{int(updated.timestamp() * 1000)}{stamp:06d}"'
        out.append(resource)
    return out


# -- the fake, in its own process ----------------------------------------------------------------------------------
class _Recorder:
    """ASGI wrapper noting each API request's query and the time the fake spent on it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/events"):
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        await self.app(scope, receive, send)
        query = parse_qs(scope["query_string"].decode())
        with self.lock:
            self.requests.append(
                {
                    "maxResults": (query.get("maxResults") or [None])[0],
                    "showDeleted": (query.get("showDeleted") or [None])[0],
                    "singleEvents": (query.get("singleEvents") or [None])[0],
                    "timeMin": (query.get("timeMin") or [None])[0],
                    "page": "pageToken" in query,
                    "seconds": time.perf_counter() - t0,
                }
            )


def serve_fake(events: int, seed: int, lookback_days: int) -> int:
    """`--serve-fake`: seed the store, serve it, answer `stats`/`release` on stdin."""
    from service.clock import FixedClock
    from service.sandbox.faults import Faults
    from service.sandbox.google_server import READ_SCOPES, GoogleFake
    from service.sandbox.google_store import GoogleStore
    from service.sandbox.notifier import Notifier
    from service.sandbox.oauth import TokenIssuer
    from service.sandbox.serve import LoopbackServer

    t0 = time.perf_counter()
    store = GoogleStore()
    store.add_calendar(OWNER, time_zone="Europe/Berlin", summary="Bench Owner")
    resources = generate_events(events, seed, lookback_days=lookback_days)
    stored = store.seed(OWNER, resources)  # directly: the HTTP API would take minutes
    seeded = time.perf_counter() - t0

    faults = Faults()
    notifier = Notifier(faults=faults)
    # The service's clock: the fake checks the service account's assertion times against it.
    issuer = TokenIssuer(FixedClock(NOW), lifetime=timedelta(hours=6))
    fake = GoogleFake(store, issuer=issuer, faults=faults, notifier=notifier)
    recorder = _Recorder(fake.app)
    server = LoopbackServer(recorder, name="bench-fake-google")
    fake.auth.register_client(CLIENT_ID, CLIENT_SECRET)
    account = fake.auth.new_service_account(
        SERVICE_ACCOUNT, token_uri=f"{server.base_url}/token", delegated_scopes=READ_SCOPES
    )
    refresh = fake.auth.issue_refresh_token(CLIENT_ID, OWNER, sorted(READ_SCOPES))
    server.start()
    print(
        json.dumps(
            {
                "base_url": server.base_url,
                "service_account": account,
                "refresh_token": refresh,
                "events": stored,
                "seeded_seconds": seeded,
                "kinds": _census(resources),
            }
        ),
        flush=True,
    )
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                with recorder.lock:
                    requests, recorder.requests = recorder.requests, []
                print(json.dumps(requests), flush=True)
            elif command == "release":  # finished listings keep their snapshot: drop them
                store.forget_listings(OWNER)
                print("{}", flush=True)
            elif command == "quit":
                break
    finally:
        server.stop()
        notifier.close()
    return 0


def _census(resources: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in resources:
        kind = "instance" if r.get("recurringEventId") else "series" if r.get("recurrence") else "single"
        key = f"{kind}/{r.get('status', 'confirmed')}"
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


class FakeProcess:
    def __init__(self, events: int, seed: int, lookback_days: int) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--serve-fake",
                "--events",
                str(events),
                "--seed",
                str(seed),
                "--lookback-days",
                str(lookback_days),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(5)
            raise SystemExit("the fake Google did not start")
        self.info = json.loads(line)

    def ask(self, command: str) -> Any:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(5)


# -- database --------------------------------------------------------------------------------------------------------
def fresh_database() -> tuple[str, str, Callable[[], Awaitable[None]]]:
    """(asyncpg DSN, SQLAlchemy URL, what drops it) of a new scratch database, migrated."""
    from service.db.migrate import upgrade

    pg_dsn, drop = asyncio.run(pg.scratch())
    sa_url = pg.sqlalchemy_url(pg_dsn)
    try:
        upgrade(sa_url)
    except BaseException:
        asyncio.run(drop())
        raise
    return pg_dsn, sa_url, drop


# -- the production path ----------------------------------------------------------------------------------------------
async def run_service(sa_url: str, fake: dict[str, Any], expected: int, profile: str | None) -> dict[str, Any]:
    from sqlalchemy import func, select

    from service.clock import FixedClock
    from service.db.engine import create_engine, session_factory
    from service.db.models import Calendar, CalendarConnection, CalendarEvent, EventRevision, Person
    from service.security.crypto import Vault, generate_key
    from service.settings import GoogleSettings, Settings
    from service.sync import reconciler
    from service.sync.providers.google.adapter import GoogleCalendarProvider
    from service.sync.worker import SyncWorker

    base = fake["base_url"]
    settings = Settings(
        _env_file=None,
        database_url=sa_url,
        secret_key=generate_key(),
        google=GoogleSettings(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            api_endpoint=f"{base}/calendar/v3/",
            token_uri=f"{base}/token",
        ),
    )
    clock = FixedClock(NOW)
    vault = Vault(settings.secret_key.get_secret_value())
    engine = create_engine(sa_url, pool_size=2)
    sessions = session_factory(engine)
    try:
        # As `oneonone calendars connect-all` leaves it: an org grant, the calendar due.
        async with sessions() as session:
            person = Person(
                email=OWNER, name="Bench Owner", timezone="Europe/Berlin", role="member", created_at=NOW, updated_at=NOW
            )
            session.add(person)
            connection = CalendarConnection(
                provider="google",
                kind="org",
                status="active",
                scopes="calendar.readonly",
                created_at=NOW,
                updated_at=NOW,
                secret_encrypted=vault.encrypt(json.dumps(fake["service_account"])),
            )
            session.add(connection)
            await session.flush()
            session.add(
                Calendar(
                    person_id=person.id,
                    connection_id=connection.id,
                    provider="google",
                    external_id=OWNER,
                    time_zone="Europe/Berlin",
                    status="active",
                    failures=0,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            await session.commit()

        provider = GoogleCalendarProvider(settings.google, clock=clock)
        marks = {"fetch": 0.0, "normalize": 0.0, "reconcile": 0.0}
        fetch_changes, normalize, apply = provider.fetch_changes, provider._normalize, reconciler.apply

        async def timed_fetch(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await fetch_changes(*args, **kwargs)
            finally:
                marks["fetch"] += time.perf_counter() - t0

        def timed_normalize(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return normalize(*args, **kwargs)
            finally:
                marks["normalize"] += time.perf_counter() - t0

        async def timed_apply(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await apply(*args, **kwargs)
            finally:
                marks["reconcile"] += time.perf_counter() - t0

        provider.fetch_changes, provider._normalize = timed_fetch, timed_normalize
        reconciler.apply = timed_apply
        worker = SyncWorker(
            sessions=sessions,
            providers={"google": provider},
            vault=vault,
            clock=clock,
            settings=settings.sync,
            owner="bench-worker",
        )
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        try:
            t0 = time.perf_counter()
            synced = await worker.run_once()  # claim → fetch → reconcile → commit
            total = time.perf_counter() - t0
        finally:
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(profile)
            reconciler.apply = apply
        async with sessions() as session:
            events = await session.scalar(select(func.count()).select_from(CalendarEvent))
            revisions = await session.scalar(select(func.count()).select_from(EventRevision))
            calendar = await session.scalar(select(Calendar))
        if synced != 1 or calendar.cursor is None or calendar.last_error:
            raise SystemExit(f"service: the sync did not complete (synced={synced}, error={calendar.last_error})")
        if events != expected or revisions != expected:
            raise SystemExit(f"service: {events} events / {revisions} revisions stored, {expected} expected")
        return {
            "events": events,
            "revisions": revisions,
            "seconds": total,
            "events_per_s": events / total,
            "fetch_s": marks["fetch"],
            "normalize_s": marks["normalize"],
            "reconcile_s": marks["reconcile"],
            "claim_load_commit_s": total - marks["fetch"] - marks["reconcile"],
        }
    finally:
        await engine.dispose()


# -- the floor ---------------------------------------------------------------------------------------------------------
FLOOR_COLUMNS = (
    "calendar_id",
    "event_id",
    "ical_uid",
    "kind",
    "series_id",
    "original_start",
    "status",
    "start",
    "end",
    "time_zone",
    "all_day",
    "recurrence",
    "organizer",
    "attendees",
    "busy",
    "title",
    "updated",
)


def _time(obj: dict[str, Any] | None) -> datetime | None:
    if not obj:
        return None
    if "dateTime" in obj:
        return datetime.fromisoformat(obj["dateTime"])
    if "date" in obj:
        return datetime.fromisoformat(obj["date"] + "T00:00:00+00:00")
    return None


def floor_rows(calendar_id: int, items: list[dict[str, Any]]) -> list[tuple]:
    import orjson

    dumps = orjson.dumps
    rows = []
    for it in items:
        start = it.get("start")
        rows.append(
            (
                calendar_id,
                it["id"],
                it.get("iCalUID"),
                "instance" if "recurringEventId" in it else "series" if "recurrence" in it else "single",
                it.get("recurringEventId"),
                _time(it.get("originalStartTime")),
                it.get("status", "confirmed"),
                _time(start),
                _time(it.get("end")),
                (start or {}).get("timeZone"),
                bool(start and "date" in start),
                dumps(it.get("recurrence") or []).decode(),
                (it.get("organizer") or {}).get("email"),
                dumps(it.get("attendees") or []).decode(),
                it.get("transparency") != "transparent",
                it.get("summary") or "",
                datetime.fromisoformat(it["updated"]),
            )
        )
    return rows


async def run_floor(pg_dsn: str, fake: dict[str, Any], expected: int) -> dict[str, Any]:
    import httpx
    import orjson

    base = fake["base_url"]
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute(
            "CREATE TABLE floor_events (LIKE calendar_events INCLUDING DEFAULTS INCLUDING INDEXES "
            "INCLUDING CONSTRAINTS)"
        )
        calendar_id = 1
        async with httpx.AsyncClient(timeout=60) as http:
            t0 = time.perf_counter()
            token = (
                await http.post(
                    f"{base}/token",
                    data={
                        "grant_type": "refresh_token",
                        "refresh_token": fake["refresh_token"],
                        "client_id": CLIENT_ID,
                        "client_secret": CLIENT_SECRET,
                    },
                )
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            params: dict[str, Any] = {
                "showDeleted": "true",
                "maxResults": PAGE_SIZE,
                "singleEvents": "false",
                "timeMin": (NOW - timedelta(days=120)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            rows: list[tuple] = []
            url = f"{base}/calendar/v3/calendars/{OWNER}/events"
            while True:
                answer = await http.get(url, params=params, headers=headers)
                answer.raise_for_status()
                page = orjson.loads(answer.content)
                rows += floor_rows(calendar_id, page.get("items") or [])
                if not page.get("nextPageToken"):
                    break
                params = {**params, "pageToken": page["nextPageToken"]}
            fetched = time.perf_counter()
            async with conn.transaction():
                await conn.copy_records_to_table("floor_events", records=rows, columns=FLOOR_COLUMNS)
            total = time.perf_counter() - t0
        stored = await conn.fetchval("SELECT count(*) FROM floor_events")
        if stored != expected:
            raise SystemExit(f"floor: {stored} rows stored, {expected} expected")
        return {
            "events": stored,
            "seconds": total,
            "events_per_s": stored / total,
            "fetch_s": fetched - t0,
            "write_s": total - (fetched - t0),
        }
    finally:
        await conn.close()


# -- main -------------------------------------------------------------------------------------------------------------
def _fake_stats(fake: FakeProcess, label: str) -> dict[str, Any]:
    requests = fake.ask("stats")
    fake.ask("release")
    sizes = sorted({r["maxResults"] for r in requests})
    return {
        "requests": len(requests),
        "max_results": sizes,
        "server_s": sum(r["seconds"] for r in requests),
        "params": {k: sorted({str(r[k]) for r in requests}) for k in ("showDeleted", "singleEvents")},
        "label": label,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=20260302)
    ap.add_argument("--rounds", type=int, default=2, help="alternate service and floor this many times; best counts")
    ap.add_argument("--profile", metavar="FILE", help="cProfile the service path (last round) into FILE")
    ap.add_argument("--smoke", action="store_true", help="300 events, one round, no results file (tests/bench)")
    ap.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--lookback-days", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.smoke:
        args.events, args.rounds = 300, 1

    from service.settings import SyncSettings

    lookback = args.lookback_days or SyncSettings().lookback_days
    if args.serve_fake:
        return serve_fake(args.events, args.seed, lookback)

    from service.logging import configure

    configure("WARNING")
    print(f"seeding the fake Google with {args.events} events (seed {args.seed}) …", file=sys.stderr)
    fake = FakeProcess(args.events, args.seed, lookback)
    info = fake.info
    print(f"  seeded in {info['seeded_seconds']:.1f}s: {info['kinds']}", file=sys.stderr)
    expected = info["events"]
    rounds: list[dict[str, Any]] = []
    try:
        for rnd in range(args.rounds):
            record: dict[str, Any] = {}
            pg_dsn, sa_url, drop = fresh_database()
            print(f"round {rnd + 1}: fresh database {pg_dsn.rsplit('/', 1)[1]} …", file=sys.stderr)
            try:
                profile = args.profile if args.profile and rnd == args.rounds - 1 else None
                record["service"] = asyncio.run(run_service(sa_url, info, expected, profile))
                record["service"]["fake"] = _fake_stats(fake, "service")
                record["floor"] = asyncio.run(run_floor(pg_dsn, info, expected))
                record["floor"]["fake"] = _fake_stats(fake, "floor")
            finally:
                asyncio.run(drop())
            s, f = record["service"], record["floor"]
            if s["fake"]["max_results"] != [str(PAGE_SIZE)]:
                raise SystemExit(f"the adapter asked for maxResults={s['fake']['max_results']}, not {PAGE_SIZE}")
            print(
                f"  round {rnd + 1} service {s['events_per_s']:8.0f} events/s ({s['seconds']:.2f}s: fetch "
                f"{s['fetch_s']:.2f}s of which normalize {s['normalize_s']:.2f}s, reconcile {s['reconcile_s']:.2f}s,"
                f" claim+load+commit {s['claim_load_commit_s']:.2f}s; fake {s['fake']['server_s']:.2f}s)",
                file=sys.stderr,
            )
            print(
                f"  round {rnd + 1} floor   {f['events_per_s']:8.0f} events/s ({f['seconds']:.2f}s: fetch+parse "
                f"{f['fetch_s']:.2f}s, COPY {f['write_s']:.2f}s; fake {f['fake']['server_s']:.2f}s)",
                file=sys.stderr,
            )
            rounds.append(record)
    finally:
        fake.close()

    best = {name: max((r[name] for r in rounds), key=lambda x: x["events_per_s"]) for name in ("service", "floor")}
    spread = {
        name: [min(r[name]["events_per_s"] for r in rounds), max(r[name]["events_per_s"] for r in rounds)]
        for name in ("service", "floor")
    }
    ratio = best["service"]["events_per_s"] / best["floor"]["events_per_s"]
    s, f = best["service"], best["floor"]
    print(f"\n{expected} events, one calendar, pages of {PAGE_SIZE}; best of {len(rounds)} round(s)\n")
    print("| path | events/s | seconds | fetch + parse s | DB write s | spread events/s |\n|---|---|---|---|---|---|")
    print(
        f"| service (SyncWorker + GoogleCalendarProvider) | {s['events_per_s']:.0f} | {s['seconds']:.2f} | "
        f"{s['fetch_s']:.2f} (normalize {s['normalize_s']:.2f}) | {s['reconcile_s']:.2f} + "
        f"{s['claim_load_commit_s']:.2f} | {spread['service'][0]:.0f}–{spread['service'][1]:.0f} |"
    )
    print(
        f"| floor (httpx + orjson + COPY) | {f['events_per_s']:.0f} | {f['seconds']:.2f} | {f['fetch_s']:.2f} | "
        f"{f['write_s']:.2f} | {spread['floor'][0]:.0f}–{spread['floor'][1]:.0f} |"
    )
    print(
        f"\n(the fake itself spent {s['fake']['server_s']:.2f}s / {f['fake']['server_s']:.2f}s serving the "
        f"{s['fake']['requests']} pages)"
    )
    print(f"\nservice / floor = {ratio:.2f}× (target ≥ 0.25×)")
    if args.smoke:
        return 0
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "sync.json").write_text(
        json.dumps(
            {
                "events": expected,
                "seed": args.seed,
                "page_size": PAGE_SIZE,
                "mix": info["kinds"],
                "best": best,
                "spread_events_per_s": spread,
                "ratio": ratio,
                "rounds": rounds,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
