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
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from service.db.dialect import throwaway_database
from service.db.engine import create_engine, session_factory
from service.db.models import Calendar, CalendarConnection, EventRevision, Person
from service.domain.detection import Detection
from service.domain.recompute import recompute
from service.replay.harness import Harness
from service.replay.validate import instant

Progress = Callable[[str], None]
_INSERT_CHUNK = 2000


def partition(scenario: dict[str, Any], jobs: int) -> list[list[str]]:
    """People split into at most `jobs` groups of about equal work (one plus the
    timeline entries naming their calendar each). Groups are contiguous runs of
    the org chart's depth-first order, so a manager mostly shares a shard with
    their reports, and the instants of a 1:1's changes are replayed by one shard."""
    managers = {p["email"].lower(): (p.get("manager") or "").lower() or None for p in scenario["org"]["people"]}
    reports: dict[str | None, list[str]] = {}
    for email, manager in managers.items():
        reports.setdefault(manager, []).append(email)
    order: list[str] = []
    stack = list(reversed(reports.get(None, [])))
    while stack:  # one manager each: from the roots, nobody is met twice
        email = stack.pop()
        order.append(email)
        stack.extend(reversed(reports.get(email, [])))
    reached = set(order)
    order += [e for e in managers if e not in reached]  # no root reaches them: a reporting cycle, a manager not listed
    weight = dict.fromkeys(order, 1)
    for entry in scenario.get("timeline") or []:
        for calendar in entry["calendars"]:  # validated: each calendar named is a person's
            weight[calendar.lower()] += 1
    jobs = max(1, min(jobs, len(order)))
    total, done = sum(weight[e] for e in order), 0
    groups: list[list[str]] = [[] for _ in range(jobs)]
    for email in order:
        # The group whose share of the total this person's work is centred in.
        middle = 2 * done + weight[email]  # twice the centre, to stay in integers
        groups[min(jobs - 1, (middle * jobs - 1) // (2 * total))].append(email)
        done += weight[email]
    return [g for g in groups if g]


Shard = tuple[list[str], str, str]  # a shard's people, its database's URL, its progress label
ShardRunner = Callable[[dict[str, Any], list[Shard]], Awaitable[None]]


async def replay_in_shards(
    scenario: dict[str, Any], *, jobs: int, database_url: str | None, progress: Progress, run: ShardRunner | None = None
) -> Detection:
    """The scenario replayed by up to `jobs` shards, detected over their merged history.
    `run`: how the shards run (default: side by side, a process each)."""
    groups = partition(scenario, jobs)
    progress(f"replay: {len(groups)} shards of {', '.join(str(len(g)) for g in groups)} people, one process each")
    async with AsyncExitStack() as databases:
        shards = []
        for i, group in enumerate(groups, start=1):
            url, drop = await throwaway_database(database_url)
            databases.push_async_callback(drop)
            shards.append((group, url, f"replay [shard {i}/{len(groups)}]"))
        await (run or in_processes)(scenario, shards)
        return await _detect_merged(scenario, [url for _group, url, _label in shards], progress)


async def in_processes(scenario: dict[str, Any], shards: list[Shard]) -> None:
    loop = asyncio.get_running_loop()
    # spawn: the shards start clean, not as forks of a process with threads and a running loop.
    with ProcessPoolExecutor(len(shards), mp_context=multiprocessing.get_context("spawn")) as pool:
        await asyncio.gather(*(loop.run_in_executor(pool, _shard_process, scenario, *shard) for shard in shards))


def _shard_process(scenario: dict[str, Any], emails: list[str], url: str, label: str) -> None:
    from service import eventloop
    from service.logging import configure

    configure("WARNING")
    eventloop.run(replay_shard(scenario, emails, url, label))


async def replay_shard(scenario: dict[str, Any], emails: list[str], url: str, label: str) -> None:
    """A shard: the replay of these people's calendars into the database at `url`."""

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.monotonic()
    async with Harness(
        scenario, database_url=url, keep=True, incremental=False, calendars=emails, progress=progress, label=label
    ) as harness:
        await harness.connect()
        await harness.timeline()
        await harness.settle()
    progress(f"{label}: synced in {time.monotonic() - started:.1f} s")


async def _detect_merged(
    scenario: dict[str, Any], urls: list[str], progress: Progress = lambda _message: None
) -> Detection:
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
                calendars = (
                    (
                        await source.execute(
                            select(Calendar.__table__, Person.email.label("email"))
                            .join(Person, Person.id == Calendar.person_id)
                            .order_by(Calendar.id)
                        )
                    )
                    .mappings()
                    .all()
                )
                for provider in {row["provider"] for row in calendars}:
                    await _connection(session, connections, provider, now)
                await session.execute(
                    insert(Calendar),
                    [
                        {
                            **{k: v for k, v in row.items() if k not in ("id", "email")},
                            "person_id": people[row["email"]],
                            "connection_id": connections[row["provider"]],
                        }
                        for row in calendars
                    ],
                )
                # (provider, account) is unique: the shard's calendar id → the merged one.
                accounts = [row["external_id"] for row in calendars]
                merged_ids = {
                    (provider, account): id_
                    for id_, provider, account in (
                        await session.execute(
                            select(Calendar.id, Calendar.provider, Calendar.external_id).where(
                                Calendar.external_id.in_(accounts)
                            )
                        )
                    ).all()
                }
                ids = {row["id"]: merged_ids[row["provider"], row["external_id"]] for row in calendars}
                revisions = await source.stream(
                    select(EventRevision.__table__)
                    .order_by(EventRevision.id)
                    .execution_options(yield_per=_INSERT_CHUNK)
                )
                async for chunk in revisions.mappings().partitions():
                    await session.execute(
                        insert(EventRevision.__table__),
                        [
                            {**{k: v for k, v in row.items() if k != "id"}, "calendar_id": ids[row["calendar_id"]]}
                            for row in chunk
                        ],
                    )
                    merged += len(chunk)
        finally:
            await engine.dispose()
    return merged


async def _connection(session, connections: dict[str, int], provider: str, now: datetime) -> None:
    """Note in `connections` the provider's org grant for merged calendars: the shard's
    own, or a new one without a secret (nothing syncs in the merged database)."""
    if provider not in connections:
        found = await session.scalar(
            select(CalendarConnection.id)
            .where(CalendarConnection.provider == provider, CalendarConnection.kind == "org")
            .limit(1)
        )
        connections[provider] = (
            found
            or (
                await session.execute(
                    insert(CalendarConnection)
                    .values(provider=provider, kind="org", scopes="calendar.readonly", created_at=now, updated_at=now)
                    .returning(CalendarConnection.id)
                )
            ).scalar_one()
        )
