"""Agenda templates: named lists of sections ({title, minutes, prompts}) that seed a
meeting's agenda. Anyone authenticated may read and create them; names are unique,
compared case-insensitively. Built-in ones (`created_by` null) come from migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import AgendaItem, Meeting, Template
from service.domain.access import Principal
from service.domain.agenda import next_position
from service.errors import Conflict, NotFound


def section_body(section: dict[str, Any]) -> str:
    """An agenda item's body for a section: its title, then one "- prompt" line per prompt."""
    return "\n".join([section["title"], *(f"- {prompt}" for prompt in section.get("prompts", []))])


async def list_templates(
    session: AsyncSession, *, after_id: int | None, limit: int, q: str | None = None
) -> list[Template]:
    query = select(Template).order_by(Template.id).limit(limit)
    if after_id is not None:
        query = query.where(Template.id > after_id)
    if q:
        query = query.where(func.lower(Template.name).contains(q.lower(), autoescape=True))
    return list((await session.scalars(query)).all())


async def get_template(session: AsyncSession, template_id: int) -> Template | None:
    return await session.get(Template, template_id)


async def require_template(session: AsyncSession, template_id: int) -> Template:
    template = await get_template(session, template_id)
    if template is None:
        raise NotFound(f"template {template_id} not found")
    return template


async def create_template(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    description: str,
    sections: list[dict[str, Any]],
    now: datetime,
) -> Template:
    """A new template; 409 if the name is taken (in any letter case)."""
    taken = await session.scalar(select(Template.id).where(func.lower(Template.name) == name.lower()))
    if taken is not None:
        raise Conflict(f"a template named {name!r} already exists")
    template = Template(
        name=name,
        description=description,
        sections=sections,
        created_by=principal.person_id,
        created_at=now,
        updated_at=now,
    )
    session.add(template)
    await session.flush()
    return template


async def append_sections(
    session: AsyncSession, meeting: Meeting, template: Template, author_id: int, now: datetime
) -> list[AgendaItem]:
    """Append one shared agenda item per section (body per `section_body`, minutes = the
    section's) authored by `author_id`, and record the template on the meeting. Access
    and "already applied" checks are the caller's."""
    position = await next_position(session, meeting.id)
    items = []
    for section in template.sections:
        items.append(
            AgendaItem(
                meeting_id=meeting.id,
                author_id=author_id,
                body=section_body(section),
                private=False,
                minutes=section["minutes"],
                done=False,
                position=position,
                created_at=now,
                updated_at=now,
            )
        )
        if position:  # an explicitly ordered agenda: append one after the other
            position += 1
    session.add_all(items)
    meeting.template_id = template.id
    meeting.updated_at = now
    await session.flush()
    return items
