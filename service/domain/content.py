"""Loading meetings and pairs for their *content* (notes, action items, feedback).

Content is for the pair's participants only (`access.content_access`): anyone
else, admins included, gets a 404, so a refusal never reveals that a meeting or
pair exists. Kept separate from the meetings domain so content features do not
depend on its loader."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import Meeting, Pair
from service.domain.access import Access, Principal, content_access
from service.errors import Forbidden, NotFound


async def load_meeting_for_participant(
    session: AsyncSession, meeting_id: int, principal: Principal, *, change: bool = False
) -> tuple[Meeting, Pair]:
    """The meeting and its pair, or NotFound unless the caller is a participant who may
    see it; with `change`, Forbidden for one who may only read it (a former manager)."""
    row = (
        await session.execute(
            select(Meeting, Pair).join(Pair, Pair.id == Meeting.pair_id).where(Meeting.id == meeting_id)
        )
    ).first()
    access = content_access(principal, row.Pair, row.Meeting.start) if row is not None else Access.none
    require(access, change, f"meeting {meeting_id} not found")
    return row.Meeting, row.Pair


async def load_pair_for_participant(
    session: AsyncSession, pair_id: int, principal: Principal, *, change: bool = False
) -> Pair:
    """The pair, or NotFound unless the caller is one of its participants (see above)."""
    pair = await session.get(Pair, pair_id)
    require(content_access(principal, pair) if pair is not None else Access.none, change, f"pair {pair_id} not found")
    return pair


READ_ONLY = "the reporting line has ended: its 1:1s are read-only for the former manager"


def require(access: Access, change: bool, not_found: str) -> None:
    if access is Access.none:
        raise NotFound(not_found)
    if change and access is Access.read:
        raise Forbidden(READ_ONLY)
