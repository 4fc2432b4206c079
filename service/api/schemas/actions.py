"""Request bodies for action items (responses: `ActionItemOut`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from service.api.schemas.common import Day, Id, In

ACTION_BODY_MAX = 2_000


class ActionItemCreate(In):
    body: str = Field(min_length=1, max_length=ACTION_BODY_MAX)
    owner_id: Id = Field(description="Who does it: the pair's manager or report")
    due_date: Day | None = None


class ActionItemPatch(In):
    """Only the fields sent change. `due_date: null` clears the due date."""

    body: str | None = Field(None, min_length=1, max_length=ACTION_BODY_MAX)
    owner_id: Id | None = Field(None, description="The pair's manager or report")
    due_date: Day | None = None
    done: bool | None = Field(None, description="true: mark done (now); false: reopen")

    @field_validator("body", "owner_id", "done", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value
