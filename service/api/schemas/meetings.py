"""Response/request shapes for meetings and their content (the API's core contract)."""
from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from service.api.schemas.common import In, Out, UTCTimestamp
from service.db.models import MeetingStatus


class PairOut(Out):
    id: int
    manager_id: int
    report_id: int
    active: bool
    cadence_days: int | None = Field(description="Intended cadence set by the pair")
    cadence: str = Field(description="Detected: none, weekly, biweekly, monthly, irregular")
    interval_days: float | None
    last_held: datetime | None
    next_scheduled: datetime | None
    updated_at: datetime


class MeetingOut(Out):
    id: int
    pair_id: int
    title: str
    original_start: datetime
    start: datetime
    end: datetime
    status: MeetingStatus
    cancelled_at: datetime | None
    source_uid: str | None = Field(description="iCalendar UID for calendar-synced meetings; null if created via the API")
    template_id: int | None
    updated_at: datetime


class AgendaItemOut(Out):
    id: int
    meeting_id: int
    author_id: int
    body: str
    private: bool
    position: int
    done: bool
    minutes: int | None
    carried_from_id: int | None
    updated_at: datetime


class ActionItemOut(Out):
    id: int
    pair_id: int
    meeting_id: int | None
    owner_id: int
    body: str
    due_date: date | None
    done_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SharedNoteOut(Out):
    meeting_id: int
    body: str
    version: int
    updated_by: int | None
    updated_at: datetime | None


class PrivateNoteOut(Out):
    meeting_id: int
    author_id: int
    body: str
    updated_at: datetime


class MeetingDetailOut(MeetingOut):
    """A meeting with what the caller may see of it."""

    agenda: list[AgendaItemOut]
    open_action_items: list[ActionItemOut] = Field(description="The pair's action items not yet done")
    shared_note: SharedNoteOut | None
    private_note: PrivateNoteOut | None = Field(description="The caller's own private note")


class MeetingCreate(In):
    title: str = Field("1:1", max_length=300)
    start: UTCTimestamp
    end: UTCTimestamp
    template_id: int | None = None
