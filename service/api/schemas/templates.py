"""Request/response shapes for agenda templates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

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


class TemplateSectionOut(Out):
    title: str
    minutes: int
    prompts: list[str]


class TemplateOut(Out):
    id: int
    name: str
    description: str
    sections: list[TemplateSectionOut]
    created_by: int | None = Field(description="Null for built-in templates")
    created_at: datetime
    updated_at: datetime


class ApplyTemplate(In):
    template_id: Id
