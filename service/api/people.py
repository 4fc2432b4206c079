from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from service.api.deps import Admin, Caller, Now, Session
from service.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from service.api.problems import responses
from service.api.schemas.people import ImportOut, PeopleImport, PersonOut
from service.db.models import Person
from service.domain import people as people_domain
from service.errors import NotFound

router = APIRouter(prefix="/people", tags=["people"])


@router.get("", summary="List people (the org directory)", response_model=Page[PersonOut],
            responses=responses(400, 401, 422))
async def list_people(session: Session, _caller: Caller, limit: Limit = 50, cursor: Cursor = None,
                      manager_id: int | None = None, q: str | None = None):
    query = select(Person).order_by(Person.id).limit(limit + 1)
    if (after := decode_cursor(cursor)) is not None:
        query = query.where(Person.id > int(after[0]))
    if manager_id is not None:
        query = query.where(Person.manager_id == manager_id)
    if q:
        needle = f"%{q.lower()}%"
        query = query.where(Person.email.like(needle) | Person.name.ilike(needle))
    rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor([rows[-1].id]) if more else None)


@router.get("/{person_id}", summary="Get a person", response_model=PersonOut,
            responses=responses(401, 404))
async def get_person(person_id: int, session: Session, _caller: Caller):
    person = await session.get(Person, person_id)
    if person is None:
        raise NotFound(f"person {person_id} not found")
    return person


@router.post(":import", summary="Import people and reporting lines (all or nothing)",
             response_model=ImportOut, responses=responses(401, 403, 422))
async def import_people(body: PeopleImport, session: Session, now: Now, _admin: Admin):
    rows = [people_domain.PersonRow(email=p.email, name=p.name, timezone=p.timezone, manager=p.manager,
                                    role=p.role.value) for p in body.people]
    result = await people_domain.import_people(session, rows, now)
    return ImportOut(created=result.created, updated=result.updated)
