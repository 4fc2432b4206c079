"""Action items: listed per pair, raised in a meeting, edited and deleted by id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import Caller, Now, Session
from service.api.pagination import Cursor, Limit, Page, decode_int_cursor, encode_cursor
from service.api.problems import responses
from service.api.schemas.actions import ActionItemCreate, ActionItemPatch
from service.api.schemas.common import Id
from service.api.schemas.meetings import ActionItemOut
from service.api.schemas.screens import MyActionItemOut
from service.domain import actions as actions_domain
from service.domain import screens
from service.domain.actions import ActionStatus

router = APIRouter(tags=["actions"])


@router.get(
    "/pairs/{pair_id}/action-items",
    summary="List a pair's action items",
    description="Participants only. Open items (the default filter) are the ones every later "
    "meeting of the pair carries until they are done. Ordered by id.",
    response_model=Page[ActionItemOut],
    responses=responses(400, 401, 404, 422),
)
async def list_action_items(
    pair_id: Id,
    session: Session,
    caller: Caller,
    limit: Limit = 50,
    cursor: Cursor = None,
    status: Annotated[ActionStatus, Query(description="open (not done), done, or all")] = ActionStatus.open,
    owner_id: Id | None = None,
):
    items = await actions_domain.list_action_items(
        session, pair_id, caller, status=status, owner_id=owner_id, after_id=decode_int_cursor(cursor), limit=limit
    )
    more = len(items) > limit
    items = items[:limit]
    return Page(items=items, next_cursor=encode_cursor([items[-1].id]) if more else None)


@router.get(
    "/me/action-items",
    summary="The caller's action items across their pairs",
    description="Every action item of every pair the caller takes part in (as manager or report), "
    "as `GET /v1/pairs/{pair_id}/action-items` shows them pair by pair, with `pair_id` and the "
    "`owner` embedded. Admins see only their own pairs' items. Open items by default. Ordered by id; "
    "one query per page.",
    response_model=Page[MyActionItemOut],
    responses=responses(400, 401, 422),
)
async def list_my_action_items(
    session: Session,
    caller: Caller,
    limit: Limit = 50,
    cursor: Cursor = None,
    status: Annotated[ActionStatus, Query(description="open (not done), done, or all")] = ActionStatus.open,
):
    items = await screens.my_action_items(session, caller, status, after_id=decode_int_cursor(cursor), limit=limit + 1)
    more = len(items) > limit
    items = items[:limit]
    return Page(items=items, next_cursor=encode_cursor([items[-1].id]) if more else None)


@router.post(
    "/meetings/{meeting_id}/action-items",
    summary="Raise an action item in a meeting",
    description="Participants only. The owner must be the pair's manager or report.",
    status_code=201,
    response_model=ActionItemOut,
    responses=responses(401, 404, 422),
)
async def create_action_item(meeting_id: Id, body: ActionItemCreate, session: Session, caller: Caller, now: Now):
    return await actions_domain.create_action_item(
        session, meeting_id, caller, now, body=body.body, owner_id=body.owner_id, due_date=body.due_date
    )


@router.patch(
    "/action-items/{item_id}",
    summary="Edit, complete or reopen an action item",
    description="Participants only; only the fields sent change. `done: true` stamps `done_at` "
    "(kept if it was already done), `done: false` reopens.",
    response_model=ActionItemOut,
    responses=responses(401, 404, 422),
)
async def update_action_item(item_id: Id, body: ActionItemPatch, session: Session, caller: Caller, now: Now):
    return await actions_domain.update_action_item(session, item_id, caller, now, body.model_dump(exclude_unset=True))


@router.delete(
    "/action-items/{item_id}",
    summary="Delete an action item",
    status_code=204,
    response_model=None,
    responses=responses(401, 404, 422),
)
async def delete_action_item(item_id: Id, session: Session, caller: Caller) -> None:
    await actions_domain.delete_action_item(session, item_id, caller)
