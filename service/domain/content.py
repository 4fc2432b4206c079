"""Loading meetings and pairs for their *content* (notes, action items, feedback).

Content is for the pair's participants only (`access.can_view_content`): anyone
else, admins included, gets a 404, so a refusal never reveals that a meeting or
pair exists. Kept separate from the meetings domain so content features do not
depend on its loader."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import Meeting, Pair
from service.domain.access import Principal, can_view_content
from service.errors import NotFound


async def load_meeting_for_participant(
    session: AsyncSession, meeting_id: int, principal: Principal
) -> tuple[Meeting, Pair]:
    """The meeting and its pair, or NotFound unless the caller is a participant."""
    row = (
        await session.execute(
            select(Meeting, Pair).join(Pair, Pair.id == Meeting.pair_id).where(Meeting.id == meeting_id)
        )
    ).first()
    if row is None or not can_view_content(principal, row.Pair.manager_id, row.Pair.report_id):
        raise NotFound(f"meeting {meeting_id} not found")
    return row.Meeting, row.Pair


async def load_pair_for_participant(session: AsyncSession, pair_id: int, principal: Principal) -> Pair:
    """The pair, or NotFound unless the caller is one of its participants."""
    pair = await session.get(Pair, pair_id)
    if pair is None or not can_view_content(principal, pair.manager_id, pair.report_id):
        raise NotFound(f"pair {pair_id} not found")
    return pair
