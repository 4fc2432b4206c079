"""Request shapes for agenda items (talking points); `AgendaItemOut` lives in schemas.meetings."""

from __future__ import annotations

from pydantic import Field

from service.api.schemas.common import In

Body = Field(min_length=1, max_length=10_000)


class AgendaItemCreate(In):
    body: str = Body
    private: bool = Field(False, description="Visible to its author only, always")
    minutes: int | None = Field(None, ge=1, le=120, description="Time planned for this point")


class AgendaItemUpdate(In):
    """Omitted fields keep their value. `body`, `private` and `minutes` may be changed by the
    author only; `done` and `position` by either participant."""

    body: str = Field(None, min_length=1, max_length=10_000)  # type: ignore[assignment]  # omitted = unchanged
    private: bool = Field(None)  # type: ignore[assignment]
    minutes: int | None = Field(None, ge=1, le=120, description="`null` clears it")
    done: bool = Field(None)  # type: ignore[assignment]
    position: int = Field(  # type: ignore[assignment]
        None,
        ge=0,
        le=10_000,
        description="Move the item to this 0-based index of the agenda as the caller sees it "
        "(past the end = last). Once an agenda is reordered, new items are appended.",
    )
