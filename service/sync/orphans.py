"""Graph subscriptions that notify us but are none of our push channels: their row
was lost, or never committed (the service died between creating a subscription and
recording it). Graph retries a delivery it does not get a 2xx for, for up to 4
hours, and keeps the subscription until it expires (up to ~3 days), counting it
against the mailbox's cap of about 1,000. So the webhook acknowledges such a
notification (202) and `record`s the subscription; the workers' periodic upkeep
`reap`s it: DELETE /subscriptions/{id} with a grant that can (the mailbox's
calendar's, else the tenant's org grant: Graph lets only the app, and for a
delegated subscription the user, that created it delete it).

Whatever arrives costs bounded work: only subscriptions we hold such a grant for
are recorded (two indexed look-ups per delivery that names unknown ones), at most
`MAX_PENDING` wait at a time, at most `PER_ROUND` are tried per upkeep round, each
with backoff and `MAX_ATTEMPTS`, and finished ones are forgotten after `KEEP_DONE`
(long enough to outlast Graph's retries of the same notification)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Row, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.clock import Clock
from service.db.dialect import insert_if_absent
from service.db.models import Calendar, CalendarConnection, OrphanSubscription
from service.security.crypto import Vault
from service.sync import grants
from service.sync.port import CalendarProvider, CalendarRef, Channel, ProviderError

log = structlog.get_logger(__name__)

PROVIDER = "microsoft"
MAX_PENDING = 1000  # orphans waiting at once; more are acknowledged but not recorded
PER_ROUND = 20  # DELETEs per upkeep round (the run loop's is every minute)
MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=10)  # a row being tried is left alone by other workers this long
KEEP_DONE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Orphan:
    subscription_id: str
    tenant_id: str | None
    user: str | None  # the mailbox its resource names: an object id, or an address


_orphans = OrphanSubscription.__table__
_o = _orphans.c
_calendar = Calendar.__table__.c
_connection = CalendarConnection.__table__.c
_PENDING = select(func.count()).select_from(_orphans).where(_o.done_at.is_(None))
_DUE = (
    select(_o.id, _o.subscription_id, _o.tenant_id, _o.user, _o.attempts)
    .where(_o.done_at.is_(None), or_(_o.next_attempt_at.is_(None), _o.next_attempt_at <= bindparam("now")))
    .order_by(_o.id)
    .limit(bindparam("limit"))
)
_SET = update(_orphans).where(_o.id == bindparam("row_id"))


def _users_calendars(users: set[str]):
    """Our Graph calendars of these mailboxes (named by object id or address)."""
    return select(_calendar.id, _calendar.provider_user_id, _calendar.external_id).where(
        _calendar.provider == PROVIDER,
        _calendar.status == "active",
        or_(_calendar.provider_user_id.in_(users), _calendar.external_id.in_(users)),
    )


def _org_grants(tenants: set[str]):
    return select(_connection.tenant, _connection.secret_encrypted).where(
        _connection.provider == PROVIDER, _connection.kind == "org", _connection.tenant.in_(tenants)
    )


async def record(session: AsyncSession, orphans: list[Orphan], now: datetime) -> int:
    """Note the unknown subscriptions we could delete (the caller commits); returns how many."""
    users = {o.user for o in orphans if o.user}
    tenants = {o.tenant_id for o in orphans if o.tenant_id}
    ours: set[str] = set()
    if users:
        for _id, user_id, address in await session.execute(_users_calendars(users)):
            ours.update(filter(None, (user_id, address)))
    if tenants:
        ours.update(tenant for tenant, _secret in await session.execute(_org_grants(tenants)))
    keep = [o for o in orphans if o.user in ours or o.tenant_id in ours]
    if not keep:
        return 0
    room = MAX_PENDING - (await session.scalar(_PENDING) or 0)
    rows = [
        dict(
            provider=PROVIDER,
            subscription_id=o.subscription_id,
            tenant_id=o.tenant_id,
            user=o.user,
            seen_at=now,
            attempts=0,
        )
        for o in keep[: max(room, 0)]
    ]
    if rows:
        await session.execute(insert_if_absent(session, _orphans), rows)
    return len(rows)


async def reap(
    sessions: async_sessionmaker[AsyncSession],
    providers: Mapping[str, CalendarProvider],
    vault: Vault | None,
    clock: Clock,
    *,
    limit: int = PER_ROUND,
) -> int:
    """Delete up to `limit` recorded orphans at Graph; returns how many were tried."""
    now = clock.now()
    async with sessions() as session:
        await session.execute(delete(_orphans).where(_o.done_at < now - KEEP_DONE))
        due = (await session.execute(_DUE, {"now": now, "limit": limit})).all()
        if due:
            await session.execute(_SET, [{"row_id": r.id, "next_attempt_at": now + LEASE} for r in due])
        refs = await _grants(session, due, vault) if due else {}
        await session.commit()
    if not due:
        return 0
    provider = providers.get(PROVIDER)
    results = []
    for row in due:
        results.append(await _delete(provider, refs.get(row.id), row, now))
    async with sessions() as session:
        await session.execute(_SET, results)
        await session.commit()
    return len(due)


async def _delete(provider: CalendarProvider | None, ref: CalendarRef | None, row: Row, now: datetime) -> dict:
    if provider is None or ref is None:
        outcome = "no_grant"
    else:
        try:
            await provider.stop(ref, Channel(row.subscription_id, None, now))  # gone already: fine too
            outcome = "deleted"
        except ProviderError as err:
            attempts = row.attempts + 1
            if err.transient and attempts < MAX_ATTEMPTS:
                wait = timedelta(minutes=2**attempts)
                log.info("orphan_subscription_retry", subscription_id=row.subscription_id, status=err.status)
                return _result(row, now + wait, None, None)
            outcome = "refused" if not err.transient else "failed"  # not ours to delete, or given up
    log.info("orphan_subscription", subscription_id=row.subscription_id, outcome=outcome)
    return _result(row, None, now, outcome)


def _result(row: Row, next_attempt_at: datetime | None, done_at: datetime | None, outcome: str | None) -> dict:
    return {
        "row_id": row.id,
        "attempts": row.attempts + 1,
        "next_attempt_at": next_attempt_at,
        "done_at": done_at,
        "outcome": outcome,
    }


async def _grants(session: AsyncSession, rows: list[Row], vault: Vault | None) -> dict[int, CalendarRef]:
    """For each orphan, a grant that may delete it: its mailbox's calendar's, else the
    org grant of its tenant."""
    users = {r.user for r in rows if r.user}
    by_user: dict[str, int] = {}
    if users:
        for calendar_id, user_id, address in await session.execute(_users_calendars(users)):
            for name in filter(None, (user_id, address)):
                by_user.setdefault(name, calendar_id)
    calendars = {row.id: ref for row, ref in await grants.read_calendars(session, set(by_user.values()), vault)}
    tenants = {r.tenant_id for r in rows if r.tenant_id}
    orgs: dict[str, CalendarRef] = {}
    if tenants and vault is not None:
        for tenant, secret in await session.execute(_org_grants(tenants)):
            if secret and tenant not in orgs:
                orgs[tenant] = CalendarRef(0, "", "", vault.decrypt(secret), "org")
    found = {}
    for row in rows:
        ref = calendars.get(by_user.get(row.user or "", -1)) or orgs.get(row.tenant_id or "")
        if ref is not None:
            found[row.id] = ref
    return found
