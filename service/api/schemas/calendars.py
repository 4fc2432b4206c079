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
    error = "error"
    disconnected = "disconnected"


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
        description="`active` syncs; `error` needs the person to reconnect (or an "
        "admin to look); `disconnected` is not synced."
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
