"""The delivery queue, in SQL: fan-out of new events to the endpoints subscribed,
claims with leases, and the outcome of each attempt.

Order: only the oldest undelivered delivery of an (endpoint, pair) lane is due, so a
later event for the same endpoint and pair waits while an earlier one is retried.
Events of one pair are written under the pair's row lock (the recompute locks its
pairs), so their ids follow their commits.

On PostgreSQL claims and fan-out take rows with `FOR UPDATE SKIP LOCKED`, like the
sync queue: concurrent workers never take each other's deliveries; SQLite has one
writer at a time. A worker that dies mid-delivery leaves a lease that expires; another
worker then sends the same event again, with the same `webhook-id` (at least once)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db import dialect
from service.db.models import OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from service.domain.webhook_endpoints import DELIVERED, PENDING

FAN_OUT_BATCH = 500


async def fan_out(session: AsyncSession, now: datetime, limit: int = FAN_OUT_BATCH) -> int:
    """One delivery per (new event, enabled endpoint subscribed to its type); returns how
    many events were dispatched (call again while it is `limit`)."""
    events = (
        await session.execute(
            select(OutboxEvent.id, OutboxEvent.type, OutboxEvent.pair_id)
            .where(OutboxEvent.dispatched_at.is_(None))
            .order_by(OutboxEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not events:
        return 0
    endpoints = (
        await session.execute(select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(WebhookEndpoint.enabled))
    ).all()
    rows = [
        dict(
            endpoint_id=endpoint_id,
            event_id=event.id,
            pair_id=event.pair_id,
            state=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        for event in events
        for endpoint_id, types in endpoints
        if event.type in types
    ]
    if rows:  # a redelivery may have made one already
        await session.execute(dialect.insert_if_absent(session, WebhookDelivery.__table__), rows)
    await session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id.in_([e.id for e in events]))
        .values(dispatched_at=now)
        .execution_options(synchronize_session=False)
    )
    return len(events)


# Built once (bound parameters): a worker claims each time a delivery ends, and
# building and caching the statement cost more than PostgreSQL's work on it.
_deliveries = WebhookDelivery.__table__
_d = _deliveries.c
_e = WebhookEndpoint.__table__.c
_earlier = _deliveries.alias("earlier")
_now = bindparam("now")
_waiting_behind = exists().where(
    _earlier.c.endpoint_id == _d.endpoint_id,
    _earlier.c.pair_id == _d.pair_id,
    _earlier.c.state == PENDING,
    _earlier.c.event_id < _d.event_id,
)
_DUE = (
    select(_d.id)
    .join(WebhookEndpoint.__table__, _e.id == _d.endpoint_id)
    .where(
        _d.state == PENDING,
        _e.enabled,
        _d.next_attempt_at <= _now,
        or_(_d.lease_expires_at.is_(None), _d.lease_expires_at < _now),
        ~_waiting_behind,
    )
    .order_by(_d.next_attempt_at, _d.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True, of=_deliveries)
)
_CLAIM = (
    update(_deliveries)
    .where(_d.id.in_(_DUE.scalar_subquery()))
    .values(lease_owner=bindparam("owner"), lease_expires_at=bindparam("lease_until"))
    .returning(_d.id)
)


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery_id: int
    endpoint_id: int
    url: str
    endpoint: Any  # the endpoint's secret columns (service.domain.webhook_endpoints.signing_secrets)
    attempts: int
    event_id: str
    event_type: str
    occurred_at: datetime
    payload: dict


async def claim(
    session: AsyncSession, *, owner: str, now: datetime, lease_until: datetime, limit: int
) -> list[Claimed]:
    ids = (
        await session.scalars(_CLAIM, {"now": now, "limit": limit, "owner": owner, "lease_until": lease_until})
    ).all()
    if not ids:
        return []
    rows = (
        await session.execute(
            select(WebhookDelivery, OutboxEvent, WebhookEndpoint)
            .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.id.in_(ids))
            .order_by(WebhookDelivery.id)
        )
    ).all()
    return [
        Claimed(
            delivery_id=d.id,
            endpoint_id=e.id,
            url=e.url,
            endpoint=_Secrets(e.secret_encrypted, e.previous_secret_encrypted, e.previous_secret_expires_at),
            attempts=d.attempts,
            event_id=ev.event_id,
            event_type=ev.type,
            occurred_at=ev.occurred_at,
            payload=ev.payload,
        )
        for d, ev, e in rows
    ]


@dataclass(frozen=True, slots=True)
class _Secrets:
    secret_encrypted: str
    previous_secret_encrypted: str | None
    previous_secret_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one attempt ended: `ok`, or a failure retried after `retry_in`."""

    at: datetime
    ok: bool
    status_code: int | None
    latency_ms: int
    excerpt: str | None
    error: str | None
    retry_in: timedelta = timedelta(0)


async def record(session: AsyncSession, claimed: Claimed, owner: str, attempt: Attempt, window: timedelta) -> None:
    """Log the attempt; mark the delivery done, or due again after `retry_in`; keep the
    endpoint's failing-since, and disable it once it has failed for the whole `window`.
    A delivery whose lease was lost meanwhile (redelivered, or taken over) is left as it is."""
    session.add(
        WebhookAttempt(
            endpoint_id=claimed.endpoint_id,
            event_id=claimed.event_id,
            event_type=claimed.event_type,
            attempted_at=attempt.at,
            status_code=attempt.status_code,
            latency_ms=attempt.latency_ms,
            response_excerpt=attempt.excerpt,
            error=attempt.error,
        )
    )
    mine = and_(WebhookDelivery.id == claimed.delivery_id, WebhookDelivery.lease_owner == owner)
    released = {"lease_owner": None, "lease_expires_at": None}
    endpoint = WebhookEndpoint.__table__.c
    if attempt.ok:
        await session.execute(
            update(WebhookDelivery).where(mine).values(state=DELIVERED, delivered_at=attempt.at, **released)
        )
        # Only an endpoint that was failing is written: a success must not lock the
        # endpoint's row, which every delivery to it (in every worker) would queue on.
        await session.execute(
            update(WebhookEndpoint)
            .where(endpoint.id == claimed.endpoint_id, endpoint.failing_since.is_not(None))
            .values(failing_since=None)
        )
        return
    await session.execute(
        update(WebhookDelivery)
        .where(mine)
        .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=attempt.at + attempt.retry_in, **released)
    )
    await session.execute(
        update(WebhookEndpoint)
        .where(endpoint.id == claimed.endpoint_id)
        .values(failing_since=func.coalesce(endpoint.failing_since, attempt.at))
    )
    since = await session.scalar(select(endpoint.failing_since).where(endpoint.id == claimed.endpoint_id))
    if since is not None and attempt.at - since >= window:
        what = f"HTTP {attempt.status_code}" if attempt.status_code else (attempt.error or "no answer")
        reason = f"failing since {since.isoformat()} (last: {what})"[:300]
        await session.execute(
            update(WebhookEndpoint)
            .where(endpoint.id == claimed.endpoint_id, endpoint.enabled)
            .values(enabled=False, disabled_reason=reason, disabled_at=attempt.at)
        )
