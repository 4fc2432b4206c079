"""Request dependencies: the unit of work, the clock, the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.principal_cache import PrincipalCache
from service.db.models import ApiToken, Person
from service.domain.access import Principal
from service.errors import Forbidden, Unauthorized
from service.security.tokens import hash_token, looks_like_api_token
from service.sync.connect import CalendarConnector

_READ_ONLY = frozenset({"GET", "HEAD"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns normally,
    rolled back on any error, so a failed request writes nothing. GET and HEAD
    handlers only read: their session (no transaction round trips on PostgreSQL)
    is closed, never committed."""
    if request.method in _READ_ONLY:
        async with request.app.state.read_sessions() as session:
            yield session
        return
    async with request.app.state.sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# Dependencies that do not await are still `async def`: FastAPI runs a plain
# `def` on its thread pool, a hop there and back on every request.
async def get_now(request: Request) -> datetime:
    return request.app.state.clock.now()


_bearer = HTTPBearer(auto_error=False, description="An API token (`oneonone token create`) or an OIDC JWT.")


# scope="function": the unit of work commits when the handler returns, *before*
# the response is sent, so a failing commit becomes a problem response.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


# Built once: authentication runs on every request.
_BY_TOKEN = (
    select(Person.id, Person.email, Person.role)
    .join(ApiToken, ApiToken.person_id == Person.id)
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None))
)
_BY_EMAIL = select(Person.id, Person.email, Person.role).where(Person.email == bindparam("email"))


async def get_principal(
    request: Request,
    session: Session,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if creds is None or not creds.credentials:
        raise Unauthorized("send `Authorization: Bearer <token>`")
    token = creds.credentials
    if not looks_like_api_token(token):
        verifier = request.app.state.oidc
        if verifier is None:
            raise Unauthorized("unknown token")
        row = (await session.execute(_BY_EMAIL, {"email": await verifier.verify(token)})).first()
        if row is None:
            raise Unauthorized("no person with the token's email")
        return Principal(person_id=row.id, email=row.email, role=row.role)

    token_hash = hash_token(token)
    cache: PrincipalCache = request.app.state.principal_cache
    if (principal := cache.get(token_hash)) is not None:
        return principal
    row = (await session.execute(_BY_TOKEN, {"token_hash": token_hash})).first()
    if row is None:
        raise Unauthorized("unknown or revoked token")
    principal = Principal(person_id=row.id, email=row.email, role=row.role)
    cache.put(token_hash, principal)
    return principal


Caller = Annotated[Principal, Depends(get_principal, scope="function")]


async def require_admin(p: Caller) -> Principal:
    if not p.is_admin:
        raise Forbidden("admin role required")
    return p


async def get_connector(request: Request) -> CalendarConnector:
    return request.app.state.connector


Now = Annotated[datetime, Depends(get_now)]
Connector = Annotated[CalendarConnector, Depends(get_connector)]
Admin = Annotated[Principal, Depends(require_admin, scope="function")]
