"""A long replay split across processes (`oneonone replay --jobs N`).

A replay is one event loop under one GIL: it keeps one core busy. A shard is a
whole replay (harness.py) in a process of its own, with its own database, fake
Google/Graph servers and webhook server, that connects only some people's
calendars. Every shard applies the whole timeline to its providers but syncs
only its own calendars, and those at the very instants the single replay
syncs them: a timeline entry names the calendars it changes, nothing else
notifies, so a calendar's synced history depends on its own entries alone.

The other shards' synced calendars and revisions are then merged into the first
shard's database, and the detector runs there at `now`, as it does at the end
of a single replay: the result is the same document, in a fraction of the time
on a machine with cores to spare."""
from __future__ import annotations

import asyncio
import multiprocessing
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from service.db.engine import create_engine, session_factory
from service.db.models import Calendar, CalendarConnection, EventRevision, Person
from service.domain.detection import Detection
from service.domain.recompute import recompute
from service.replay.harness import Harness, throwaway_database
from service.replay.validate import instant

Progress = Callable[[str], None]
_INSERT_CHUNK = 2000


def partition(scenario: dict[str, Any], jobs: int) -> list[list[str]]:
    """People split into at most `jobs` groups of about equal work (one plus the
    timeline entries naming their calendar each). Groups are contiguous runs of
    the org chart's depth-first order, so a manager mostly shares a shard with
    their reports, and the instants of a 1:1's changes are replayed by one shard."""
    people = scenario["org"]["people"]
    emails = [p["email"].lower() for p in people]
    known = set(emails)
    reports: dict[str | None, list[str]] = {}
    for p in people:
        manager = (p.get("manager") or "").lower()
        reports.setdefault(manager if manager in known else None, []).append(p["email"].lower())
    order: list[str] = []
    seen: set[str] = set()
    stack = list(reversed(reports.get(None, [])))
    while stack:
        email = stack.pop()
        if email in seen:
            continue
        seen.add(email)
        order.append(email)
        stack.extend(reversed(reports.get(email, [])))
    order += [e for e in emails if e not in seen]   # reporting cycles: validation allows none, but stay total
    weight = dict.fromkeys(order, 1)
    for entry in scenario.get("timeline") or []:
        for calendar in entry["calendars"]:
            weight[calendar.lower()] = weight.get(calendar.lower(), 0) + 1
    jobs = max(1, min(jobs, len(order)))
    total, done = sum(weight[e] for e in order), 0
    groups: list[list[str]] = [[] for _ in range(jobs)]
    for email in order:
        # The group whose share of the total this person's work is centred in.
        middle = 2 * done + weight[email]            # twice the centre, to stay in integers
        groups[min(jobs - 1, (middle * jobs - 1) // (2 * total))].append(email)
        done += weight[email]
    return [g for g in groups if g]


async def replay_in_shards(scenario: dict[str, Any], *, jobs: int, database_url: str | None,
                           progress: Progress) -> Detection:
    """The scenario replayed by up to `jobs` processes, detected over their merged history."""
    groups = partition(scenario, jobs)
    progress(f"replay: {len(groups)} shards of {', '.join(str(len(g)) for g in groups)} people, "
             f"one process each")
    async with AsyncExitStack() as databases:
        urls = []
        for _ in groups:
            url, drop = await throwaway_database(database_url)
            databases.push_async_callback(drop)
            urls.append(url)
        loop = asyncio.get_running_loop()
        # spawn: the shards start clean, not as forks of a process with threads and a running loop.
        with ProcessPoolExecutor(len(groups), mp_context=multiprocessing.get_context("spawn")) as pool:
            await asyncio.gather(*(
                loop.run_in_executor(pool, _shard_process, scenario, group, url, f"replay [shard {i}/{len(groups)}]")
                for i, (group, url) in enumerate(zip(groups, urls), start=1)))
        return await detect_merged(scenario, urls, progress)


def _shard_process(scenario: dict[str, Any], emails: list[str], url: str, label: str) -> None:
    from service import eventloop
    from service.logging import configure

    configure("WARNING")
    eventloop.run(replay_shard(scenario, emails, url, label))


async def replay_shard(scenario: dict[str, Any], emails: list[str], url: str, label: str) -> None:
    """A shard: the replay of these people's calendars into the database at `url`."""
    def progress(message: str) -> None:
        print(message.replace("replay:", f"{label}:", 1), file=sys.stderr, flush=True)

    started = time.monotonic()
    async with Harness(scenario, database_url=url, keep=True, incremental=False, calendars=emails,
                       progress=progress) as harness:
        await harness.connect()
        await harness.timeline(label)
        await harness.settle()
    progress(f"replay: synced in {time.monotonic() - started:.1f} s")


async def detect_merged(scenario: dict[str, Any], urls: list[str],
                        progress: Progress = lambda _message: None) -> Detection:
    """The other shards' histories merged into the first one's database (which
    already holds the org), and the detector at `now` there."""
    engine = create_engine(urls[0])
    try:
        async with session_factory(engine)() as session:
            started = time.monotonic()
            merged = await _merge(session, urls[1:], instant(scenario["start"], "start"))
            progress(f"replay: {merged} revisions merged in {time.monotonic() - started:.1f} s")
            started = time.monotonic()
            detection = await recompute(session, instant(scenario["now"], "now"))
            await session.commit()
            progress(f"replay: detected in {time.monotonic() - started:.1f} s")
        return detection
    finally:
        await engine.dispose()


async def _merge(session, sources: list[str], now: datetime) -> int:
    """The shards' calendars and revisions (what the detector reads), shard by shard,
    each calendar's revisions in the order they were written (the order the
    detector reads them in); returns how many revisions."""
    people = dict((await session.execute(select(Person.email, Person.id))).all())
    connections: dict[str, int] = {}
    merged = 0
    for url in sources:
        engine = create_engine(url)
        try:
            async with engine.connect() as source:
                ids: dict[int, int] = {}   # the shard's calendar id → the merged one
                for row in (await source.execute(select(Calendar.__table__, Person.email.label("email"))
                                                 .join(Person, Person.id == Calendar.person_id)
                                                 .order_by(Calendar.id))).mappings():
                    values = {k: v for k, v in row.items() if k not in ("id", "email")}
                    values.update(person_id=people[row["email"]],
                                  connection_id=await _connection(session, connections, row["provider"], now))
                    ids[row["id"]] = (await session.execute(
                        insert(Calendar).values(**values).returning(Calendar.id))).scalar_one()
                revisions = await source.stream(select(EventRevision.__table__).order_by(EventRevision.id)
                                                .execution_options(yield_per=_INSERT_CHUNK))
                async for chunk in revisions.mappings().partitions():
                    await session.execute(insert(EventRevision.__table__), [
                        {**{k: v for k, v in row.items() if k != "id"}, "calendar_id": ids[row["calendar_id"]]}
                        for row in chunk])
                    merged += len(chunk)
        finally:
            await engine.dispose()
    return merged


async def _connection(session, connections: dict[str, int], provider: str, now: datetime) -> int:
    """The provider's org grant for merged calendars: the shard's own, or one without a
    secret (nothing syncs in the merged database)."""
    if provider not in connections:
        found = await session.scalar(select(CalendarConnection.id).where(
            CalendarConnection.provider == provider, CalendarConnection.kind == "org").limit(1))
        connections[provider] = found or (await session.execute(insert(CalendarConnection).values(
            provider=provider, kind="org", scopes="calendar.readonly", created_at=now, updated_at=now)
            .returning(CalendarConnection.id))).scalar_one()
    return connections[provider]
