"""`oneonone serve | worker | migrate | keygen`: running the service."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from service import eventloop
from service.settings import get_settings


def _cmd_migrate(args: argparse.Namespace) -> int:
    from service.db.migrate import upgrade
    from service.logging import configure

    settings = get_settings()
    configure(settings.log_level, settings.log_json)  # alembic's lines, JSON when asked
    url = args.database_url or settings.database_url
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
    if args.workers > 1 and (refused := _several_processes_refused(settings.database_url, args.worker)):
        print(f"error: --workers {args.workers}: {refused}", file=sys.stderr)
        return 2
    configure(settings.log_level, settings.log_json)
    # The flags win; else the settings, which `oneonone healthcheck` reads too.
    host = settings.api.host if args.host is None else args.host
    port = settings.api.port if args.port is None else args.port
    if args.sandbox:
        return _serve_sandbox(args, settings, host, port)
    if not args.no_migrate:
        upgrade(settings.database_url)  # once, before any API process starts
    options = dict(
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's lines go through our handler (service.logging): JSON when asked
        access_log=False,  # the app writes its own access line (service.api.observability)
    )
    if args.workers > 1:
        # Each process imports the factory and builds its own app, engine and pool.
        uvicorn.run("service.runtime:app_factory", factory=True, workers=args.workers, **options)
        return 0
    # --worker/--no-worker unset: an in-process worker on SQLite only (see runtime.build_app).
    uvicorn.run(build_app(settings, worker=args.worker), **options)
    return 0


def _serve_sandbox(args: argparse.Namespace, settings, host: str, port: int) -> int:
    """The API, its worker and the live sandbox (service.live.world); the demo
    database is rebuilt on each start, `--no-migrate` and `--worker` do not apply."""
    import uvicorn

    from service.live import world

    try:
        world.check_allowed(settings, allow=args.sandbox_anyway)
        sock, url = world.bind(host, port)
    except (world.SandboxRefused, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    live = None
    try:
        live = eventloop.run(world.build(settings, sock, url, args.sandbox_dir))
        config = uvicorn.Config(
            live.app(),
            log_level=settings.log_level.lower(),
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        if live is not None:
            live.stop()
        sock.close()
    return 0


def _several_processes_refused(database_url: str, worker: bool | None) -> str | None:
    """Why several API processes cannot run here, if they cannot."""
    from service.db.dialect import is_sqlite

    if is_sqlite(database_url):
        return (
            "several API processes need PostgreSQL (on SQLite they would queue for its one write lock, "
            "and the sync worker must share a process with the webhooks)"
        )
    if worker:
        return "the sync worker runs in no API process then: start `oneonone worker` processes beside them"
    return None


def _cmd_worker(args: argparse.Namespace) -> int:
    import signal

    import structlog

    from service.clock import SystemClock
    from service.db.engine import create_engine, session_factory
    from service.logging import configure
    from service.runtime import build_worker, close_worker, run_worker
    from service.security.crypto import SecretKeyMissing
    from service.worker_http import LoopWatch, ProbeServer, probe_app

    settings = get_settings()
    configure(settings.log_level, settings.log_json)
    log = structlog.get_logger("service.worker")
    host = settings.worker.http_host if args.http_host is None else args.http_host
    port = settings.worker.http_port if args.http_port is None else args.http_port

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
        probes = None
        try:
            if args.once:
                synced = await run_worker(worker, once=True)
                print(f"synced {synced} calendar(s)", file=sys.stderr)
            else:
                # Stuck: no round begun for two leases' time (a round syncs a batch, each
                # calendar's lease kept alive meanwhile by its heartbeat).
                watch = LoopWatch(worker, stale_after=2 * settings.sync.lease_seconds)
                if port:
                    probes = ProbeServer(probe_app(engine, watch), host, port, settings.log_level)
                    await probes.start()
                watch.task = asyncio.create_task(run_worker(worker), name="oneonone-worker")
                await watch.task
            log.info("worker_stopped", owner=worker.owner)
            return 0
        except asyncio.CancelledError:
            return 1
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            if probes is not None:
                await probes.stop()
            await close_worker(worker)
            await engine.dispose()

    return eventloop.run(run())


def _cmd_keygen(_args: argparse.Namespace) -> int:
    from service.security.crypto import generate_key

    print(generate_key())
    return 0


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {number}")
    return number


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the JSON API (and, on SQLite, an in-process worker)")
    p.add_argument("--host", help="address to listen on (default: ONEONONE_API__HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default: ONEONONE_API__PORT, 8000)")
    p.add_argument(
        "--sandbox",
        action="store_true",
        help="development mode: serve the demo org live, its calendars on fake Google and Outlook "
        "servers in this process (change them with `oneonone sandbox`); the demo database is "
        "rebuilt in --sandbox-dir on each start; prints URL= and TOKEN= on stdout",
    )
    p.add_argument(
        "--sandbox-dir",
        type=Path,
        default=Path(".oneonone"),
        help="where --sandbox keeps its database, development secret and demo.env (default: .oneonone)",
    )
    p.add_argument(
        "--sandbox-anyway",
        action="store_true",
        help="run --sandbox even though the configured database is not SQLite",
    )
    p.add_argument("--no-migrate", action="store_true", help="do not apply migrations first")
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="API processes sharing the port (default: %(default)s); over 1 needs PostgreSQL and runs no "
        "sync worker in them (start `oneonone worker` processes)",
    )
    p.add_argument(
        "--worker",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run a sync worker in the server process (default: on SQLite only; on PostgreSQL "
        "run `oneonone worker` processes)",
    )
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("worker", help="run a calendar sync worker (until SIGTERM/SIGINT)")
    p.add_argument("--once", action="store_true", help="sync everything due, then exit (no HTTP listener)")
    p.add_argument(
        "--http-host",
        help="address of the /healthz, /readyz and /metrics listener "
        "(default ONEONONE_WORKER__HTTP_HOST, 127.0.0.1; 0.0.0.0 in a container)",
    )
    p.add_argument(
        "--http-port",
        type=int,
        help="its port (default ONEONONE_WORKER__HTTP_PORT, 9100; 0: no listener)",
    )
    p.set_defaults(func=_cmd_worker)

    p = sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    p.add_argument("--database-url", help="the database to migrate (default: ONEONONE_DATABASE_URL)")
    p.set_defaults(func=_cmd_migrate)

    p = sub.add_parser("keygen", help="print a new secret key for ONEONONE_SECRET_KEY")
    p.set_defaults(func=_cmd_keygen)
