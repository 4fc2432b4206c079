"""`oneonone healthcheck`: the container's HEALTHCHECK, for every role of the one image.

It probes the process it runs beside, on the port the settings give (the same settings
that process listens by): the API's `/readyz` (database reachable and migrated), a
worker's `/healthz`. Without `--role` it takes the role from the container's main
process (PID 1's command line: `oneonone worker` → worker); a one-shot `migrate` has
nothing to probe. Exit status 0: healthy; 1: not. Only the standard library is used
(urllib), so a probe every few seconds costs little."""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from pathlib import Path

from service.settings import Settings, get_settings

ROLES = ("api", "worker", "migrate")
_COMMAND_ROLES = {"serve": "api", "worker": "worker", "migrate": "migrate"}


def role_from_cmdline(argv: list[str]) -> str | None:
    """The role of a process run as `… oneonone COMMAND …` (the console script, or
    `python -m service.cli`), or None: not oneonone, or no command known."""
    for i, word in enumerate(argv):
        if Path(word).name == "oneonone" or word == "service.cli":
            command = next((w for w in argv[i + 1 :] if not w.startswith("-")), None)
            return _COMMAND_ROLES.get(command or "")
    return None


def container_role() -> str | None:
    try:
        raw = Path("/proc/1/cmdline").read_bytes()
    except OSError:  # not Linux, or no access
        return None
    return role_from_cmdline([part.decode(errors="replace") for part in raw.split(b"\0") if part])


def _probe_host(host: str) -> str:
    """Where to reach a server listening on `host` from the same machine."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def health_url(settings: Settings, role: str, port: int | None = None) -> str | None:
    """The address that says whether a process of `role` is healthy; None: it serves none."""
    if role == "api":
        return f"http://{_probe_host(settings.api.host)}:{port or settings.api.port}/readyz"
    if role == "worker":  # its own listener (`/healthz`, `/metrics`); port 0: none
        worker_port = port or settings.worker.http_port
        return f"http://{_probe_host(settings.worker.http_host)}:{worker_port}/healthz" if worker_port else None
    return None


def _cmd_healthcheck(args: argparse.Namespace) -> int:
    settings = get_settings()
    role = args.role or container_role() or "api"
    url = health_url(settings, role, args.port)
    if url is None:
        print(f"{role}: no health endpoint to probe; healthy while the process runs", file=sys.stderr)
        return 0
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            status, body = response.status, response.read(2000)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(2000)
    except (OSError, ValueError) as exc:  # refused, timed out, unreachable
        print(f"unhealthy: {url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: {url} answered {status}: {body.decode(errors='replace')}", file=sys.stderr)
        return 1
    print(f"healthy: {url}", file=sys.stderr)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "healthcheck",
        help="probe this machine's API (/readyz) or worker (/healthz); exit 0 when healthy (container HEALTHCHECK)",
    )
    p.add_argument(
        "--role",
        choices=ROLES,
        help="what to probe (default: the role of the container's main process, else api)",
    )
    p.add_argument("--port", type=int, help="port to probe (default: ONEONONE_API__PORT for the API)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for an answer (default: 3)")
    p.set_defaults(func=_cmd_healthcheck)
