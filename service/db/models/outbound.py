"""Outbound webhooks: the transactional outbox of domain events, the endpoints
admins register, one delivery per (endpoint, event) and the log of attempts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from service.db.models.base import Base, IdMixin, TimestampMixin
from service.db.types import UTCDateTime


class OutboxEvent(IdMixin, Base):
    """A domain event, written in the transaction of the change it reports. `id` orders
    the events (delivery follows it per endpoint and pair); `event_id` is the public,
    stable id sent as `webhook-id`. `dispatched_at`: when deliveries were made for the
    endpoints subscribed at that moment (null: not yet)."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index(
            "ix_outbox_events_undispatched",
            "id",
            postgresql_where=text("dispatched_at IS NULL"),
            sqlite_where=text("dispatched_at IS NULL"),
        ),
    )

    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    pair_id: Mapped[int] = mapped_column(BigInteger)  # no foreign key: the event outlives its pair
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    payload: Mapped[dict] = mapped_column(JSON)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookEndpoint(IdMixin, TimestampMixin, Base):
    """Where events are POSTed. Secrets are Fernet-encrypted (service.security.crypto);
    the previous one stays valid (both signatures sent) until `previous_secret_expires_at`.
    `failing_since`: the first failure since the last success (the retry window's start)."""

    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(500), default="")
    event_types: Mapped[list] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("people.id", ondelete="SET NULL"))


class WebhookDelivery(IdMixin, Base):
    """One event to one endpoint, until delivered. Claimed with a lease like the sync
    queue; only the oldest undelivered delivery of an (endpoint, pair) lane is due."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_lane", "endpoint_id", "pair_id", "event_id"),
        Index(
            "ix_webhook_deliveries_pending",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )

    endpoint_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("outbox_events.id", ondelete="CASCADE"), index=True)
    pair_id: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookAttempt(IdMixin, Base):
    """One POST (or one refused before it was sent) and how it ended."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_endpoint_id_id", "endpoint_id", "id"),)

    endpoint_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40))  # the public id
    event_type: Mapped[str] = mapped_column(String(40))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(300))
