"""`oneonone sandbox cancel|decline|move|shorten`: change the next occurrence of
someone's 1:1 in a running `oneonone serve --sandbox`, through its
`POST /sandbox/{change}` (service.live.routes). Where the server is and its demo
token come from `<dir>/demo.env`, which the server writes, unless given."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CHANGES = {
    "cancel": "cancel it (the organizer's and every attendee's copy)",
    "decline": "decline it as --email (an attendee, not the organizer)",
    "move": "move it by --minutes (default 60; negative: earlier)",
    "shorten": "shorten it to --minutes long (default 20)",
}


def read_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def _cmd_change(args: argparse.Namespace) -> int:
    import httpx

    url, token = args.url, args.token
    if url is None or token is None:
        env_file = args.dir / "demo.env"
        try:
            env = read_env(env_file)
        except OSError:
            print(f"error: no {env_file}: is `oneonone serve --sandbox` running (make run)?", file=sys.stderr)
            return 2
        url, token = url or env.get("URL"), token or env.get("TOKEN")
    body = {"email": args.email, "with": args.with_, "minutes": args.minutes}
    try:
        response = httpx.post(
            f"{url.rstrip('/')}/sandbox/{args.change}",
            json={k: v for k, v in body.items() if v is not None},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        print(f"error: {url}: {exc}", file=sys.stderr)
        return 2
    if response.status_code != 200:
        try:
            detail = response.json().get("detail") or response.text
        except ValueError:
            detail = response.text
        # A server without the sandbox has no such route: its 404 says just "Not Found".
        hint = " (is this server running with --sandbox?)" if detail == "Not Found" else ""
        print(f"error: {response.status_code}: {detail}{hint}", file=sys.stderr)
        return 1
    done = response.json()
    if args.json:
        print(json.dumps(done, indent=2))
    else:
        copies = ", ".join(f"{op['provider']} {c}" for op in done["ops"] for c in op["calendars"])
        print(
            f"{args.change}: {done['summary']} at {done['start']} ({copies}); {done['notifications']} notification(s)"
        )
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sandbox", help="change a calendar in a running `oneonone serve --sandbox` (make run)")
    changes = p.add_subparsers(dest="change", required=True, metavar="CHANGE")
    for change, what in CHANGES.items():
        c = changes.add_parser(change, help=f"the next 1:1 of --email: {what}")
        c.add_argument("--email", required=True, help="whose 1:1 (e.g. priya.sharma@acme.test)")
        c.add_argument(
            "--next",
            action="store_true",
            required=True,
            help="the next occurrence, starting after the sandbox's now (the only one that can be picked)",
        )
        c.add_argument(
            "--with", dest="with_", metavar="EMAIL", help="the other participant (default: --email's manager)"
        )
        if change in ("move", "shorten"):
            c.add_argument("--minutes", type=int, help=what.split("--minutes ")[-1])
        c.add_argument("--dir", type=Path, default=Path(".oneonone"), help="the server's --sandbox-dir")
        c.add_argument("--url", help="the server (default: URL in <dir>/demo.env)")
        c.add_argument("--token", help="an API token (default: TOKEN in <dir>/demo.env)")
        c.add_argument("--json", action="store_true", help="print the change as JSON")
        c.set_defaults(func=_cmd_change, minutes=None)
