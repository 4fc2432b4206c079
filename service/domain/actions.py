"""Action items: raised in a meeting, owned by one of the pair, carried on every
later meeting of the pair until done. Participants only (content)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import ActionItem, Pair
from service.domain.access import Access, Principal, content_access
from service.domain.content import load_meeting_for_participant, load_pair_for_participant, require
from service.errors import ValidationFailed


class ActionStatus(str, enum.Enum):
    open = "open"
    done = "done"
    all = "all"


async def list_action_items(
    session: AsyncSession,
    pair_id: int,
    principal: Principal,
    *,
    status: ActionStatus = ActionStatus.open,
    owner_id: int | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[ActionItem]:
    """Up to `limit + 1` items of the pair in id order (the extra one signals a next page)."""
    await load_pair_for_participant(session, pair_id, principal)
    query = select(ActionItem).where(ActionItem.pair_id == pair_id).order_by(ActionItem.id).limit(limit + 1)
    if status is ActionStatus.open:
        query = query.where(ActionItem.done_at.is_(None))
    elif status is ActionStatus.done:
        query = query.where(ActionItem.done_at.is_not(None))
    if owner_id is not None:
        query = query.where(ActionItem.owner_id == owner_id)
    if after_id is not None:
        query = query.where(ActionItem.id > after_id)
    return list((await session.scalars(query)).all())


def _check_owner(pair: Pair, owner_id: int) -> None:
    if owner_id not in (pair.manager_id, pair.report_id):
        raise ValidationFailed(
            "the owner must be the pair's manager or report",
            [
                {
                    "field": "body.owner_id",
                    "message": f"person {owner_id} is not a participant of this 1:1",
                    "code": "not_participant",
                }
            ],
        )


async def create_action_item(
    session: AsyncSession,
    meeting_id: int,
    principal: Principal,
    now: datetime,
    *,
    body: str,
    owner_id: int,
    due_date: date | None = None,
) -> ActionItem:
    """Raise an action item in a meeting; it belongs to the meeting's pair."""
    meeting, pair = await load_meeting_for_participant(session, meeting_id, principal, change=True)
    _check_owner(pair, owner_id)
    item = ActionItem(
        pair_id=pair.id,
        meeting_id=meeting.id,
        owner_id=owner_id,
        created_by=principal.person_id,
        body=body,
        due_date=due_date,
        done_at=None,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    await session.flush()
    return item


async def _load_for_change(session: AsyncSession, item_id: int, principal: Principal) -> tuple[ActionItem, Pair]:
    row = (
        await session.execute(
            select(ActionItem, Pair).join(Pair, Pair.id == ActionItem.pair_id).where(ActionItem.id == item_id)
        )
    ).first()
    require(
        content_access(principal, row.Pair) if row is not None else Access.none,
        True,
        f"action item {item_id} not found",
    )
    return row.ActionItem, row.Pair


async def update_action_item(
    session: AsyncSession, item_id: int, principal: Principal, now: datetime, changes: dict[str, Any]
) -> ActionItem:
    """Apply the given fields (body, due_date, owner_id, done). `done: true` stamps
    `done_at` (kept if already done); `done: false` reopens the item."""
    item, pair = await _load_for_change(session, item_id, principal)
    if "owner_id" in changes:
        _check_owner(pair, changes["owner_id"])
    before = (item.body, item.due_date, item.owner_id, item.done_at)
    for field in ("body", "due_date", "owner_id"):
        if field in changes:
            setattr(item, field, changes[field])
    if "done" in changes:
        if not changes["done"]:
            item.done_at = None
        elif item.done_at is None:
            item.done_at = now
    if (item.body, item.due_date, item.owner_id, item.done_at) != before:
        item.updated_at = now
    await session.flush()
    return item


async def delete_action_item(session: AsyncSession, item_id: int, principal: Principal) -> None:
    item, _ = await _load_for_change(session, item_id, principal)
    await session.delete(item)
    await session.flush()
