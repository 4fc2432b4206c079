from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service.api.deps import Caller, Now, Session
from service.api.problems import responses
from service.api.schemas.common import Id
from service.api.schemas.people import PersonOut
from service.api.schemas.tokens import TokenOut
from service.db.models import Person
from service.domain import api_tokens

router = APIRouter(tags=["me"])


@router.get("/me", summary="The authenticated person", response_model=PersonOut, responses=responses(401))
async def get_me(session: Session, caller: Caller):
    return await session.get(Person, caller.person_id)


@router.get("/me/tokens", summary="The caller's API tokens", response_model=list[TokenOut], responses=responses(401))
async def list_my_tokens(session: Session, caller: Caller):
    return await api_tokens.list_own(session, caller.person_id)


@router.delete(
    "/me/tokens/{token_id}",
    summary="Revoke one of the caller's API tokens",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "Revoked (also when it already was)"}, **responses(401, 404, 422)},
)
async def revoke_my_token(token_id: Id, request: Request, session: Session, caller: Caller, now: Now) -> Response:
    """At once in this process; other API processes stop accepting it within
    `ONEONONE_AUTH_CACHE_SECONDS` (their cache of authenticated tokens)."""
    token = await api_tokens.revoke_own(session, caller.person_id, token_id, now)
    request.app.state.principal_cache.forget(token_hashes=[token.token_hash])
    return Response(status_code=204)
