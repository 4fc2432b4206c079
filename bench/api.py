"""API throughput: the full service vs a bare FastAPI+asyncpg endpoint, same run.

    make bench-api        (or: .venv/bin/python bench/api.py --duration 10)
    .venv/bin/python bench/api.py --smoke      (1 s per target, built-in client: tests/bench)

Seeds a scratch PostgreSQL database (bench/pg.py) with a meeting that has 10 agenda
items, open action items and notes; starts the service (`service.runtime:app_factory`,
what each `oneonone serve --workers N` process runs, in one uvicorn worker: auth,
authorization, ORM, serialization) and the bare endpoint (bench/bare_app.py) one
after the other on loopback, each with a pool of the service's default size
(`db_pool_size`; `--pool-size`); drives each with the same load (wrk if installed,
else — or with `--tool python` — a built-in asyncio HTTP/1.1 keep-alive client), 32
connections by default; prints requests/s, p50 and p99 of both and their ratios
(targets: throughput ≥ 0.8× the bare endpoint's, p99 ≤ 2×), and beside the meeting
detail the week view (`GET /v1/meetings?from&to` of a manager with 8 reports, 16
meetings: target `week`, its figures as ratios to the detail's); writes
bench/results/api.json (not with --smoke, whose figures mean nothing)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import pg  # noqa: E402
from service.db.migrate import upgrade  # noqa: E402
from service.security.tokens import hash_token, new_token  # noqa: E402
from service.settings import Settings  # noqa: E402

THROUGHPUT_TARGET = 0.8  # service req/s ≥ 0.8 × the bare endpoint's
P99_TARGET = 2.0  # service p99 ≤ 2 × the bare endpoint's, at 32 connections


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WEEK_REPORTS = 8  # the week view's manager has this many reports, two 1:1s each that week
WEEK = (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC))


async def seed(dsn: str) -> tuple[int, int, str, str]:
    """Returns (meeting id, caller person id, caller token, the manager's token)."""
    now = datetime(2026, 3, 2, 9, tzinfo=UTC)
    conn = await asyncpg.connect(dsn)
    try:

        async def person(email, manager_id=None):
            return await conn.fetchval(
                "INSERT INTO people (email, name, timezone, manager_id, role, created_at, updated_at) "
                "VALUES ($1, $2, 'Europe/Berlin', $3, 'member', $4, $4) RETURNING id",
                email,
                email.split("@")[0].title(),
                manager_id,
                now,
            )

        manager = await person("maya@acme.test")
        report = await person("li@acme.test", manager)
        pair = await conn.fetchval(
            "INSERT INTO pairs (manager_id, report_id, active, cadence, cadence_days, created_at, updated_at) "
            "VALUES ($1, $2, true, 'weekly', 7, $3, $3) RETURNING id",
            manager,
            report,
            now,
        )
        meeting = await conn.fetchval(
            'INSERT INTO meetings (pair_id, title, original_start, start, "end", status, created_at, updated_at) '
            "VALUES ($1, '1:1', $2, $2, $3, 'scheduled', $4, $4) RETURNING id",
            pair,
            now + timedelta(days=1),
            now + timedelta(days=1, minutes=30),
            now,
        )
        for i in range(12):  # 10 visible to the caller + 2 private ones of the manager
            author = report if i % 2 == 0 else manager
            private = i >= 10
            await conn.execute(
                "INSERT INTO agenda_items (meeting_id, author_id, body, private, position, done, created_at, "
                "updated_at) VALUES ($1, $2, $3, $4, $5, false, $6, $6)",
                meeting,
                manager if private else author,
                f"Talking point {i}: " + "x" * 80,
                private,
                i,
                now,
            )
        for i in range(3):
            await conn.execute(
                "INSERT INTO action_items (pair_id, meeting_id, owner_id, body, created_at, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, $5)",
                pair,
                meeting,
                report,
                f"Action {i}",
                now,
            )
        await conn.execute(
            "INSERT INTO shared_notes (meeting_id, body, version, updated_by, updated_at) VALUES ($1, $2, 3, $3, $4)",
            meeting,
            "Shared notes " * 20,
            manager,
            now,
        )
        await conn.execute(
            "INSERT INTO private_notes (meeting_id, author_id, body, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $4)",
            meeting,
            report,
            "My private thoughts",
            now,
        )
        # The week view: the manager's 8 pairs (Li's and 7 more), two 1:1s each this week
        # with a shared and a private talking point, an open action item and a rating.
        pairs = [pair]
        for n in range(WEEK_REPORTS - 1):
            other = await person(f"report{n}@acme.test", manager)
            pairs.append(
                await conn.fetchval(
                    "INSERT INTO pairs (manager_id, report_id, active, cadence, cadence_days, created_at, updated_at) "
                    "VALUES ($1, $2, true, 'weekly', 7, $3, $3) RETURNING id",
                    manager,
                    other,
                    now,
                )
            )
        for n, pair_id in enumerate(pairs):
            for day in (0, 3):
                start = WEEK[0] + timedelta(days=day, hours=9 + n)
                week_meeting = await conn.fetchval(
                    'INSERT INTO meetings (pair_id, title, original_start, start, "end", status, created_at, '
                    "updated_at) VALUES ($1, '1:1', $2, $2, $3, 'scheduled', $4, $4) RETURNING id",
                    pair_id,
                    start,
                    start + timedelta(minutes=30),
                    now,
                )
                for private in (False, True):
                    await conn.execute(
                        "INSERT INTO agenda_items (meeting_id, author_id, body, private, position, done, "
                        "created_at, updated_at) VALUES ($1, $2, 'Point', $3, 0, false, $4, $4)",
                        week_meeting,
                        manager,
                        private,
                        now,
                    )
                await conn.execute(
                    "INSERT INTO feedback (meeting_id, person_id, rating, comment, created_at, updated_at) "
                    "VALUES ($1, $2, 4, '', $3, $3)",
                    week_meeting,
                    manager,
                    now,
                )
            await conn.execute(
                "INSERT INTO action_items (pair_id, owner_id, body, created_at, updated_at) "
                "VALUES ($1, $2, 'Follow up', $3, $3)",
                pair_id,
                manager,
                now,
            )

        async def token_of(person_id: int) -> str:
            token = new_token()
            await conn.execute(
                "INSERT INTO api_tokens (person_id, name, token_hash, prefix, created_at) "
                "VALUES ($1, 'bench', $2, $3, $4)",
                person_id,
                hash_token(token),
                token[:10],
                now,
            )
            return token

        return meeting, report, await token_of(report), await token_of(manager)
    finally:
        await conn.close()


def start_server(app: str, port: int, env: dict[str, str], factory: bool = False) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    if factory:
        cmd.append("--factory")
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{app} did not start")


def run_wrk(url: str, headers: dict[str, str], duration: int, connections: int) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} non-2xx responses")
    return {"rps": rps, "p50_ms": pct("50"), "p99_ms": pct("99")}


async def _python_load(
    host: str, port: int, path: str, headers: dict[str, str], duration: float, connections: int
) -> dict[str, float]:
    """A minimal keep-alive HTTP/1.1 client: cheap enough to not be the bottleneck."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    ).encode()
    latencies: list[float] = []
    stop = time.monotonic() + duration

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"{path}: {head.splitlines()[0].decode()}")
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
        writer.close()

    t_start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.monotonic() - t_start
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def pick_tool(wanted: str) -> str:
    """`wrk` or `python` (the built-in client); `auto`: wrk if installed."""
    if wanted == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if wanted == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed")
    return wanted


def load(
    tool: str, port: int, path: str, headers: dict[str, str], duration: float, connections: int
) -> dict[str, float]:
    if tool == "wrk":
        return run_wrk(f"http://127.0.0.1:{port}{path}", headers, max(1, round(duration)), connections)
    return asyncio.run(_python_load("127.0.0.1", port, path, headers, duration, connections))


def measure(pg_dsn: str, args: argparse.Namespace, tool: str) -> dict[str, dict[str, float]]:
    """Each target's best round."""
    sa_url = pg.sqlalchemy_url(pg_dsn)
    print(f"migrating {pg_dsn.rsplit('/', 1)[1]} …", file=sys.stderr)
    upgrade(sa_url)
    meeting_id, person_id, token, manager_token = asyncio.run(seed(pg_dsn))
    service_env = {
        "ONEONONE_DATABASE_URL": sa_url,
        "ONEONONE_LOG_LEVEL": "WARNING",
        "ONEONONE_DB_POOL_SIZE": str(args.pool_size),
    }
    week = f"from={WEEK[0].isoformat().replace('+00:00', 'Z')}&to={WEEK[1].isoformat().replace('+00:00', 'Z')}"

    targets = {
        "service": (
            "service.runtime:app_factory",
            True,
            f"/v1/meetings/{meeting_id}",
            {"Authorization": f"Bearer {token}"},
            service_env,
        ),
        # the week view beside the meeting detail: a manager's 16 meetings over 8 pairs
        "week": (
            "service.runtime:app_factory",
            True,
            f"/v1/meetings?{week}",
            {"Authorization": f"Bearer {manager_token}"},
            service_env,
        ),
        "bare": (
            "bench.bare_app:app",
            False,
            f"/bare/meetings/{meeting_id}?person_id={person_id}",
            {},
            {"BENCH_PG_DSN": pg_dsn, "BENCH_POOL_SIZE": str(args.pool_size)},
        ),
    }
    results: dict[str, dict[str, float]] = {}
    print(
        f"load: {tool}, {args.connections} connections, {args.duration}s × {args.rounds} rounds each, "
        f"pools of {args.pool_size}",
        file=sys.stderr,
    )
    for rnd in range(args.rounds):
        for name, (app, factory, path, headers, env) in targets.items():
            port = free_port()
            proc = start_server(app, port, env, factory)
            try:
                load(tool, port, path, headers, args.warmup, args.connections)
                r = load(tool, port, path, headers, args.duration, args.connections)
            finally:
                proc.terminate()
                proc.wait(10)
            print(
                f"  round {rnd + 1} {name:8s} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.2f} ms  "
                f"p99 {r['p99_ms']:6.2f} ms",
                file=sys.stderr,
            )
            if name not in results or r["rps"] > results[name]["rps"]:
                results[name] = r
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10, help="seconds of load per target and round")
    ap.add_argument("--warmup", type=float, default=2, help="seconds of load before each measurement")
    ap.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    ap.add_argument(
        "--pool-size",
        type=int,
        default=Settings.model_fields["db_pool_size"].default,
        help="database connections of each target (default: the service's default, %(default)s)",
    )
    ap.add_argument("--rounds", type=int, default=2, help="alternate targets this many times; best round counts")
    ap.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto", help="load generator")
    ap.add_argument(
        "--smoke", action="store_true", help="one 1 s round, built-in client, no results file (tests/bench)"
    )
    args = ap.parse_args()
    if args.smoke:
        args.duration, args.warmup, args.connections, args.rounds, args.tool = 1, 0.3, 4, 1, "python"
    tool = pick_tool(args.tool)

    pg_dsn, drop = asyncio.run(pg.scratch())
    try:
        results = measure(pg_dsn, args, tool)
    finally:
        asyncio.run(drop())
    service, bare, week = results["service"], results["bare"], results["week"]
    ratios = {
        "rps": service["rps"] / bare["rps"],
        "p50": service["p50_ms"] / bare["p50_ms"],
        "p99": service["p99_ms"] / bare["p99_ms"],
    }
    week_ratios = {
        "rps": week["rps"] / service["rps"],
        "p50": week["p50_ms"] / service["p50_ms"],
        "p99": week["p99_ms"] / service["p99_ms"],
    }
    print(f"\n{args.connections} connections, pools of {args.pool_size}, {tool}, best of {args.rounds} round(s)")
    print("\n| target | req/s | p50 ms | p99 ms |\n|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |")
    print(f"| service / bare | {ratios['rps']:.2f}× | {ratios['p50']:.2f}× | {ratios['p99']:.2f}× |")
    print(f"| week / service | {week_ratios['rps']:.2f}× | {week_ratios['p50']:.2f}× | {week_ratios['p99']:.2f}× |")
    print(
        f"\nthroughput {ratios['rps']:.2f}× the bare endpoint's (target ≥ {THROUGHPUT_TARGET:.2f}×), "
        f"p99 {ratios['p99']:.2f}× (target ≤ {P99_TARGET:.2f}×)"
    )
    print(
        f"week view (GET /v1/meetings?from&to, {WEEK_REPORTS} pairs, {2 * WEEK_REPORTS} meetings): "
        f"{week_ratios['rps']:.2f}× the meeting detail's throughput, p99 {week_ratios['p99']:.2f}×"
    )
    if args.smoke:
        return 0
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    report = {
        "tool": tool,
        "connections": args.connections,
        "pool_size": args.pool_size,
        "results": results,
        "ratio": ratios["rps"],
        "ratios": ratios,
        "week_ratios": week_ratios,
    }
    (out / "api.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
