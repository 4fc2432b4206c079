"""API tokens for people (created by an operator with the CLI)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import ApiToken
from service.domain.people import get_by_email
from service.errors import NotFound
from service.security.tokens import hash_token, new_token


async def create(session: AsyncSession, email: str, name: str, now: datetime) -> str:
    """Store a new token's hash and return the token (its only appearance)."""
    person = await get_by_email(session, email)
    if person is None:
        raise NotFound(f"no person with email {email!r}")
    token = new_token()
    session.add(
        ApiToken(person_id=person.id, name=name, token_hash=hash_token(token), prefix=token[:10], created_at=now)
    )
    await session.flush()
    return token


async def revoke(session: AsyncSession, prefix: str, now: datetime) -> int:
    result = await session.execute(
        update(ApiToken).where(ApiToken.prefix == prefix[:10], ApiToken.revoked_at.is_(None)).values(revoked_at=now)
    )
    return result.rowcount or 0


async def list_for(session: AsyncSession, email: str) -> list[ApiToken]:
    person = await get_by_email(session, email)
    if person is None:
        raise NotFound(f"no person with email {email!r}")
    return list(
        (await session.scalars(select(ApiToken).where(ApiToken.person_id == person.id).order_by(ApiToken.id))).all()
    )


async def list_own(session: AsyncSession, person_id: int) -> list[ApiToken]:
    return list(
        (await session.scalars(select(ApiToken).where(ApiToken.person_id == person_id).order_by(ApiToken.id))).all()
    )


async def revoke_own(session: AsyncSession, person_id: int, token_id: int, now: datetime) -> ApiToken:
    """Revoke one of the person's own tokens (idempotent); NotFound for anyone else's."""
    token = await session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.person_id == person_id).with_for_update()
    )
    if token is None:
        raise NotFound(f"token {token_id} not found")
    if token.revoked_at is None:
        token.revoked_at = now
        await session.flush()
    return token
