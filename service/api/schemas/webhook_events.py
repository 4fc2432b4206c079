"""The JSON bodies outbound webhooks POST, one model per event type, published in the
OpenAPI document's `webhooks` section. Ids, types, times and people ids only: a
consumer reads anything else through the API with its own token."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from service.domain.findings import FindingType


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pair_id: int
    manager_id: int = Field(description="The pair's manager (a person id)")
    report_id: int = Field(description="The pair's report (a person id)")


class FindingData(_Data):
    finding_id: int
    finding_type: FindingType
    meeting_id: int | None
    occurrence_start: datetime | None = Field(description="The 1:1 occurrence the finding is about, if one")
    detected_at: datetime
    resolved_at: datetime | None


class _MeetingData(_Data):
    meeting_id: int
    start: datetime
    end: datetime


class MeetingCancelledData(_MeetingData):
    original_start: datetime
    cancelled_at: datetime | None
    removed: bool = Field(description="The calendar no longer has it and it held nothing: the meeting is gone")


class MeetingRescheduledData(_MeetingData):
    previous_start: datetime
    previous_end: datetime


class MeetingUpcomingData(_MeetingData):
    agenda_empty: bool = Field(description="No shared talking point yet (private ones are not counted)")


class AgendaCarriedOverData(_Data):
    from_meeting_id: int
    to_meeting_id: int
    item_ids: list[int] = Field(description="The shared talking points carried (their new ids)")


def _envelope(kind: str, data: type[BaseModel], doc: str) -> type[BaseModel]:
    name = "".join(part.title() for part in kind.replace("_", ".").split(".")) + "Event"
    return type(
        name,
        (BaseModel,),
        {
            "__doc__": doc,
            "__annotations__": {"id": str, "type": Literal[kind], "timestamp": datetime, "data": data},  # type: ignore[valid-type]
            "model_config": ConfigDict(extra="forbid"),
            "id": Field(description="The event's id, also sent as `webhook-id`: the same on every retry"),
            "timestamp": Field(description="When the change happened"),
        },
    )


EVENTS: dict[str, tuple[type[BaseModel], str]] = {
    "finding.opened": (FindingData, "A finding was detected, or is true again after it was resolved."),
    "finding.resolved": (FindingData, "A finding stopped being true."),
    "meeting.cancelled": (MeetingCancelledData, "A 1:1 was cancelled, or its calendar no longer produces it."),
    "meeting.rescheduled": (MeetingRescheduledData, "A scheduled 1:1's start moved."),
    "agenda.carried_over": (AgendaCarriedOverData, "Open shared talking points moved on to the pair's next 1:1."),
    "meeting.upcoming": (MeetingUpcomingData, "A scheduled 1:1 starts within the configured lead time (24 h)."),
}
ENVELOPES = {kind: _envelope(kind, data, doc) for kind, (data, doc) in EVENTS.items()}
