"""Agenda templates and applying them to a meeting."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from service.api.deps import Caller, Now, Session
from service.api.pagination import Cursor, Limit, Page, decode_int_cursor, encode_cursor
from service.api.problems import responses
from service.api.schemas.common import Id, SearchText
from service.api.schemas.meetings import MeetingOut
from service.api.schemas.templates import ApplyTemplate, TemplateCreate, TemplateOut, TemplateUpdate
from service.domain import meetings as meetings_domain
from service.domain import templates as templates_domain

router = APIRouter(tags=["templates"])


@router.get(
    "/templates", summary="List agenda templates", response_model=Page[TemplateOut], responses=responses(400, 401, 422)
)
async def list_templates(
    session: Session,
    _caller: Caller,
    limit: Limit = 50,
    cursor: Cursor = None,
    q: Annotated[SearchText | None, Query()] = None,
):
    """Ordered by id; `q` matches a part of the name, ignoring case."""
    after_id = decode_int_cursor(cursor)
    rows = await templates_domain.list_templates(session, after_id=after_id, limit=limit + 1, q=q)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor([rows[-1].id]) if more else None)


@router.get(
    "/templates/{template_id}",
    summary="Get an agenda template",
    response_model=TemplateOut,
    responses=responses(401, 404),
)
async def get_template(template_id: Id, session: Session, _caller: Caller):
    return await templates_domain.require_template(session, template_id)


@router.post(
    "/templates",
    summary="Create an agenda template",
    response_model=TemplateOut,
    status_code=status.HTTP_201_CREATED,
    responses=responses(401, 409, 422),
)
async def create_template(body: TemplateCreate, session: Session, caller: Caller, now: Now):
    """Any authenticated person. 409 if the name is taken (ignoring case)."""
    return await templates_domain.create_template(
        session,
        caller,
        name=body.name,
        description=body.description,
        sections=[s.model_dump() for s in body.sections],
        now=now,
    )


@router.patch(
    "/templates/{template_id}",
    summary="Edit an agenda template",
    response_model=TemplateOut,
    responses=responses(401, 403, 404, 409, 422),
)
async def update_template(template_id: Id, body: TemplateUpdate, session: Session, caller: Caller, now: Now):
    """Its creator or an admin (403 for anyone else); only the fields sent change.
    `sections` is the whole ordered list: send it in the new order to reorder. 409 for a
    built-in template (copy it: `POST /v1/templates` with its sections, then edit the
    copy) and for a name taken by another template. Meetings it was applied to keep
    their agenda."""
    changes = body.model_dump(include=body.model_fields_set)  # nested defaults (`prompts: []`) kept
    return await templates_domain.update_template(session, caller, template_id, changes, now)


@router.delete(
    "/templates/{template_id}",
    summary="Delete an agenda template",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={204: {"description": "Deleted"}, **responses(401, 403, 404, 409, 422)},
)
async def delete_template(template_id: Id, session: Session, caller: Caller) -> Response:
    """Its creator or an admin (403 for anyone else); 409 for a built-in template.
    Meetings it was applied to keep their agenda (their `template_id` becomes null)."""
    await templates_domain.delete_template(session, caller, template_id)
    return Response(status_code=204)


@router.post(
    "/meetings/{meeting_id}:apply-template",
    summary="Append a template's sections to the agenda",
    response_model=MeetingOut,
    responses=responses(401, 404, 409, 422),
)
async def apply_template(meeting_id: Id, body: ApplyTemplate, session: Session, caller: Caller, now: Now):
    """Participants only. One shared item per section, authored by the caller: body = the
    section title then a "- prompt" line per prompt, minutes = the section's. 409 if this
    template is the one already applied, or the meeting is cancelled; 422 for an unknown
    template."""
    return await meetings_domain.apply_template(session, caller, meeting_id, body.template_id, now)
