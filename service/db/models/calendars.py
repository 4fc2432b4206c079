"""Calendar sync state: grants, calendars (the work queue), push channels, and the
normalized events with their revision history (what the detector reads)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db.models.base import Base, IdMixin, TimestampMixin
from service.db.types import UTCDateTime


class CalendarConnection(IdMixin, TimestampMixin, Base):
    """A grant to read calendars: one person's OAuth consent (`user`), or org-wide
    access (`org`: a Google service account with domain-wide delegation, or a
    Microsoft app with client credentials). Secrets are Fernet-encrypted."""

    __tablename__ = "calendar_connections"

    provider: Mapped[str] = mapped_column(String(16))  # google | microsoft
    kind: Mapped[str] = mapped_column(String(8))  # user | org
    person_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("people.id", ondelete="CASCADE"), index=True)
    tenant: Mapped[str | None] = mapped_column(String(200))  # Google domain / Entra tenant id
    # user: the refresh token; org: the service-account JSON or the client secret.
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(String(1000), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | revoked | error
    last_error: Mapped[str | None] = mapped_column(Text)


class Calendar(IdMixin, TimestampMixin, Base):
    """One person's calendar on one provider, and the sync work queue: a webhook
    asks for a sync (SyncRequest), a worker claims the calendar with a lease, syncs
    an increment, and commits the events together with the new cursor.

    `status` (service.sync.states): active; backing_off (transient failures, retried
    at `backoff_until`); needs_reconnect (`status_reason` says why; probed at
    `backoff_until` when it may heal, never when null); disabled (not synced)."""

    __tablename__ = "calendars"
    __table_args__ = (
        UniqueConstraint("provider", "external_id"),
        Index("ix_calendars_due", "status", "next_poll_at"),
        Index("ix_calendars_provider_user", "provider", "provider_user_id"),
    )

    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("people.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("calendar_connections.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(320))  # Google calendarId / the Graph user's address (UPN or mail)
    # The provider's immutable id of the calendar's owner, once known (Google: the Directory
    # user id; Graph: the Entra object id): a renamed user is found again by it; Graph
    # mailboxes are addressed by it. external_id stays the key calendars are found and connected by.
    provider_user_id: Mapped[str | None] = mapped_column(String(255))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(String(40))
    # Sync cursor: Google nextSyncToken / Graph deltaLink; null → full sync next.
    cursor: Mapped[str | None] = mapped_column(Text)
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)  # Graph delta window
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Work queue: due when a sync was requested, or at `next_poll_at` (fallback polling).
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    backoff_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the current run of failures
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Opening a push channel failed: not tried again before this (growing delays).
    channel_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    channel_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SyncRequest(IdMixin, Base):
    """A request to sync a calendar (a notification, a connect, a gap in push
    coverage). A row of its own rather than a flag on the calendar, so that a
    webhook never waits for the calendar row a worker holds while it reconciles;
    a sync deletes the requests it saw when it claimed the calendar, so those
    arriving meanwhile coalesce into one follow-up increment."""

    __tablename__ = "sync_requests"
    __table_args__ = (Index("ix_sync_requests_calendar_id_id", "calendar_id", "id"),)

    calendar_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("calendars.id", ondelete="CASCADE"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PushChannel(IdMixin, Base):
    """A Google watch channel or a Graph subscription. Only the SHA-256 of its
    secret (channel token / clientState) is stored; webhooks compare hashes."""

    __tablename__ = "push_channels"

    calendar_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("calendars.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str] = mapped_column(String(300), unique=True)  # channel id / subscription id
    resource_id: Mapped[str | None] = mapped_column(String(300))  # Google resourceId
    secret_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the provider last asked to re-confirm the channel's authorization (Graph's
    # reauthorizationRequired) and nobody has answered yet: the upkeep reauthorizes it.
    reauthorize_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OrphanSubscription(IdMixin, Base):
    """A Graph subscription that notified us but is none of our push channels (its row
    lost, or never committed): acknowledged, recorded here, and deleted at Graph by the
    upkeep with a grant that can (the mailbox's calendar's, else the tenant's org
    grant); otherwise Graph keeps it, and keeps knocking, until it expires. Only
    ones we hold such a grant for are recorded, a bounded number at a time."""

    __tablename__ = "orphan_subscriptions"

    provider: Mapped[str] = mapped_column(String(16))
    subscription_id: Mapped[str] = mapped_column(String(300), unique=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64))  # the notification's tenantId
    user: Mapped[str | None] = mapped_column(String(320))  # the mailbox its resource names: id or address
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    outcome: Mapped[str | None] = mapped_column(String(32))  # deleted | gone | refused | no_grant | failed


class CalendarEvent(IdMixin, Base):
    """The current normalized state of one event in one calendar (see
    service/domain/events.py: EventSnapshot). `removed_at` marks deletions."""

    __tablename__ = "calendar_events"
    __table_args__ = (
        UniqueConstraint("calendar_id", "event_id"),
        Index("ix_calendar_events_calendar_id_start", "calendar_id", "start"),
    )

    calendar_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("calendars.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(1024))
    ical_uid: Mapped[str | None] = mapped_column(String(1024), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    series_id: Mapped[str | None] = mapped_column(String(1024))
    original_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    recurrence: Mapped[list] = mapped_column(JSON, default=list)
    organizer: Mapped[str | None] = mapped_column(String(320))
    attendees: Mapped[list] = mapped_column(JSON, default=list)
    busy: Mapped[bool] = mapped_column(Boolean, default=True)
    title: Mapped[str] = mapped_column(Text, default="")
    # Marked private by its owner: stored without title or needless attendees (events.withheld).
    private: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated: Mapped[datetime] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EventRevision(IdMixin, Base):
    """Every change seen to an event, with the provider's change time: the detector
    needs when a 1:1 was cancelled or moved and what it looked like before.
    `snapshot` is null for a removal. `horizon`: how far in time the state reaches
    (service.domain.event_codec.horizon); null on rows written before it was recorded (read as unbounded)."""

    __tablename__ = "event_revisions"
    __table_args__ = (Index("ix_event_revisions_calendar_id_event_id", "calendar_id", "event_id", "id"),)

    calendar_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("calendars.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(1024))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    snapshot: Mapped[dict | None] = mapped_column(JSON)
    horizon: Mapped[datetime | None] = mapped_column(UTCDateTime)


class QuotaBucket(Base):
    """A token bucket of provider calls shared by the workers (service.sync.budget).
    `refreshed`: wall-clock seconds since the epoch, when `tokens` was last counted."""

    __tablename__ = "quota_buckets"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)  # provider, or provider:account
    tokens: Mapped[float] = mapped_column(Float)
    refreshed: Mapped[float] = mapped_column(Float)


class AccessToken(Base):
    """A provider access token minted for one grant and subject (service.sync.grants.
    SharedTokens): the worker processes share it, so a delegated user's token is minted
    once while it lives, not once per process. Fernet-encrypted like the grants; `key`
    is a SHA-256 of what the token is for, never the grant itself."""

    __tablename__ = "access_tokens"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_encrypted: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
