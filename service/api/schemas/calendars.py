"""Calendars API schemas: sync state only; grants, cursors and channel secrets never appear."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import Field

from service.api.schemas.common import Out


class Provider(str, enum.Enum):
    google = "google"
    microsoft = "microsoft"


class CalendarStatus(str, enum.Enum):
    active = "active"
    backing_off = "backing_off"
    needs_reconnect = "needs_reconnect"
    disabled = "disabled"


class ConnectionKind(str, enum.Enum):
    user = "user"
    org = "org"


class CalendarOut(Out):
    id: int
    person_id: int
    email: str = Field(description="The person's email (whose 1:1s this calendar shows).")
    provider: Provider
    account: str = Field(
        description="The calendar at the provider: the Google calendar id or the Microsoft mailbox, an email address."
    )
    connection: ConnectionKind = Field(
        description="`user`: the person's own consent; `org`: org-wide access "
        "an admin granted (`oneonone calendars connect-all`)."
    )
    status: CalendarStatus = Field(
        description="`active` syncs. `backing_off`: syncs failed for a passing reason (throttling, the provider "
        "or the network down) and are retried at `retry_at`. `needs_reconnect`: the provider refuses access "
        "(`reason` says why); it is tried again at `retry_at` when that may heal by itself (null: the person must "
        "connect the calendar again). `disabled`: not synced (disconnected)."
    )
    reason: str | None = Field(None, description="Why it needs a reconnect or is disabled, in words")
    retry_at: datetime | None = Field(None, description="The next attempt, when backing off or probing")
    failing_since: datetime | None = Field(None, description="Since when syncs have been failing")
    stalled: bool = Field(
        False, description="Backing off for over a day: still retried, but someone should look (`last_error`)"
    )
    sync_pending: bool = Field(
        description="A change was notified (or the calendar is new) and a worker has yet to pull it."
    )
    last_synced_at: datetime | None = None
    last_error: str | None = Field(
        None, description="Why the last sync failed: the provider's status and error code, never tokens or URLs."
    )
    last_error_at: datetime | None = None
    channel_expires_at: datetime | None = Field(
        None,
        description="When the live push channel (Google watch "
        "channel or Graph subscription) expires; "
        "renewed well before. Null: none, changes are "
        "polled.",
    )
    created_at: datetime
