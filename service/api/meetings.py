"""Meetings of a pair: the schedule (list, create, reschedule, cancel) and the detail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from service.api.deps import Caller, Now, Session
from service.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from service.api.problems import responses
from service.api.schemas.common import MAX_ID, Id, UTCTimestamp
from service.api.schemas.meetings import MeetingCreate, MeetingDetailOut, MeetingOut, MeetingUpdate
from service.api.schemas.pairs import PairRole
from service.api.schemas.screens import MyMeetingOut
from service.db.models import MeetingStatus
from service.domain import meetings as meetings_domain
from service.domain import screens
from service.errors import BadRequest

router = APIRouter(tags=["meetings"])

_MEETING_FIELDS = tuple(MeetingOut.model_fields)


def _after(cursor: str | None) -> tuple[datetime, int] | None:
    values = decode_cursor(cursor)
    if values is None:
        return None
    try:
        start, last_id = datetime.fromisoformat(values[0]), values[1]
        if len(values) != 2 or start.tzinfo is None or type(last_id) is not int or not 0 <= last_id <= MAX_ID:
            raise ValueError
        start = start.astimezone(UTC)
    except (IndexError, TypeError, ValueError, OverflowError):
        raise BadRequest("invalid cursor") from None
    return start, last_id


# The filters of both meeting lists.
StartFrom = Annotated[
    UTCTimestamp | None, Query(alias="from", description="Starting at or after (RFC 3339 with offset)")
]
StartTo = Annotated[UTCTimestamp | None, Query(alias="to", description="Starting before (RFC 3339 with offset)")]
StatusFilter = Annotated[MeetingStatus | None, Query(alias="status")]


@router.get(
    "/pairs/{pair_id}/meetings",
    summary="List a pair's meetings",
    response_model=Page[MeetingOut],
    responses=responses(400, 401, 404, 422),
)
async def list_meetings(
    pair_id: Id,
    session: Session,
    caller: Caller,
    limit: Limit = 50,
    cursor: Cursor = None,
    start_from: StartFrom = None,
    start_to: StartTo = None,
    status_: StatusFilter = None,
):
    """Ordered by (start, id). Participants and admins (the schedule, not the content: to an
    admin a calendar-synced meeting is titled "1:1" and its `source_uid` is null)."""
    filters = meetings_domain.MeetingFilter(
        start_from=start_from, start_to=start_to, status=status_.value if status_ else None
    )
    rows = await meetings_domain.list_meetings(session, caller, pair_id, filters, after=_after(cursor), limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor([rows[-1].start.isoformat(), rows[-1].id]) if more else None)


@router.get(
    "/meetings",
    summary="The caller's meetings across all their pairs",
    response_model=Page[MyMeetingOut],
    responses=responses(400, 401, 422),
)
async def list_my_meetings(
    session: Session,
    caller: Caller,
    limit: Limit = 50,
    cursor: Cursor = None,
    start_from: StartFrom = None,
    start_to: StartTo = None,
    status_: StatusFilter = None,
    role: Annotated[
        PairRole | None, Query(description="Only pairs where the caller is the manager (or the report)")
    ] = None,
):
    """A week view in one call: the meetings of every pair the caller takes part in (as
    manager or report; admins too see only their own), ordered by (start, id), each with
    the other participant, the agenda as the caller sees it counted (shared items and the
    caller's own private ones; `agenda_empty`: no shared item), the pair's open action
    items and whether the caller rated it. A former manager sees the meetings before the
    line ended. One query per page, however many pairs."""
    filters = screens.MyMeetingFilter(
        start_from=start_from,
        start_to=start_to,
        status=status_.value if status_ else None,
        role=role.value if role else None,
    )
    rows = await screens.my_meetings(session, caller, filters, after=_after(cursor), limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor([rows[-1].start.isoformat(), rows[-1].id]) if more else None)


@router.post(
    "/pairs/{pair_id}/meetings",
    summary="Schedule a meeting of the pair",
    response_model=MeetingOut,
    status_code=status.HTTP_201_CREATED,
    responses=responses(401, 403, 404, 409, 422),
)
async def create_meeting(pair_id: Id, body: MeetingCreate, session: Session, caller: Caller, now: Now):
    """Participants only. Lasts 5 minutes to 8 hours. Applies `template_id` if given, then
    collects open agenda items due to be carried over to it."""
    return await meetings_domain.create_meeting(
        session,
        caller,
        pair_id,
        title=body.title,
        start=body.start,
        end=body.end,
        template_id=body.template_id,
        now=now,
    )


@router.get(
    "/meetings/{meeting_id}",
    summary="A meeting with its agenda, open action items and notes",
    response_model=MeetingDetailOut,
    responses=responses(401, 404),
)
async def get_meeting(meeting_id: Id, session: Session, caller: Caller):
    """Participants only: the agenda as the caller sees it (shared items and their own
    private ones), the pair's open action items, the shared note and the caller's own
    private note."""
    detail = await meetings_domain.meeting_detail(session, caller, meeting_id)
    meeting = detail.meeting
    out = {name: getattr(meeting, name) for name in _MEETING_FIELDS}
    out.update(
        agenda=detail.agenda,
        open_action_items=detail.open_action_items,
        shared_note=detail.shared_note,
        private_note=detail.private_note,
    )
    return out


@router.patch(
    "/meetings/{meeting_id}",
    summary="Rename or reschedule a meeting created through the API",
    response_model=MeetingOut,
    responses=responses(401, 403, 404, 409, 422),
)
async def update_meeting(meeting_id: Id, body: MeetingUpdate, session: Session, caller: Caller, now: Now):
    """A new `start` alone keeps the meeting's length. 409 for calendar-synced meetings
    (owned by the calendar) and for cancelled ones."""
    return await meetings_domain.update_meeting(session, caller, meeting_id, body.model_dump(exclude_unset=True), now)


@router.post(
    "/meetings/{meeting_id}:cancel",
    summary="Cancel a meeting created through the API",
    response_model=MeetingOut,
    responses=responses(401, 403, 404, 409),
)
async def cancel_meeting(meeting_id: Id, session: Session, caller: Caller, now: Now):
    """Its open agenda items move to the pair's next meeting (or wait for one to be
    created). Calendar-synced meetings are cancelled in the calendar (409)."""
    return await meetings_domain.cancel_meeting(session, caller, meeting_id, now)
