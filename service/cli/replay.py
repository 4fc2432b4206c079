"""`oneonone replay`: a scenario through the real sync pipeline (service.replay)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_replay(args: argparse.Namespace) -> int:
    from service import replay

    return replay.main(
        args.scenario,
        as_json=args.json,
        database_url=args.database_url,
        explain=args.explain,
        incremental=args.incremental,
        jobs=args.jobs,
    )


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {number}")
    return number


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay a scenario through the real sync pipeline")
    p.add_argument("scenario", type=Path, help="a oneonone-scenario/1 JSON file")
    p.add_argument("--json", action="store_true", help="print oneonone-replay/1")
    p.add_argument("--database-url", help="PostgreSQL server to use (a throw-away database is created there)")
    p.add_argument("--explain", action="store_true", help="show the events and changes behind each finding")
    p.add_argument(
        "--incremental",
        action="store_true",
        help="also run the detector after each instant's syncs, as a running service does after "
        "each sync (slower; the result at `now` is the same)",
    )
    p.add_argument(
        "--jobs",
        type=_positive_int,
        metavar="N",
        help="replay in N processes, each syncing a share of the calendars (default: one per core, "
        "up to 4, for timelines of 1,000 entries or more; else 1)",
    )
    p.set_defaults(func=_cmd_replay)
