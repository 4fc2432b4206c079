"""Agenda items (talking points) of a meeting; for the pair's participants only."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from service.api.deps import Caller, Now, Session
from service.api.pagination import Cursor, Limit, Page, decode_int_cursor, encode_cursor
from service.api.problems import responses
from service.api.schemas.agenda import AgendaItemCreate, AgendaItemUpdate
from service.api.schemas.common import Id
from service.api.schemas.meetings import AgendaItemOut
from service.domain import agenda as agenda_domain

router = APIRouter(tags=["agenda"])


@router.get(
    "/meetings/{meeting_id}/agenda",
    summary="The meeting's agenda as the caller sees it",
    response_model=Page[AgendaItemOut],
    responses=responses(400, 401, 404, 422),
)
async def list_agenda(
    meeting_id: Id,
    session: Session,
    caller: Caller,
    limit: Limit = 100,
    cursor: Cursor = None,
    done: bool | None = None,
):
    """Shared items and the caller's own private ones, in agenda order: the report's items
    first, then the manager's, each in creation order, unless someone reordered them.
    `position` is the index in this view (filters do not renumber)."""
    after = decode_int_cursor(cursor)
    after_position = after if after is not None else -1
    entries = [
        e
        for e in await agenda_domain.list_agenda(session, caller, meeting_id, done=done)
        if e.position > after_position
    ]
    more = len(entries) > limit
    entries = entries[:limit]
    return Page(items=entries, next_cursor=encode_cursor([entries[-1].position]) if more else None)


@router.post(
    "/meetings/{meeting_id}/agenda",
    summary="Add a talking point",
    response_model=AgendaItemOut,
    status_code=status.HTTP_201_CREATED,
    responses=responses(401, 404, 409, 422),
)
async def add_agenda_item(meeting_id: Id, body: AgendaItemCreate, session: Session, caller: Caller, now: Now):
    """`private` items are visible to their author only. 409 on a cancelled meeting."""
    return await agenda_domain.add_item(
        session, caller, meeting_id, body=body.body, private=body.private, minutes=body.minutes, now=now
    )


@router.patch(
    "/agenda-items/{item_id}",
    summary="Edit, tick off or move a talking point",
    response_model=AgendaItemOut,
    responses=responses(401, 403, 404, 422),
)
async def update_agenda_item(item_id: Id, body: AgendaItemUpdate, session: Session, caller: Caller, now: Now):
    """`body`, `private`, `minutes`: the author only. `done`, `position`: either participant.
    `position` moves the item to that index of the caller's agenda; from then on the
    agenda keeps this explicit order and new items are appended."""
    return await agenda_domain.update_item(session, caller, item_id, body.model_dump(exclude_unset=True), now)


@router.delete(
    "/agenda-items/{item_id}",
    summary="Delete a talking point (its author only)",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=responses(401, 403, 404),
)
async def delete_agenda_item(item_id: Id, session: Session, caller: Caller, now: Now):
    """Deleting an item carried over from an earlier meeting marks that source done, so it
    is not carried again."""
    await agenda_domain.delete_item(session, caller, item_id, now)
