from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import Caller, Session
from service.api.problems import responses
from service.api.schemas.people import PersonOut
from service.db.models import Person

router = APIRouter(tags=["me"])


@router.get("/me", summary="The authenticated person", response_model=PersonOut, responses=responses(401))
async def get_me(session: Session, caller: Caller):
    return await session.get(Person, caller.person_id)
