"""Response/request shapes for meetings and their content (the API's core contract)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from service.api.schemas.common import Id, In, Out, UTCTimestamp
from service.api.schemas.pairs import PairOut  # noqa: F401  (re-exported: its historical home)
from service.db.models import MeetingStatus


class MeetingOut(Out):
    id: int
    pair_id: int
    title: str
    original_start: datetime
    start: datetime
    end: datetime
    status: MeetingStatus
    cancelled_at: datetime | None
    source_uid: str | None = Field(
        description="iCalendar UID for calendar-synced meetings, shown to the pair's participants; "
        "null if created via the API, and to admins"
    )
    template_id: int | None
    updated_at: datetime


class AgendaItemOut(Out):
    id: int
    meeting_id: int
    author_id: int
    body: str
    private: bool
    position: int = Field(
        description="0-based index in the agenda as the caller sees it (private items of "
        "the other participant take no place)"
    )
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
    updated_at: datetime | None = Field(description="Null until the note is first written")


class MeetingDetailOut(MeetingOut):
    """A meeting with what the caller may see of it."""

    agenda: list[AgendaItemOut]
    open_action_items: list[ActionItemOut] = Field(description="The pair's action items not yet done")
    shared_note: SharedNoteOut | None
    private_note: PrivateNoteOut | None = Field(description="The caller's own private note")


class MeetingCreate(In):
    """`end` must be after `start`; a meeting lasts 5 minutes to 8 hours."""

    title: str = Field("1:1", min_length=1, max_length=300)
    start: UTCTimestamp
    end: UTCTimestamp
    template_id: Id | None = Field(None, description="Apply this template to the new meeting's agenda")


class MeetingUpdate(In):
    """Reschedule or rename a meeting created through the API; omitted fields keep their value."""

    title: str = Field(None, min_length=1, max_length=300)  # type: ignore[assignment]  # omitted = unchanged
    start: UTCTimestamp = Field(None)  # type: ignore[assignment]
    end: UTCTimestamp = Field(None)  # type: ignore[assignment]
