"""Detection at scale: 2,000 people × 12 months, against the issue's budgets.

    make bench-detect      (or: .venv/bin/python bench/detect.py --people 2000 --months 12)
    .venv/bin/python bench/detect.py --smoke     (16 people × 2 months, one round: tests/bench)

The history is bench/synthetic_org.py's (~340,000 changes for 2,000 people: a weekly
1:1 series per reporting line, a quarter on Graph with every occurrence listed,
team meetings, cancelled / moved / shortened / declined occurrences, two busy
one-off events per person per week). Measured, each the best of `--rounds`:

- detect: the pure detector over every pair (service.domain.detection.detect),
  against the 10 s budget for a full recompute;
- one pair: detect_pair's median over 20 pairs, against the 100 ms budget;
- recompute: what a running service does (service.domain.recompute.recompute) on a
  database holding the same history as event_revisions rows: read and parse the
  revisions of the events that reach the detector's window (about a third of them),
  detect, write pairs' cadence, meetings and findings. The first run writes every
  meeting; the next ones find everything as it is (idempotent). Reading the history
  alone (load_history) is shown beside it.

The database is a throw-away SQLite file, or with --postgres a scratch PostgreSQL
database (bench/pg.py). The recompute's meetings and findings must equal the pure
detector's, or the benchmark fails. Writes bench/results/detect.json (not with --smoke,
whose figures mean nothing)."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from bench import pg  # noqa: E402
from bench.synthetic_org import synthetic_org  # noqa: E402
from service.db.engine import create_engine, session_factory  # noqa: E402
from service.db.migrate import upgrade_async  # noqa: E402
from service.db.models import Calendar, CalendarConnection, EventRevision, Pair, Person  # noqa: E402
from service.domain.detection import Detection, detect, detect_pair, people_index  # noqa: E402
from service.domain.detection.rules import earliest  # noqa: E402
from service.domain.event_codec import revision  # noqa: E402
from service.domain.events import CalendarHistory, OrgPerson, Policy  # noqa: E402
from service.domain.people import PersonRow, import_people  # noqa: E402
from service.domain.recompute import load_history, recompute  # noqa: E402

BUDGET_FULL_S = 10.0
BUDGET_PAIR_S = 0.100


def timed(fn, *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


async def atimed(coro) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await coro
    return result, time.perf_counter() - started


def pure(
    history: CalendarHistory, people: list[OrgPerson], policies: list[Policy], now, rounds: int
) -> tuple[Detection, float, float]:
    runs = [timed(detect, history, people, policies, now) for _ in range(rounds)]
    detection = runs[0][0]
    index = people_index(people)
    policy = {(p.manager, p.report): p for p in policies}
    pairs = [(p.manager, p.email) for p in people[1:400:20]]
    one = statistics.median(timed(detect_pair, history, m, r, index, policy.get((m, r)), now)[1] for m, r in pairs)
    return detection, min(seconds for _, seconds in runs), one


async def load(url: str, history: CalendarHistory, people: list[OrgPerson], policies: list[Policy], now) -> int:
    """People, pairs, policies, one calendar each, and every change as a revision in
    the order the history holds them; returns how many revisions."""
    await upgrade_async(url)
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            await import_people(
                session,
                [
                    PersonRow(email=p.email, name=p.email, timezone=p.timezone or "UTC", manager=p.manager)
                    for p in people
                ],
                now,
            )
            ids = dict((await session.execute(select(Person.email, Person.id))).all())
            for policy in policies:
                pair = await session.scalar(
                    select(Pair).where(Pair.manager_id == ids[policy.manager], Pair.report_id == ids[policy.report])
                )
                pair.cadence_days = policy.cadence_days
            connection = CalendarConnection(provider="google", kind="org", scopes="", created_at=now, updated_at=now)
            session.add(connection)
            await session.flush()
            calendars = {}
            for email, person_id in ids.items():
                calendar = Calendar(
                    person_id=person_id,
                    connection_id=connection.id,
                    provider="google",
                    external_id=email,
                    created_at=now,
                    updated_at=now,
                )
                session.add(calendar)
                calendars[email] = calendar
            await session.flush()
            rows = [
                revision(
                    calendars[change.calendar].id,
                    change.event_id,
                    change.changed_at,
                    change.changed_at,
                    change.snapshot,
                )
                for changes in history.changes.values()
                for change in changes
            ]
            for i in range(0, len(rows), 5000):
                await session.execute(insert(EventRevision), rows[i : i + 5000])
            await session.commit()
        return len(rows)
    finally:
        await engine.dispose()


async def stored(url: str, emails: set[str], now, rounds: int) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        history_s = []
        for _ in range(rounds):
            async with sessions() as session:
                history, seconds = await atimed(load_history(session, emails, since=earliest(now)))
                history_s.append(seconds)
        runs = []
        for _ in range(rounds + 1):  # the first writes every meeting; the others change nothing
            async with sessions() as session:
                detection, seconds = await atimed(recompute(session, now))
                await session.commit()
            runs.append((detection, seconds))
        return {
            "detection": runs[0][0],
            "first_s": runs[0][1],
            "again_s": min(s for _, s in runs[1:]),
            "history_s": min(history_s),
            "read": sum(len(changes) for changes in history.changes.values()),
        }
    finally:
        await engine.dispose()


def same(a: Detection, b: Detection) -> bool:
    return set(a.meetings) == set(b.meetings) and set(a.findings) == set(b.findings)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    print(f"building {args.people} people × {args.months} months of history …", file=sys.stderr)
    (history, people, policies, now), build_s = timed(synthetic_org, args.people, args.months)
    changes = sum(len(v) for v in history.changes.values())
    print(f"  {changes} changes in {build_s:.1f}s", file=sys.stderr)
    detection, detect_s, pair_s = pure(history, people, policies, now, args.rounds)
    print(f"detect {detect_s:.2f}s, one pair {pair_s * 1000:.1f} ms", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="oneonone-bench-") as folder:
        drop = None
        if args.postgres:
            dsn, drop = await pg.scratch()
            url = pg.sqlalchemy_url(dsn)
        else:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'detect.db'}"
        try:
            revisions, load_s = await atimed(load(url, history, people, policies, now))
            print(f"stored {revisions} revisions in {load_s:.1f}s; recomputing …", file=sys.stderr)
            db = await stored(url, {p.email for p in people}, now, args.rounds)
        finally:
            if drop is not None:
                await drop()
    if not same(db["detection"], detection):
        raise SystemExit("the database-backed recompute disagrees with the pure detector")
    return {
        "people": args.people,
        "months": args.months,
        "changes": changes,
        "revisions": revisions,
        "database": "postgresql" if args.postgres else "sqlite",
        "pairs": len(detection.pairs),
        "meetings": len(detection.meetings),
        "findings": len(detection.findings),
        "detect_s": detect_s,
        "one_pair_s": pair_s,
        "recompute_first_s": db["first_s"],
        "recompute_again_s": db["again_s"],
        "load_history_s": db["history_s"],
        "revisions_read": db["read"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=2000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=2, help="best of this many runs of each step")
    ap.add_argument("--postgres", action="store_true", help="store the history in PostgreSQL, not SQLite")
    ap.add_argument(
        "--smoke", action="store_true", help="16 people × 2 months, one round, no results file (tests/bench)"
    )
    args = ap.parse_args()
    if args.smoke:
        args.people, args.months, args.rounds = 16, 2, 1

    from service.logging import configure

    configure("WARNING")
    r = asyncio.run(main_async(args))
    print(
        f"\n{r['people']} people × {r['months']} months: {r['changes']} changes, {r['pairs']} pairs, "
        f"{r['meetings']} meetings in the window, {r['findings']} findings; best of {args.rounds}\n"
    )
    print("| step | seconds | budget | × budget |\n|---|---|---|---|")
    print(
        f"| detect (pure, every pair) | {r['detect_s']:.2f} | {BUDGET_FULL_S:.0f} | "
        f"{r['detect_s'] / BUDGET_FULL_S:.2f}× |"
    )
    print(
        f"| one pair (median of 20) | {r['one_pair_s']:.4f} | {BUDGET_PAIR_S} | "
        f"{r['one_pair_s'] / BUDGET_PAIR_S:.2f}× |"
    )
    print(
        f"| recompute on {r['database']}, first (writes every meeting) | {r['recompute_first_s']:.2f} | "
        f"{BUDGET_FULL_S:.0f} | {r['recompute_first_s'] / BUDGET_FULL_S:.2f}× |"
    )
    print(
        f"| recompute on {r['database']}, again (nothing changes) | {r['recompute_again_s']:.2f} | "
        f"{BUDGET_FULL_S:.0f} | {r['recompute_again_s'] / BUDGET_FULL_S:.2f}× |"
    )
    print(
        f"| reading the history alone (load_history: {r['revisions_read']} of the {r['revisions']} revisions) | "
        f"{r['load_history_s']:.2f} | | |"
    )
    if args.smoke:
        return 0
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "detect.json").write_text(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
