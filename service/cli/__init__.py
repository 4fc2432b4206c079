"""`oneonone` command line: serve | worker | migrate | keygen | healthcheck | demo | token |
people | calendars | replay | sandbox. One module per family of commands; each adds its parsers."""

from __future__ import annotations

import argparse

from service import __version__
from service.cli import calendars, health, people, replay, sandbox, server


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oneonone", description="oneonone: keeps manager-employee 1:1s healthy.")
    parser.add_argument("--version", action="version", version=f"oneonone {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for family in (server, health, people, calendars, replay, sandbox):
        family.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
