"""Feedback on a meeting: the caller's own rating and comment."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, computed_field

from service.api.schemas.common import In, Out
from service.domain.feedback import EDIT_WINDOW


class FeedbackIn(In):
    rating: int = Field(ge=1, le=5, strict=True, description="1 (poor) to 5 (great)")
    comment: str = Field("", max_length=2_000, description="Seen by its author only")


class FeedbackOut(Out):
    meeting_id: int
    person_id: int
    rating: int
    comment: str
    created_at: datetime = Field(description="When it was first given")
    updated_at: datetime

    @computed_field(description="Changes are accepted until then")  # type: ignore[prop-decorator]
    @property
    def editable_until(self) -> datetime:
        return self.created_at + EDIT_WINDOW
