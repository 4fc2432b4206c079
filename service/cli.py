"""`oneonone` command line: serve | worker | migrate | demo | token | people | calendars | replay | keygen."""
from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from pathlib import Path

from service import cli_calendars, eventloop
from service.settings import get_settings


def _cmd_migrate(args: argparse.Namespace) -> int:
    from service.db.migrate import upgrade

    url = args.database_url or get_settings().database_url
    upgrade(url)
    print(f"database at head: {_safe(url)}", file=sys.stderr)
    return 0


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.db.migrate import upgrade
    from service.logging import configure
    from service.runtime import build_app

    settings = get_settings()
    configure(settings.log_level, settings.log_json)
    if not args.no_migrate:
        upgrade(settings.database_url)
    # --worker/--no-worker unset: an in-process worker on SQLite only (see runtime.build_app).
    uvicorn.run(build_app(settings, worker=args.worker), host=args.host, port=args.port,
                log_level=settings.log_level.lower(), access_log=False)
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    import signal

    import structlog

    from service.clock import SystemClock
    from service.db.engine import create_engine, session_factory
    from service.logging import configure
    from service.runtime import build_worker, close_worker, run_worker
    from service.security.crypto import SecretKeyMissing

    settings = get_settings()
    configure(settings.log_level, settings.log_json)
    log = structlog.get_logger("service.worker")

    async def run() -> int:
        engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
        try:
            worker = build_worker(settings, session_factory(engine), SystemClock())
        except SecretKeyMissing as exc:
            await engine.dispose()
            print(f"error: {exc.detail}", file=sys.stderr)
            return 2
        loop, main = asyncio.get_running_loop(), asyncio.current_task()

        def on_signal(sig: signal.Signals) -> None:
            # First signal: finish the calendar in hand, hand the rest of the batch back.
            # Second: stop now; the lease expires and another worker redoes that increment.
            if worker.stopping.is_set():
                log.warning("worker_killed", signal=sig.name)
                main.cancel()
            else:
                log.info("worker_stopping", signal=sig.name)
                worker.stopping.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            synced = await run_worker(worker, once=args.once)
            if args.once:
                print(f"synced {synced} calendar(s)", file=sys.stderr)
            log.info("worker_stopped", owner=worker.owner)
            return 0
        except asyncio.CancelledError:
            return 1
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await close_worker(worker)
            await engine.dispose()

    return eventloop.run(run())


def _cmd_token(args: argparse.Namespace) -> int:
    from service.domain import api_tokens
    from service.errors import AppError

    async def run() -> int:
        async with session_scope() as (session, now):
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
            p = PersonIn.model_validate({
                "email": values["email"], "name": values["name"] or values["email"],
                "timezone": values["timezone"] or "UTC", "manager": values["manager"] or None,
                "role": values["role"] or "member",
            })
        except ValidationError as exc:
            errors += [f"line {line}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            continue
        rows.append((line, PersonRow(email=p.email, name=p.name, timezone=p.timezone, manager=p.manager,
                                     role=p.role.value)))
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
        async with session_scope() as (session, now):
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


def _cmd_demo(_args: argparse.Namespace) -> int:
    from service import demo

    async def run() -> int:
        async with session_scope() as (session, now):
            result = await demo.load(session, now)
            await session.commit()
        settings = get_settings()
        print(("loaded demo data" if result.created else "demo data already present") +
              f"\n  API:        {settings.public_base_url}/docs"
              f"\n  demo user:  {result.email} (manager of three reports)"
              f"\n  API token:  {result.token}"
              f"\n  try:       curl -H 'Authorization: Bearer {result.token}' {settings.public_base_url}/v1/pairs",
              file=sys.stderr)
        return 0

    return asyncio.run(run())


def _cmd_replay(args: argparse.Namespace) -> int:
    from service import replay

    return replay.main(args.scenario, as_json=args.json, database_url=args.database_url, explain=args.explain,
                       incremental=args.incremental, jobs=args.jobs)


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {number}")
    return number


def _cmd_keygen(_args: argparse.Namespace) -> int:
    from service.security.crypto import generate_key

    print(generate_key())
    return 0


class session_scope:
    """A session and the current time for one CLI command."""

    async def __aenter__(self):
        from service.clock import SystemClock
        from service.db.engine import create_engine, session_factory

        self.engine = create_engine(get_settings().database_url)
        self.session = session_factory(self.engine)()
        return self.session, SystemClock().now()

    async def __aexit__(self, *exc):
        await self.session.close()
        await self.engine.dispose()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oneonone", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="run the JSON API (and, on SQLite, an in-process worker)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--no-migrate", action="store_true", help="do not apply migrations first")
    p.add_argument("--worker", action=argparse.BooleanOptionalAction, default=None,
                   help="run a sync worker in the server process (default: on SQLite only; on PostgreSQL "
                        "run `oneonone worker` processes)")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("worker", help="run a calendar sync worker (until SIGTERM/SIGINT)")
    p.add_argument("--once", action="store_true", help="sync everything due, then exit")
    p.set_defaults(func=_cmd_worker)

    p = sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    p.add_argument("--database-url")
    p.set_defaults(func=_cmd_migrate)

    p = sub.add_parser("demo", help="load demo data and print a demo API token")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("token", help="create, list or revoke API tokens")
    tsub = p.add_subparsers(dest="action", required=True)
    t = tsub.add_parser("create", help="create a token for a person (printed once)")
    t.add_argument("--email", required=True)
    t.add_argument("--name", default="cli")
    t = tsub.add_parser("list", help="list a person's tokens")
    t.add_argument("--email", required=True)
    t = tsub.add_parser("revoke", help="revoke a token by its prefix")
    t.add_argument("prefix")
    p.set_defaults(func=_cmd_token)

    p = sub.add_parser("people", help="manage people and reporting lines")
    psub = p.add_subparsers(dest="action", required=True)
    t = psub.add_parser("import", help="import people from CSV (email,name,timezone,manager,role)")
    t.add_argument("file", type=Path)
    p.set_defaults(func=_cmd_people_import)

    cli_calendars.add_parser(sub)

    p = sub.add_parser("replay", help="replay a scenario through the real sync pipeline")
    p.add_argument("scenario", type=Path)
    p.add_argument("--json", action="store_true", help="print oneonone-replay/1")
    p.add_argument("--database-url", help="PostgreSQL server to use (a throw-away database is created there)")
    p.add_argument("--explain", action="store_true", help="show the events and changes behind each finding")
    p.add_argument("--incremental", action="store_true",
                   help="also run the detector after each instant's syncs, as a running service does after "
                        "each sync (slower; the result at `now` is the same)")
    p.add_argument("--jobs", type=_positive_int, metavar="N",
                   help="replay in N processes, each syncing a share of the calendars (default: one per core, "
                        "up to 4, for timelines of 1,000 entries or more; else 1)")
    p.set_defaults(func=_cmd_replay)

    p = sub.add_parser("keygen", help="print a new secret key for ONEONONE_SECRET_KEY")
    p.set_defaults(func=_cmd_keygen)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
