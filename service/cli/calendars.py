"""`oneonone calendars connect-all | list`: org-wide calendar access, and what syncs.

connect-all stores one org grant (Fernet-encrypted with ONEONONE_SECRET_KEY) and
a calendar, marked for a full sync, for every person in scope who has none on
that provider; workers (`oneonone worker`, or `oneonone serve` on SQLite) then
sync them. The grant is not tried here: a wrong key or secret shows up as each
calendar's `error` status and `last_error` after the first sync (`calendars list`).

Google with --admin-email: each person is looked up in the Workspace directory as
that admin (domain-wide delegation of admin.directory.user.readonly, besides
calendar.readonly), and their calendar stored under the primary address Google
impersonates and the user's immutable id; the admin is stored with the grant, so
the workers find a renamed user again by that id."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from service.cli.context import command_session
from service.settings import Settings, get_settings

PUBLIC_TENANTS = ("common", "organizations", "consumers")  # multi-tenant authorities: no app-only tokens
LARGE = 1000  # progress lines on stderr from this many calendars on
GOOGLE_DIRECTORY_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"


class UsageError(Exception):
    """A problem with the command's input: printed as `error: …`, exit status 2."""


def _google_secret(args: argparse.Namespace, settings: Settings) -> tuple[str, str | None]:
    path = args.service_account_file or settings.google.service_account_file
    if not path:
        raise UsageError("--service-account-file is required (or ONEONONE_GOOGLE__SERVICE_ACCOUNT_FILE)")
    try:
        key = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    except ValueError:
        raise UsageError(f"{path} is not JSON: expected a service-account key file") from None
    # Checked field by field, never echoed: the file holds a private key.
    if (
        not isinstance(key, dict)
        or key.get("type") != "service_account"
        or not all(isinstance(key.get(k), str) and key[k] for k in ("client_email", "private_key"))
    ):
        raise UsageError(f"{path} is not a service-account key (type service_account, client_email, private_key)")
    domain = (args.domain or "").strip().lower() or None
    admin = (args.admin_email or "").strip().lower()
    if not admin:
        return json.dumps(key, separators=(",", ":")), domain
    if "@" not in admin or any(c.isspace() for c in admin):
        raise UsageError(f"--admin-email {args.admin_email!r} is not an email address")
    # Stored with the key: the adapter reads the directory as this admin when a user moves.
    grant = {"service_account_key": key, "directory_admin": admin}
    return json.dumps(grant, separators=(",", ":")), domain


def _microsoft_secret(args: argparse.Namespace, settings: Settings) -> tuple[str, str | None]:
    ms = settings.microsoft
    tenant = (args.tenant or "").strip() or (ms.tenant_id if ms.tenant_id.lower() not in PUBLIC_TENANTS else "")
    client_id = args.client_id or ms.client_id
    secret = args.client_secret or ms.client_secret.get_secret_value()
    if tenant.lower() in PUBLIC_TENANTS:
        raise UsageError(
            f"--tenant {tenant} is a multi-tenant authority: app-only access needs the organisation's "
            "Entra tenant id (its GUID or its .onmicrosoft.com domain)"
        )
    if not tenant:
        raise UsageError("--tenant is required: the Entra tenant id (app-only access is per tenant)")
    if not client_id:
        raise UsageError("--client-id is required (or ONEONONE_MICROSOFT__CLIENT_ID)")
    if not secret:
        raise UsageError(
            "--client-secret is required (or ONEONONE_MICROSOFT__CLIENT_SECRET, which keeps it out of the process list)"
        )
    return json.dumps({"tenant_id": tenant, "client_id": client_id, "client_secret": secret}), tenant


def _read_emails(path: Path) -> list[str]:
    """One address per line; blank lines and `#` comments skipped."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {getattr(exc, 'strerror', None) or type(exc).__name__}") from None
    emails: list[str] = []
    bad: list[int] = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip().strip(",").strip()
        if not text:
            continue
        if "@" in text and not any(c.isspace() for c in text):
            emails.append(text.lower())
        else:
            bad.append(number)
    if bad:
        raise UsageError(f"{path}: not an email address on line(s) {', '.join(map(str, bad[:10]))}")
    if not emails:
        raise UsageError(f"{path}: no email addresses")
    return emails


def _progress(done: int, total: int) -> None:
    if total >= LARGE:
        print(f"connect-all: {done}/{total} calendars", file=sys.stderr, flush=True)


def cmd_connect_all(args: argparse.Namespace) -> int:
    from service.domain.connections import connect_org
    from service.security.crypto import SecretKeyMissing, Vault

    settings = get_settings()
    try:
        vault = Vault(settings.secret_key.get_secret_value())
    except SecretKeyMissing as exc:
        print(
            f"error: {exc.detail}. The grant is stored encrypted with it; set the same key for the "
            "workers and the API.",
            file=sys.stderr,
        )
        return 2
    try:
        if args.admin_email and args.provider != "google":
            raise UsageError("--admin-email is for --provider google (the Workspace directory)")
        secret, tenant = (_google_secret if args.provider == "google" else _microsoft_secret)(args, settings)
        emails = _read_emails(args.emails) if args.emails else None
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scopes = {
        "google": "https://www.googleapis.com/auth/calendar.readonly"
        + (f" {GOOGLE_DIRECTORY_SCOPE}" if args.admin_email else ""),
        "microsoft": "https://graph.microsoft.com/.default",
    }[args.provider]

    async def run():
        directory = _directory(args.provider, settings) if args.admin_email else None

        async def resolve(people: list[str]) -> dict[str, tuple[str, str]]:
            found = await directory.resolve(secret, people)
            return {email: (account.address, account.user_id) for email, account in found.items()}

        try:
            async with command_session() as (session, now):
                result = await connect_org(
                    session,
                    vault,
                    provider=args.provider,
                    secret=secret,
                    now=now,
                    tenant=tenant,
                    domain=args.domain,
                    emails=emails,
                    scopes=scopes,
                    progress=_progress,
                    resolve=resolve if directory is not None else None,
                )
                await session.commit()
        finally:
            if directory is not None:
                await directory.aclose()
        return result

    from service.sync.port import ProviderError

    try:
        result = asyncio.run(run())
    except ProviderError as exc:  # messages name the operation, status and reason only
        print(f"error: the Workspace directory could not be read as {args.admin_email}: {exc}", file=sys.stderr)
        return 1
    scope = (
        " and ".join(
            filter(
                None, [f"in {args.domain}" if args.domain else "", f"listed in {args.emails}" if args.emails else ""]
            )
        )
        or "in the directory"
    )
    print(
        f"{args.provider}: org connection {result.connection_id} "
        f"({'created' if result.connection_created else 'updated'})"
        f"\n  people {scope}: {result.matched}"
        f"\n  calendars created: {result.created} (syncing: `oneonone worker`, or `oneonone serve` on SQLite)"
        f"\n  already connected on {args.provider}: {result.already}"
        f"\n  of those, failing ones moved to this grant and tried again: {result.revived}"
    )
    if args.admin_email:
        print(f"  existing calendars given their account's primary address and id: {result.updated}")
    for label, emails_ in (
        ("unknown emails (import them first)", result.unknown),
        ("not in the Workspace directory (connected under their email: they sync once they exist)", result.unresolved),
        ("skipped: their account is already another person's calendar", result.duplicates),
    ):
        if emails_:
            shown = ", ".join(emails_[:10]) + (" …" if len(emails_) > 10 else "")
            print(f"  {label}: {len(emails_)}: {shown}")
    return 0


def _directory(provider: str, settings: Settings):
    from service.clock import SystemClock
    from service.sync.registry import build_directory

    return build_directory(provider, settings, SystemClock())


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def cmd_list(args: argparse.Namespace) -> int:
    from service.domain.connections import list_calendars

    async def run() -> int:
        from service.domain.people import get_by_email

        async with command_session() as (session, now):
            person_id = None
            if args.email:
                person = await get_by_email(session, args.email.strip().lower())
                if person is None:
                    print(f"error: no person with email {args.email}", file=sys.stderr)
                    return 1
                person_id = person.id
            print("id\temail\tprovider\tgrant\tstatus\tlast synced\tchannel expires\tretry at\twhy")
            after = None
            while True:  # in pages: an org can have tens of thousands
                page = await list_calendars(
                    session,
                    person_id=person_id,
                    provider=args.provider,
                    status=args.status,
                    after_id=after,
                    limit=1000,
                    stalled_only=args.stalled,
                    now=now,
                )
                for c in page:
                    status = c.status + (" (stalled)" if c.stalled else "") + (" (pending)" if c.sync_pending else "")
                    print(
                        f"{c.id}\t{c.email}\t{c.provider}\t{c.connection}\t{status}\t{_when(c.last_synced_at)}\t"
                        f"{_when(c.channel_expires_at)}\t{_when(c.retry_at)}\t{c.reason or c.last_error or ''}"
                    )
                if len(page) < 1000:
                    return 0
                after = page[-1].id

    return asyncio.run(run())


def cmd_retry(args: argparse.Namespace) -> int:
    from service.domain.connections import retry
    from service.domain.people import get_by_email

    async def run() -> int:
        async with command_session() as (session, now):
            person_ids = None
            if args.email:
                people = [await get_by_email(session, e.strip().lower()) for e in args.email]
                missing = [e for e, p in zip(args.email, people) if p is None]
                if missing:
                    print(f"error: no person with email {', '.join(missing)}", file=sys.stderr)
                    return 1
                person_ids = [p.id for p in people]
            count = await retry(session, now, person_ids=person_ids, provider=args.provider)
            await session.commit()
        print(f"{count} calendar(s) will be tried again by the workers", file=sys.stderr)
        return 0

    return asyncio.run(run())


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calendars", help="connect calendars org-wide, list calendars and their sync state")
    csub = p.add_subparsers(dest="action", required=True)
    c = csub.add_parser(
        "connect-all",
        help="org-wide access: one grant, a calendar for everyone in scope",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("--provider", required=True, choices=("google", "microsoft"), help="whose calendars to connect")
    c.add_argument(
        "--service-account-file",
        help="google: the service account's JSON key (domain-wide delegation of calendar.readonly)",
    )
    c.add_argument(
        "--admin-email",
        help="google: a Workspace admin to act as for Directory lookups (delegate "
        "admin.directory.user.readonly too): each person's primary address and immutable id are stored, "
        "so people known here by an alias, or renamed later, keep syncing",
    )
    c.add_argument("--tenant", help="microsoft: the Entra tenant id")
    c.add_argument("--client-id", help="microsoft: the app (client) id, with Calendars.Read application permission")
    c.add_argument("--client-secret", help="microsoft: the app's secret (prefer ONEONONE_MICROSOFT__CLIENT_SECRET)")
    c.add_argument("--domain", help="only people whose email is in this domain (google: also the grant's domain)")
    c.add_argument("--emails", type=Path, help="only the people listed in this file, one email a line")
    c.set_defaults(func=cmd_connect_all)
    c = csub.add_parser("list", help="calendars and their sync state (no secrets)")
    c.add_argument("--provider", choices=("google", "microsoft"), help="only this provider's calendars")
    c.add_argument(
        "--status",
        choices=("active", "backing_off", "needs_reconnect", "disabled"),
        help="only calendars in this state",
    )
    c.add_argument("--stalled", action="store_true", help="only calendars backing off for over a day")
    c.add_argument("--email", help="only this person's calendars")
    c.set_defaults(func=cmd_list)
    c = csub.add_parser("retry", help="try failing calendars again now (after fixing something at the provider)")
    who = c.add_mutually_exclusive_group(required=True)
    who.add_argument("--all", action="store_true", help="every calendar backing off or needing a reconnect")
    who.add_argument("--email", action="append", help="this person's calendars (repeatable)")
    c.add_argument("--provider", choices=("google", "microsoft"), help="only this provider's calendars")
    c.set_defaults(func=cmd_retry)
