"""Calendar connections: who granted us read access to which calendar, and how.

- `connect_user`: a person's own OAuth consent (the calendars API's callback).
- `connect_org`: org-wide access an admin grants once (`oneonone calendars
  connect-all`): a Google service account with domain-wide delegation, or an
  Entra app with Calendars.Read; one calendar per person, each due for a full sync.
- `disconnect`: the calendar stops syncing and its push channels are retired.

Grants are stored Fernet-encrypted (service.security.crypto.Vault); nothing here
returns or logs them. Flushes, never commits: the caller owns the transaction.
Provider I/O (code exchange, channel stops) happens at the edges, outside."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import Calendar, CalendarConnection, Person, PushChannel, SyncRequest
from service.domain.calendar_states import STALLED_AFTER, CalendarState, explain, stalled
from service.errors import AppError, Conflict
from service.security.crypto import Vault

PROVIDERS = ("google", "microsoft")
Progress = Callable[[int, int], None]  # (done, total)


class AccountMismatch(AppError):
    """The account that consented is not the person's own: connecting it would file
    someone else's calendar under this person (and a leaked state could be used to
    plant an attacker's calendar on a victim)."""

    status, title, slug = 403, "Calendar account mismatch", "calendar-account-mismatch"


# -- errors shown to people ----------------------------------------------------------------------
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_BEARER = re.compile(r"\bbearer\s+\S+", re.IGNORECASE)
_OPAQUE = re.compile(r"[A-Za-z0-9_\-~+/=]{32,}")  # tokens, keys, delta links' tokens
MAX_ERROR = 300


def sanitize_error(text: str | None) -> str | None:
    """`last_error` as the API and CLI show it. Adapters already keep secrets out
    of their messages; this is the second line: no URLs (cursors carry tokens), no
    bearer values, no long opaque strings, bounded length."""
    if not text:
        return None
    text = _URL.sub("<url>", text)
    text = _BEARER.sub("Bearer <redacted>", text)
    text = _OPAQUE.sub("<redacted>", text)
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


# -- a person's own consent ---------------------------------------------------------------------------
def _new_calendar(
    person_id: int,
    connection_id: int,
    provider: str,
    account: str,
    time_zone: str | None,
    now: datetime,
    provider_user_id: str | None = None,
) -> dict:
    # next_poll_at None: the first worker round syncs it in full.
    return dict(
        person_id=person_id,
        connection_id=connection_id,
        provider=provider,
        external_id=account,
        provider_user_id=provider_user_id,
        time_zone=time_zone,
        status=CalendarState.active.value,
        failures=0,
        created_at=now,
        updated_at=now,
    )


async def _request_sync(session: AsyncSession, calendar_ids: list[int], now: datetime) -> None:
    """Ask the workers for a sync (they look within a second; service.sync.queue)."""
    if calendar_ids:
        await session.execute(
            insert(SyncRequest), [{"calendar_id": i, "requested_at": now} for i in sorted(calendar_ids)]
        )


_STUCK = (CalendarState.needs_reconnect.value, CalendarState.backing_off.value)


def _revive(calendar: Calendar, connection_id: int, now: datetime) -> None:
    """Back to active on `connection_id`, its failures forgotten (a sync still running on
    the old grant commits first or finds a request newer than its claim)."""
    calendar.connection_id, calendar.status, calendar.status_reason = connection_id, CalendarState.active.value, None
    calendar.failures, calendar.failing_since, calendar.backoff_until = 0, None, None
    calendar.last_error = calendar.last_error_at = None
    calendar.channel_failures, calendar.channel_retry_at, calendar.updated_at = 0, None, now
    calendar.lease_owner = calendar.lease_expires_at = None


async def connect_user(
    session: AsyncSession,
    vault: Vault,
    *,
    person: Person,
    provider: str,
    account: str,
    refresh_token: str,
    scopes: str,
    now: datetime,
) -> Calendar:
    """Store `person`'s grant and make their calendar sync. Idempotent: a reconnect
    replaces the grant and revives the calendar (history, meetings and content kept)."""
    account = account.strip().lower()
    if account != person.email:
        raise AccountMismatch(
            f"you signed in to {provider} as {account}, but this account is {person.email}: "
            "connect the calendar of your own address"
        )
    calendar = await session.scalar(
        select(Calendar).where(Calendar.provider == provider, Calendar.external_id == account).with_for_update()
    )
    if calendar is not None and calendar.person_id != person.id:
        raise Conflict(f"this {provider} calendar is connected to another person")
    connection = await session.scalar(
        select(CalendarConnection)
        .where(
            CalendarConnection.provider == provider,
            CalendarConnection.kind == "user",
            CalendarConnection.person_id == person.id,
        )
        .order_by(CalendarConnection.id)
        .limit(1)
        .with_for_update()
    )
    if connection is None:
        connection = CalendarConnection(provider=provider, kind="user", person_id=person.id, created_at=now)
        session.add(connection)
    connection.secret_encrypted = vault.encrypt(refresh_token)
    connection.scopes, connection.status, connection.last_error, connection.updated_at = scopes, "active", None, now
    await session.flush()
    if calendar is None:
        calendar = Calendar(**_new_calendar(person.id, connection.id, provider, account, person.timezone, now))
        session.add(calendar)
    else:
        _revive(calendar, connection.id, now)
    await session.flush()
    await _request_sync(session, [calendar.id], now)
    return calendar


# -- org-wide access ------------------------------------------------------------------------------------
@dataclass
class OrgConnectResult:
    connection_id: int
    connection_created: bool
    matched: int  # people in scope (all, the domain's, or the listed ones)
    created: int  # calendars created (due: the workers sync them)
    already: int  # in scope but already with a calendar on this provider
    revived: int  # of those, calendars that were failing, now on this grant and active again
    unknown: list[str] = field(default_factory=list)  # listed emails naming nobody
    # With a directory (`resolve`): people it does not know (their calendar is still
    # made, under their email, and fails until they exist), people whose account is
    # already another calendar's, and existing calendars given their account and id.
    unresolved: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    updated: int = 0


# Emails → (the provider's account for each: its address now, its immutable id); people
# the provider's directory does not know are left out.
Resolve = Callable[[list[str]], Awaitable[Mapping[str, tuple[str, str]]]]


async def connect_org(
    session: AsyncSession,
    vault: Vault,
    *,
    provider: str,
    secret: str,
    now: datetime,
    tenant: str | None = None,
    domain: str | None = None,
    emails: Iterable[str] | None = None,
    scopes: str = "",
    progress: Progress | None = None,
    chunk: int = 1000,
    resolve: Resolve | None = None,
) -> OrgConnectResult:
    """One org grant per (provider, tenant), re-used and re-keyed when run again, and a
    calendar for every person in scope without one on `provider`. A person's calendar
    that needs a reconnect or is backing off moves to this grant and is tried again;
    one that is active, or disabled by its owner, is left alone.

    `resolve` (the provider's directory): each calendar's external_id is the account's
    address as the provider knows it (Google: the primary email, which an alias or a
    renamed person's old address is not) and provider_user_id its immutable id; this
    grant's existing calendars are brought up to date too."""
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}")
    tenant_clause = CalendarConnection.tenant == tenant if tenant else CalendarConnection.tenant.is_(None)
    connection = await session.scalar(
        select(CalendarConnection)
        .where(CalendarConnection.provider == provider, CalendarConnection.kind == "org", tenant_clause)
        .order_by(CalendarConnection.id)
        .limit(1)
        .with_for_update()
    )
    created_connection = connection is None
    if connection is None:
        connection = CalendarConnection(provider=provider, kind="org", tenant=tenant, created_at=now)
        session.add(connection)
    connection.secret_encrypted = vault.encrypt(secret)
    connection.scopes, connection.status, connection.last_error, connection.updated_at = scopes, "active", None, now
    await session.flush()

    people = (await session.execute(select(Person.id, Person.email, Person.timezone).order_by(Person.id))).all()
    unknown: list[str] = []
    if domain:
        suffix = "@" + domain.strip().lower().lstrip("@")
        people = [p for p in people if p.email.endswith(suffix)]
    if emails is not None:
        wanted = {e.strip().lower() for e in emails if e.strip()}
        unknown = sorted(wanted - {p.email for p in people})
        people = [p for p in people if p.email in wanted]
    accounts = dict(await resolve([p.email for p in people])) if resolve is not None else {}
    existing = (await session.scalars(select(Calendar).where(Calendar.provider == provider))).all()
    taken = {c.person_id for c in existing}
    taken_accounts = {c.external_id for c in existing}
    in_scope = {p.id for p in people}
    stuck = [c for c in existing if c.person_id in in_scope and c.status in _STUCK]
    for calendar in stuck:  # the org grant may read what their own grant no longer could
        _revive(calendar, connection.id, now)
    await session.flush()
    await _request_sync(session, [c.id for c in stuck], now)
    updated = await _update_accounts(session, connection.id, provider, people, accounts, taken_accounts, now)
    todo, duplicates = [], []
    for p in people:
        if p.id in taken:
            continue
        account, user_id = accounts.get(p.email, (p.email, None))
        if account in taken_accounts:
            if account != p.email:
                duplicates.append(p.email)
            continue
        taken_accounts.add(account)
        todo.append(_new_calendar(p.id, connection.id, provider, account, p.timezone, now, user_id))
    for start in range(0, len(todo), chunk):
        batch = todo[start : start + chunk]
        await session.execute(insert(Calendar), batch)
        if progress is not None:
            progress(start + len(batch), len(todo))
    return OrgConnectResult(
        connection_id=connection.id,
        connection_created=created_connection,
        matched=len(people),
        created=len(todo),
        revived=len(stuck),
        already=len(people) - len(todo) - len(duplicates),
        unknown=unknown,
        unresolved=sorted(p.email for p in people if resolve is not None and p.email not in accounts),
        duplicates=duplicates,
        updated=updated,
    )


async def retry(
    session: AsyncSession, now: datetime, *, person_ids: Iterable[int] | None = None, provider: str | None = None
) -> int:
    """Try failing calendars again now (backing off, or needing a reconnect), each on its
    own grant: after fixing something at the provider. Returns how many."""
    query = select(Calendar).where(Calendar.status.in_(_STUCK)).with_for_update()
    if person_ids is not None:
        query = query.where(Calendar.person_id.in_(list(person_ids)))
    if provider is not None:
        query = query.where(Calendar.provider == provider)
    calendars = (await session.scalars(query)).all()
    for calendar in calendars:
        _revive(calendar, calendar.connection_id, now)
    await session.flush()
    await _request_sync(session, [c.id for c in calendars], now)
    return len(calendars)


async def _update_accounts(
    session: AsyncSession,
    connection_id: int,
    provider: str,
    people: list,
    accounts: Mapping[str, tuple[str, str]],
    taken_accounts: set[str],
    now: datetime,
) -> int:
    """This grant's calendars of people in scope get their account's current address and
    id (a rename since, an alias stored before), unless another calendar has that address."""
    if not accounts:
        return 0
    email_of = {p.id: p.email for p in people}
    rows = await session.execute(
        select(Calendar.id, Calendar.person_id, Calendar.external_id, Calendar.provider_user_id).where(
            Calendar.provider == provider, Calendar.connection_id == connection_id
        )
    )
    updated = 0
    for row in rows.all():
        account = accounts.get(email_of.get(row.person_id, ""))
        if account is None or (row.external_id, row.provider_user_id) == account:
            continue
        if account[0] != row.external_id and account[0] in taken_accounts:
            continue
        await session.execute(
            update(Calendar)
            .where(Calendar.id == row.id)
            .values(external_id=account[0], provider_user_id=account[1], updated_at=now)
        )
        taken_accounts.discard(row.external_id)
        taken_accounts.add(account[0])
        updated += 1
    return updated


# -- disconnecting ----------------------------------------------------------------------------------------
async def disconnect(session: AsyncSession, calendar: Calendar, now: datetime) -> list[PushChannel]:
    """Stop syncing `calendar` and retire its live channels here (webhooks ignore them
    from now on). Returns those channels: the caller stops them at the provider,
    best effort, once this is committed. The grant itself is kept (not revoked)."""
    calendar.status, calendar.status_reason, calendar.updated_at = CalendarState.disabled.value, "disconnected", now
    channels = list(
        (
            await session.scalars(
                select(PushChannel).where(PushChannel.calendar_id == calendar.id, PushChannel.stopped_at.is_(None))
            )
        ).all()
    )
    for channel in channels:
        channel.stopped_at = now
    await session.flush()
    return channels


# -- reading ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CalendarView:
    """A calendar as shown to people: sync state, never a grant or a cursor."""

    id: int
    person_id: int
    email: str
    provider: str
    account: str
    connection: str
    status: str
    reason: str | None  # why it needs a reconnect or is disabled, in words
    retry_at: datetime | None  # backing off, or probing a calendar that needs a reconnect: the next try
    failing_since: datetime | None
    stalled: bool  # backing off for over a day: someone should look
    sync_pending: bool
    last_synced_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    channel_expires_at: datetime | None
    created_at: datetime


async def list_calendars(
    session: AsyncSession,
    *,
    person_id: int | None = None,
    provider: str | None = None,
    status: str | None = None,
    calendar_id: int | None = None,
    after_id: int | None = None,
    limit: int | None = None,
    stalled_only: bool = False,
    now: datetime,
) -> list[CalendarView]:
    """By id; `person_id` None: everyone's (admins, the CLI). `stalled_only`: those
    backing off for over a day."""
    query = (
        select(Calendar, CalendarConnection.kind, Person.email)
        .join(CalendarConnection, CalendarConnection.id == Calendar.connection_id)
        .join(Person, Person.id == Calendar.person_id)
        .order_by(Calendar.id)
    )
    if person_id is not None:
        query = query.where(Calendar.person_id == person_id)
    if provider is not None:
        query = query.where(Calendar.provider == provider)
    if status is not None:
        query = query.where(Calendar.status == status)
    if stalled_only:
        query = query.where(
            Calendar.status == CalendarState.backing_off.value, Calendar.failing_since < now - STALLED_AFTER
        )
    if calendar_id is not None:
        query = query.where(Calendar.id == calendar_id)
    if after_id is not None:
        query = query.where(Calendar.id > after_id)
    if limit is not None:
        query = query.limit(limit)
    rows = (await session.execute(query)).all()
    ids = [c.id for c, _kind, _email in rows]
    expiry = await _channel_expiry(session, ids)
    pending = set(
        (await session.scalars(select(SyncRequest.calendar_id).where(SyncRequest.calendar_id.in_(ids)))).all()
    )
    return [
        CalendarView(
            id=c.id,
            person_id=c.person_id,
            email=email,
            provider=c.provider,
            account=c.external_id,
            connection=kind,
            status=c.status,
            reason=explain(c.status_reason),
            retry_at=c.backoff_until,
            failing_since=c.failing_since,
            stalled=stalled(c.status, c.failing_since, now),
            sync_pending=(c.id in pending or c.next_poll_at is None) and c.status != CalendarState.disabled.value,
            last_synced_at=c.last_synced_at,
            last_error=sanitize_error(c.last_error),
            last_error_at=c.last_error_at,
            channel_expires_at=expiry.get(c.id),
            created_at=c.created_at,
        )
        for c, kind, email in rows
    ]


async def _channel_expiry(session: AsyncSession, calendar_ids: list[int]) -> dict[int, datetime]:
    """The live (not stopped) channel's expiry per calendar; the latest if two overlap
    while a Google channel is being replaced."""
    if not calendar_ids:
        return {}
    rows = await session.execute(
        select(PushChannel.calendar_id, func.max(PushChannel.expires_at))
        .where(PushChannel.calendar_id.in_(calendar_ids), PushChannel.stopped_at.is_(None))
        .group_by(PushChannel.calendar_id)
    )
    return dict(rows.all())
