"""Webhook endpoints (admins only; the router checks the role): where the outbox's
events are sent, their signing secrets, their delivery log and redelivery.

A secret is made here, returned once (on create and on rotate) and stored encrypted
with the Vault. Rotating keeps the old secret valid for a grace period: deliveries
meanwhile carry both signatures. An endpoint disabled (by an admin, or by the workers
after failing for the whole retry window, with a reason) receives nothing; enabling it
again resumes its undelivered events at once, with a fresh retry window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from service.domain.outbox import EVENT_TYPES
from service.errors import NotFound, ValidationFailed
from service.security.addresses import Network, url_problem
from service.security.crypto import Vault
from service.security.webhook_signing import new_secret

PENDING, DELIVERED = "pending", "delivered"


@dataclass(frozen=True, slots=True)
class UrlRules:
    allow_http_loopback: bool
    allowed: tuple[Network, ...]


def check_url(url: str, rules: UrlRules) -> None:
    problem = url_problem(url, allow_http_loopback=rules.allow_http_loopback, allowed=rules.allowed)
    if problem:
        raise ValidationFailed("invalid endpoint URL", [{"field": "url", "message": problem}])


def check_event_types(types: list[str]) -> list[str]:
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown or not types:
        message = f"unknown event types {unknown}" if unknown else "at least one event type"
        raise ValidationFailed("invalid event types", [{"field": "event_types", "message": message}])
    return sorted(set(types), key=EVENT_TYPES.index)


async def create(
    session: AsyncSession,
    vault: Vault,
    rules: UrlRules,
    *,
    url: str,
    event_types: list[str],
    description: str,
    enabled: bool,
    created_by: int,
    now: datetime,
) -> tuple[WebhookEndpoint, str]:
    """The endpoint and its secret (shown this once)."""
    check_url(url, rules)
    secret = new_secret()
    endpoint = WebhookEndpoint(
        url=url,
        description=description,
        event_types=check_event_types(event_types),
        enabled=enabled,
        secret_encrypted=vault.encrypt(secret),
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def get(session: AsyncSession, endpoint_id: int, *, lock: bool = False) -> WebhookEndpoint:
    query = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    endpoint = await session.scalar(query.with_for_update() if lock else query)
    if endpoint is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return endpoint


async def list_endpoints(session: AsyncSession, *, after_id: int | None, limit: int) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).order_by(WebhookEndpoint.id).limit(limit)
    if after_id is not None:
        query = query.where(WebhookEndpoint.id > after_id)
    return list((await session.scalars(query)).all())


async def change(
    session: AsyncSession, endpoint_id: int, changes: dict[str, Any], rules: UrlRules, now: datetime
) -> WebhookEndpoint:
    """`url`, `event_types`, `description`, `enabled` (enabling clears the disabled
    reason and resumes the pending deliveries now)."""
    endpoint = await get(session, endpoint_id, lock=True)
    if "url" in changes:
        check_url(changes["url"], rules)
        endpoint.url = changes["url"]
    if "event_types" in changes:
        endpoint.event_types = check_event_types(changes["event_types"])
    if "description" in changes:
        endpoint.description = changes["description"]
    if "enabled" in changes:
        if changes["enabled"] and not endpoint.enabled:
            endpoint.disabled_reason = endpoint.disabled_at = endpoint.failing_since = None
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.state == PENDING)
                .values(next_attempt_at=now, attempts=0)
                .execution_options(synchronize_session=False)
            )
        elif not changes["enabled"] and endpoint.enabled:
            endpoint.disabled_reason, endpoint.disabled_at = "disabled by an admin", now
        endpoint.enabled = changes["enabled"]
    endpoint.updated_at = now
    await session.flush()
    return endpoint


async def delete(session: AsyncSession, endpoint_id: int) -> None:
    await session.delete(await get(session, endpoint_id, lock=True))
    await session.flush()


async def rotate_secret(
    session: AsyncSession, vault: Vault, endpoint_id: int, grace: timedelta, now: datetime
) -> tuple[WebhookEndpoint, str]:
    """A new secret (shown this once); the current one stays valid for `grace`."""
    endpoint = await get(session, endpoint_id, lock=True)
    secret = new_secret()
    if grace > timedelta(0):
        endpoint.previous_secret_encrypted = endpoint.secret_encrypted
        endpoint.previous_secret_expires_at = now + grace
    else:
        endpoint.previous_secret_encrypted = endpoint.previous_secret_expires_at = None
    endpoint.secret_encrypted = vault.encrypt(secret)
    endpoint.updated_at = now
    await session.flush()
    return endpoint, secret


def signing_secrets(endpoint: Any, vault: Vault, now: datetime) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one
    during its grace period."""
    found = [vault.decrypt(endpoint.secret_encrypted)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires is not None and expires > now:
        found.append(vault.decrypt(endpoint.previous_secret_encrypted))
    return found


async def attempts(
    session: AsyncSession, endpoint_id: int, *, before_id: int | None, limit: int
) -> list[WebhookAttempt]:
    """The endpoint's delivery attempts, newest first."""
    await get(session, endpoint_id)
    query = (
        select(WebhookAttempt)
        .where(WebhookAttempt.endpoint_id == endpoint_id)
        .order_by(WebhookAttempt.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(WebhookAttempt.id < before_id)
    return list((await session.scalars(query)).all())


async def redeliver(session: AsyncSession, endpoint_id: int, event_id: str, now: datetime) -> WebhookDelivery:
    """Send a past event (still kept: see the retention) to the endpoint again, with the
    same `webhook-id`, even one it was not subscribed to or that predates it; a
    delivery still pending is simply due now."""
    endpoint = await get(session, endpoint_id, lock=True)
    event = await session.scalar(select(OutboxEvent).where(OutboxEvent.event_id == event_id))
    if event is None:
        raise NotFound(f"event {event_id} not found")
    delivery = await session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.event_id == event.id)
        .with_for_update()
    )
    if delivery is None:
        delivery = WebhookDelivery(
            endpoint_id=endpoint.id, event_id=event.id, pair_id=event.pair_id, created_at=now, attempts=0
        )
        session.add(delivery)
    delivery.state, delivery.next_attempt_at, delivery.delivered_at = PENDING, now, None
    delivery.attempts = 0
    delivery.lease_owner = delivery.lease_expires_at = None  # a worker sending it now: its outcome no longer counts
    await session.flush()
    return delivery
