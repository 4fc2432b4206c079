"""Agenda templates: named lists of sections ({title, minutes, prompts}) that seed a
meeting's agenda. Anyone authenticated may read and create them; names are unique,
compared case-insensitively. Their creator or an admin edits (the sections as one
ordered list: reordering is sending them in the new order) and deletes them. Built-in
ones (`builtin`, seeded by migrations) are never changed (409: copy one with
`POST /v1/templates` and edit the copy)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import AgendaItem, Meeting, Template
from service.domain.access import Principal
from service.domain.agenda import next_position
from service.errors import Conflict, Forbidden, NotFound


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
    await _check_name_free(session, name)
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


async def _check_name_free(session: AsyncSession, name: str, *, but: int | None = None) -> None:
    query = select(Template.id).where(func.lower(Template.name) == name.lower())
    if but is not None:
        query = query.where(Template.id != but)
    if await session.scalar(query) is not None:
        raise Conflict(f"a template named {name!r} already exists")


BUILTIN = "built-in templates cannot be changed; copy it: POST /v1/templates with its sections, then edit the copy"


async def _for_change(session: AsyncSession, principal: Principal, template_id: int) -> Template:
    """The template if the caller may change it: 404 if missing, 409 if built in, 403
    unless they created it or are an admin."""
    template = await require_template(session, template_id)
    if template.builtin:
        raise Conflict(BUILTIN)
    if template.created_by != principal.person_id and not principal.is_admin:
        raise Forbidden("only the template's creator or an admin may change it")
    return template


async def update_template(
    session: AsyncSession, principal: Principal, template_id: int, changes: dict[str, Any], now: datetime
) -> Template:
    """Apply `name`, `description` and `sections` (the whole ordered list) as given.
    Meetings it was applied to keep their agenda."""
    template = await _for_change(session, principal, template_id)
    if "name" in changes:
        await _check_name_free(session, changes["name"], but=template.id)
    changed = False
    for field in ("name", "description", "sections"):
        if field in changes and getattr(template, field) != changes[field]:
            setattr(template, field, changes[field])
            changed = True
    if changed:
        template.updated_at = now
        await session.flush()
    return template


async def delete_template(session: AsyncSession, principal: Principal, template_id: int) -> None:
    """Delete it; meetings it was applied to keep their agenda (their `template_id` is cleared)."""
    template = await _for_change(session, principal, template_id)
    await session.execute(
        update(Meeting)
        .where(Meeting.template_id == template.id)
        .values(template_id=None)
        .execution_options(synchronize_session=False)
    )
    await session.delete(template)
    await session.flush()


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
