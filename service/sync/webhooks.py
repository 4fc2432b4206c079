"""Push notifications from Google (watch channels) and Microsoft Graph
(subscriptions): verify the secret, mark the calendar dirty, return at once.

Never syncs inside the request. Duplicated, reordered and late notifications are
harmless: marking dirty is idempotent, and notifications for stopped channels are
acknowledged and ignored."""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import PushChannel
from service.metrics import WEBHOOKS
from service.sync import queue

log = structlog.get_logger(__name__)


class Outcome(str, enum.Enum):
    accepted = "accepted"
    ignored = "ignored"  # a valid secret for a stopped channel, or a `sync` handshake
    rejected = "rejected"  # unknown channel or wrong secret


# Built once, as Core over the columns a notification needs: it runs for every one.
_channels = PushChannel.__table__
_CHANNEL = select(
    _channels.c.id, _channels.c.channel_id, _channels.c.calendar_id, _channels.c.secret_hash, _channels.c.stopped_at
).where(_channels.c.channel_id == bindparam("channel_id"), _channels.c.provider == bindparam("provider"))
# SET clause: the columns named in the parameters (besides `row_id`).
_CHANNEL_SET = update(_channels).where(_channels.c.id == bindparam("row_id"))


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def _verified(session: AsyncSession, provider: str, channel_id: str | None, secret: str | None) -> Row | None:
    if not channel_id or not secret:
        return None
    channel = (await session.execute(_CHANNEL, {"channel_id": channel_id, "provider": provider})).first()
    if channel is None or not hmac.compare_digest(channel.secret_hash, secret_hash(secret)):
        return None
    return channel


async def google(session: AsyncSession, headers: Mapping[str, str], now: datetime) -> Outcome:
    channel = await _verified(session, "google", headers.get("x-goog-channel-id"), headers.get("x-goog-channel-token"))
    if channel is None:
        outcome = Outcome.rejected
    elif channel.stopped_at is not None or headers.get("x-goog-resource-state") == "sync":
        outcome = Outcome.ignored
    else:
        await queue.mark_dirty(session, [channel.calendar_id], now)
        outcome = Outcome.accepted
    WEBHOOKS.labels("google", outcome.value).inc()
    if outcome is Outcome.rejected:
        log.warning("webhook_rejected", provider="google", channel_id=headers.get("x-goog-channel-id"))
    return outcome


async def microsoft(session: AsyncSession, body: Any, now: datetime, *, lifecycle: bool = False) -> list[Outcome]:
    """Each item of a Graph notification batch, verified on its own clientState."""
    items = body.get("value") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return []
    outcomes = []
    for item in items:
        if not isinstance(item, dict):
            outcomes.append(Outcome.rejected)
            continue
        channel = await _verified(session, "microsoft", item.get("subscriptionId"), item.get("clientState"))
        if channel is None:
            outcome = Outcome.rejected
            log.warning("webhook_rejected", provider="microsoft", subscription_id=item.get("subscriptionId"))
        elif channel.stopped_at is not None:
            outcome = Outcome.ignored
        else:
            if lifecycle:
                await _lifecycle(session, channel, str(item.get("lifecycleEvent", "")), now)
            await queue.mark_dirty(session, [channel.calendar_id], now)
            outcome = Outcome.accepted
        WEBHOOKS.labels("microsoft", outcome.value).inc()
        outcomes.append(outcome)
    return outcomes


async def _lifecycle(session: AsyncSession, channel: Row, event: str, now: datetime) -> None:
    """`reauthorizationRequired`: renew now; `subscriptionRemoved`: recreate;
    `missed`: notifications were lost — the dirty mark resyncs either way."""
    log.info("graph_lifecycle", subscription_id=channel.channel_id, lifecycle_event=event)
    if event == "reauthorizationRequired":
        values: dict[str, Any] = {"expires_at": now}
    elif event == "subscriptionRemoved":
        values = {"stopped_at": now}
    else:
        return
    await session.execute(_CHANNEL_SET, {"row_id": channel.id, **values})
