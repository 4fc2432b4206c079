"""Request/response shapes for agenda templates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, field_validator

from service.api.schemas.common import Id, In, Out

Prompt = Annotated[str, Field(min_length=1, max_length=500)]


class TemplateSection(In):
    title: str = Field(min_length=1, max_length=100)
    minutes: int = Field(ge=1, le=120)
    prompts: list[Prompt] = Field(default_factory=list, max_length=20, description="Questions to discuss")


class TemplateCreate(In):
    name: str = Field(min_length=1, max_length=200, description="Unique (case-insensitively)")
    description: str = Field("", max_length=2000)
    sections: list[TemplateSection] = Field(min_length=1, max_length=20)


class TemplateUpdate(In):
    """Only the fields sent change. `sections` replaces the whole list: its order is the
    template's order (send them reordered to reorder)."""

    name: str = Field(None, min_length=1, max_length=200, description="Unique (case-insensitively)")  # type: ignore[assignment]
    description: str = Field(None, max_length=2000)  # type: ignore[assignment]
    sections: list[TemplateSection] = Field(None, min_length=1, max_length=20)  # type: ignore[assignment]

    @field_validator("name", "description", "sections", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class TemplateSectionOut(Out):
    title: str
    minutes: int
    prompts: list[str]


class TemplateOut(Out):
    id: int
    name: str
    description: str
    sections: list[TemplateSectionOut]
    created_by: int | None = Field(description="Null for built-in templates (and when the creator was deleted)")
    builtin: bool = Field(False, description="Shipped with the service: never edited nor deleted (copy it instead)")
    created_at: datetime
    updated_at: datetime


class ApplyTemplate(In):
    template_id: Id
