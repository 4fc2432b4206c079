"""Read models for a 1:1 app's screens: the caller's meetings and action items across pairs."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from service.api.schemas.common import Out
from service.api.schemas.meetings import ActionItemOut
from service.api.schemas.pairs import PairRole
from service.api.schemas.people import PersonSummary
from service.db.models import MeetingStatus


class MyMeetingOut(Out):
    """One of the caller's meetings, summarised for a week view."""

    id: int
    pair_id: int
    role: PairRole = Field(description="The caller's role in the pair")
    other: PersonSummary = Field(description="The other participant")
    start: datetime
    end: datetime
    status: MeetingStatus
    title: str
    agenda_items: int = Field(description="Agenda items the caller sees: shared ones and the caller's own private ones")
    agenda_empty: bool = Field(description="True when the agenda has no shared item (private items aside)")
    open_action_items: int = Field(description="The pair's action items not yet done")
    rated_by_me: bool = Field(description="Whether the caller has rated this meeting")


class MyActionItemOut(ActionItemOut):
    """An action item of one of the caller's pairs, with its owner embedded."""

    owner: PersonSummary
