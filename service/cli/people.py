"""`oneonone demo | token | people`: the people the service knows and their API tokens."""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from pathlib import Path

from service.cli.context import command_session
from service.settings import get_settings


def _cmd_demo(_args: argparse.Namespace) -> int:
    from service import demo
    from service.logging import configure

    settings = get_settings()
    # The replay's log lines go to stderr, and only warnings: stdout is the token alone,
    # so that `TOKEN=$(oneonone demo)` captures it.
    configure("WARNING", settings.log_json)

    async def run() -> int:
        async with command_session() as (session, now):
            result = await demo.load(session, now)
            await session.commit()
        print(
            ("loaded demo data" if result.created else "demo data already present")
            + f" (as of {result.as_of:%Y-%m-%d %H:%M} UTC; the calendars are disconnected: "
            "`oneonone serve --sandbox` keeps them live)"
            f"\n  demo user:  {result.email} (manager of three reports)"
            f'\n  try:        curl -H "Authorization: Bearer $TOKEN" {settings.public_base_url}/v1/pairs',
            file=sys.stderr,
        )
        print(result.token, flush=True)
        return 0

    return asyncio.run(run())


def _cmd_token(args: argparse.Namespace) -> int:
    from service.domain import api_tokens
    from service.errors import AppError

    async def run() -> int:
        async with command_session() as (session, now):
            try:
                if args.action == "create":
                    token = await api_tokens.create(session, args.email, args.name, now)
                    await session.commit()
                    print(token)
                elif args.action == "revoke":
                    n = await api_tokens.revoke(session, args.prefix, now)
                    await session.commit()
                    print(f"revoked {n} token(s)", file=sys.stderr)
                    if n == 0:
                        return 1
                else:
                    for row in await api_tokens.list_for(session, args.email):
                        state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
                        print(f"{row.prefix}…\t{row.name}\tcreated {row.created_at:%Y-%m-%d}\t{state}")
            except AppError as exc:
                print(f"error: {exc.detail}", file=sys.stderr)
                return 1
        return 0

    return asyncio.run(run())


PEOPLE_COLUMNS = ("email", "name", "timezone", "manager", "role")


def _read_people_csv(path: Path) -> tuple[list, list[str]]:
    """Rows of a people CSV, validated like the API's import body; or the errors,
    one per offending line (line 1 is the header)."""
    from pydantic import ValidationError

    from service.api.schemas.people import PersonIn
    from service.domain.people import PersonRow

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:  # -sig: spreadsheets write a BOM
            reader = csv.DictReader(fh)
            header = [h.strip().lower() for h in reader.fieldnames or []]
            if "email" not in header:
                return [], [f"line 1: header must name the columns {','.join(PEOPLE_COLUMNS)} (no 'email' column)"]
            reader.fieldnames = header
            records = [(reader.line_num, r) for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return [], [f"cannot read {path}: {exc}"]
    rows, errors = [], []
    for line, r in records:
        values = {k: (r.get(k) or "").strip() for k in PEOPLE_COLUMNS}
        try:
            p = PersonIn.model_validate(
                {
                    "email": values["email"],
                    "name": values["name"] or values["email"],
                    "timezone": values["timezone"] or "UTC",
                    "manager": values["manager"] or None,
                    "role": values["role"] or "member",
                }
            )
        except ValidationError as exc:
            errors += [f"line {line}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            continue
        rows.append(
            (line, PersonRow(email=p.email, name=p.name, timezone=p.timezone, manager=p.manager, role=p.role.value))
        )
    return rows, errors


def _cmd_people_import(args: argparse.Namespace) -> int:
    from service.domain.people import import_people
    from service.errors import ValidationFailed

    numbered, errors = _read_people_csv(args.file)
    if not errors and not numbered:
        errors = [f"{args.file}: no people to import"]
    if errors:
        print("error: nothing was imported", file=sys.stderr)
        for err in errors:
            print(f"  {err}", file=sys.stderr)
        return 2
    lines = [line for line, _row in numbered]

    async def run() -> int:
        async with command_session() as (session, now):
            try:
                result = await import_people(session, [row for _line, row in numbered], now)
            except ValidationFailed as exc:
                print(f"error: {exc.detail}", file=sys.stderr)
                for err in exc.extra["errors"]:
                    print(f"  line {lines[err['row']]}: {err['field']}: {err['message']}", file=sys.stderr)
                return 2
            await session.commit()
        print(f"imported: {result.created} created, {result.updated} updated", file=sys.stderr)
        return 0

    return asyncio.run(run())


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="load demo data into the configured database; print a demo API token (alone on stdout)"
    )
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("token", help="create, list or revoke API tokens")
    tsub = p.add_subparsers(dest="action", required=True)
    t = tsub.add_parser("create", help="create a token for a person (printed once)")
    t.add_argument("--email", required=True, help="the person the token authenticates as")
    t.add_argument("--name", default="cli", help="a label to tell the person's tokens apart (default: %(default)s)")
    t = tsub.add_parser("list", help="list a person's tokens")
    t.add_argument("--email", required=True, help="whose tokens to list")
    t = tsub.add_parser("revoke", help="revoke a token by its prefix")
    t.add_argument("prefix", help="the token's prefix, as `token list` shows it")
    p.set_defaults(func=_cmd_token)

    p = sub.add_parser("people", help="manage people and reporting lines")
    psub = p.add_subparsers(dest="action", required=True)
    t = psub.add_parser("import", help="import people from CSV (email,name,timezone,manager,role)")
    t.add_argument("file", type=Path, help="a CSV file with a header row")
    p.set_defaults(func=_cmd_people_import)
