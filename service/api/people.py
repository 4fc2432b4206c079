"""People: the org directory (any authenticated person) and the admin-only import."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from service.api.deps import Admin, Caller, Now, Session
from service.api.pagination import Cursor, Limit, Page, decode_int_cursor, encode_cursor
from service.api.problems import responses
from service.api.schemas.common import Id, SearchText
from service.api.schemas.people import ImportOut, PeopleImport, PersonOut
from service.db.models import Person
from service.domain import people as people_domain
from service.errors import NotFound

router = APIRouter(prefix="/people", tags=["people"])


@router.get(
    "", summary="List people (the org directory)", response_model=Page[PersonOut], responses=responses(400, 401, 422)
)
async def list_people(
    session: Session,
    _caller: Caller,
    limit: Limit = 50,
    cursor: Cursor = None,
    manager_id: Id | None = None,
    q: Annotated[SearchText | None, Query(description="A part of the email or name, ignoring case")] = None,
):
    """Ordered by id."""
    query = select(Person).order_by(Person.id).limit(limit + 1)
    if (after := decode_int_cursor(cursor)) is not None:
        query = query.where(Person.id > after)
    if manager_id is not None:
        query = query.where(Person.manager_id == manager_id)
    if q:
        query = query.where(
            Person.email.contains(q.lower(), autoescape=True) | Person.name.icontains(q, autoescape=True)
        )
    rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor([rows[-1].id]) if more else None)


@router.get("/{person_id}", summary="Get a person", response_model=PersonOut, responses=responses(401, 404, 422))
async def get_person(person_id: Id, session: Session, _caller: Caller):
    person = await session.get(Person, person_id)
    if person is None:
        raise NotFound(f"person {person_id} not found")
    return person


@router.post(
    ":import",
    summary="Import people and reporting lines (all or nothing)",
    response_model=ImportOut,
    responses=responses(401, 403, 422),
)
async def import_people(body: PeopleImport, request: Request, session: Session, now: Now, _admin: Admin):
    rows = [
        people_domain.PersonRow(email=p.email, name=p.name, timezone=p.timezone, manager=p.manager, role=p.role.value)
        for p in body.people
    ]
    result = await people_domain.import_people(session, rows, now)
    request.app.state.principal_cache.forget(person_ids=result.role_changed)  # new roles count at once here
    return ImportOut(created=result.created, updated=result.updated)
