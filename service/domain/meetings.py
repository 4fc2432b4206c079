"""Meetings (1:1 occurrences of a pair): the schedule and the meeting detail.

Meetings created through the API have `source_uid` null and may be rescheduled and
cancelled here; calendar-synced ones (`source_uid` set) belong to the calendar and
change only through sync (409 here). Access is decided by `pairs.load_pair` /
`pairs.load_meeting`: participants act, admins see the schedule only — and of a
calendar-synced meeting not what comes from the calendars: its title reads "1:1"
and its iCalendar UID is withheld (`schedule_only`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.hot import HotQuery
from service.db.models import ActionItem, AgendaItem, Meeting, MeetingStatus, Pair, PrivateNote, SharedNote
from service.domain import carryover, outbox
from service.domain import templates as templates_domain
from service.domain.access import Access, Principal, content_access, is_participant
from service.domain.agenda import AgendaEntry, ordering, visible_to
from service.domain.pairs import load_meeting, load_pair
from service.errors import Conflict, NotFound, ValidationFailed

MIN_LENGTH = timedelta(minutes=5)
MAX_LENGTH = timedelta(hours=8)
SYNCED_TITLE = "1:1"  # a calendar-synced meeting's title, for those who may not see the calendar's
_COLUMNS = tuple(c.key for c in Meeting.__mapper__.column_attrs)


def check_times(start: datetime, end: datetime) -> None:
    """A meeting ends after it starts and lasts 5 minutes to 8 hours (422 otherwise)."""
    if end <= start:
        message = "end must be after start"
    elif end - start < MIN_LENGTH:
        message = "a meeting lasts at least 5 minutes"
    elif end - start > MAX_LENGTH:
        message = "a meeting lasts at most 8 hours"
    else:
        return
    raise ValidationFailed("invalid meeting time", [{"field": "end", "message": message}])


@dataclass(frozen=True)
class MeetingFilter:
    start_from: datetime | None = None  # inclusive
    start_to: datetime | None = None  # exclusive
    status: str | None = None


async def list_meetings(
    session: AsyncSession,
    principal: Principal,
    pair_id: int,
    filters: MeetingFilter,
    *,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Any]:
    """The pair's meetings ordered by (start, id), at most `limit` after the `after` key.
    Participants and admins (the schedule is not content; see `schedule_only`)."""
    pair = await load_pair(session, principal, pair_id)
    if filters.start_from and filters.start_to and filters.start_to <= filters.start_from:
        raise ValidationFailed("empty time range", [{"field": "to", "message": "`to` must be after `from`"}])
    query = select(Meeting).where(Meeting.pair_id == pair.id).order_by(Meeting.start, Meeting.id).limit(limit)
    if content_access(principal, pair) is Access.read and pair.ended_at is not None:
        query = query.where(Meeting.start < pair.ended_at)  # the former manager: up to the line's end
    if filters.start_from is not None:
        query = query.where(Meeting.start >= filters.start_from)
    if filters.start_to is not None:
        query = query.where(Meeting.start < filters.start_to)
    if filters.status is not None:
        query = query.where(Meeting.status == filters.status)
    if after is not None:
        start, last_id = after
        query = query.where(or_(Meeting.start > start, and_(Meeting.start == start, Meeting.id > last_id)))
    rows = list((await session.scalars(query)).all())
    if is_participant(principal, pair.manager_id, pair.report_id):
        return rows
    return [schedule_only(row) for row in rows]


def schedule_only(meeting: Meeting) -> Any:
    """A meeting as someone who is not its participant (an admin) sees it: when it is and
    how it went. A calendar-synced meeting's title and iCalendar UID come from the
    participants' calendars: the title reads "1:1" and `source_uid` is null. (A copy, not
    the row: the session must not write it back.)"""
    values = {key: getattr(meeting, key) for key in _COLUMNS}
    if meeting.source_uid is not None:
        values.update(title=SYNCED_TITLE, source_uid=None)
    return SimpleNamespace(**values)


async def create_meeting(
    session: AsyncSession,
    principal: Principal,
    pair_id: int,
    *,
    title: str,
    start: datetime,
    end: datetime,
    template_id: int | None,
    now: datetime,
) -> Meeting:
    """A meeting of an active pair, created by one of its participants; then the template
    (if any) is applied and pending carry-over items are collected."""
    pair = await load_pair(session, principal, pair_id, act=True)
    if not pair.active:
        raise Conflict("the pair is no longer active (the reporting line changed)")
    check_times(start, end)
    template = None
    if template_id is not None:
        template = await templates_domain.get_template(session, template_id)
        if template is None:
            raise ValidationFailed("unknown template", [{"field": "template_id", "message": "no such template"}])
    meeting = Meeting(
        pair_id=pair.id,
        title=title,
        original_start=start,
        start=start,
        end=end,
        status=MeetingStatus.scheduled.value,
        created_by=principal.person_id,
        created_at=now,
        updated_at=now,
    )
    session.add(meeting)
    await session.flush()
    if template is not None:
        await templates_domain.append_sections(session, meeting, template, principal.person_id, now)
    await carryover.collect_pending(session, pair.id, meeting.id, now)
    return meeting


async def _own_meeting(session: AsyncSession, principal: Principal, meeting_id: int) -> Meeting:
    """An API-created, not cancelled meeting the caller may reschedule, row-locked."""
    meeting, _pair = await load_meeting(session, principal, meeting_id, content=False, lock=True, change=True)
    if meeting.source_uid is not None:
        raise Conflict("the meeting is owned by the calendar; change it there")
    if meeting.status == MeetingStatus.cancelled.value:
        raise Conflict("the meeting is cancelled")
    return meeting


async def update_meeting(
    session: AsyncSession, principal: Principal, meeting_id: int, changes: dict[str, Any], now: datetime
) -> Meeting:
    """Rename or reschedule (`title`, `start`, `end`). A new `start` without an `end`
    keeps the meeting's length; the result must satisfy `check_times`."""
    meeting = await _own_meeting(session, principal, meeting_id)
    start = changes.get("start", meeting.start)
    try:
        end = changes.get("end") or start + (meeting.end - meeting.start)
    except OverflowError:
        raise ValidationFailed("invalid meeting time", [{"field": "start", "message": "out of range"}]) from None
    check_times(start, end)
    was_start, was_end = meeting.start, meeting.end
    changed = False
    for field, value in (("title", changes.get("title", meeting.title)), ("start", start), ("end", end)):
        if getattr(meeting, field) != value:
            setattr(meeting, field, value)
            changed = True
    if changed:
        meeting.updated_at = now
        await session.flush()
    if meeting.start != was_start and meeting.status == MeetingStatus.scheduled.value:
        event = outbox.meeting_rescheduled(await outbox.pair_of(session, meeting.pair_id), meeting, was_start, was_end)
        await outbox.record(session, [event], now)
    return meeting


async def cancel_meeting(session: AsyncSession, principal: Principal, meeting_id: int, now: datetime) -> Meeting:
    """Cancel an API-created meeting and carry its open agenda items over."""
    meeting = await _own_meeting(session, principal, meeting_id)
    if meeting.status == MeetingStatus.held.value:
        raise Conflict("the meeting was held; it cannot be cancelled")
    meeting.status = MeetingStatus.cancelled.value
    meeting.cancelled_at = meeting.updated_at = now
    await session.flush()
    await outbox.record(
        session, [outbox.meeting_cancelled(await outbox.pair_of(session, meeting.pair_id), meeting)], now
    )
    await carryover.carry_over(session, meeting.id, now)
    return meeting


async def apply_template(
    session: AsyncSession, principal: Principal, meeting_id: int, template_id: int, now: datetime
) -> Meeting:
    """Append a template's sections to the agenda (participants; 409 if the meeting is
    cancelled or this template is the one last applied to it)."""
    meeting, _pair = await load_meeting(session, principal, meeting_id, content=True, lock=True, change=True)
    if meeting.status == MeetingStatus.cancelled.value:
        raise Conflict("the meeting is cancelled")
    template = await templates_domain.get_template(session, template_id)
    if template is None:
        raise ValidationFailed("unknown template", [{"field": "template_id", "message": "no such template"}])
    if meeting.template_id == template.id:
        raise Conflict("this template is already applied to the meeting")
    await templates_domain.append_sections(session, meeting, template, principal.person_id, now)
    return meeting


# The detail is the hottest read (benchmarked against bare asyncpg): its three statements
# are built once, on the tables (Core rows, no ORM identity map), with bound parameters.
_meetings, _pairs, _agenda, _actions = (Meeting.__table__, Pair.__table__, AgendaItem.__table__, ActionItem.__table__)
_shared, _private = SharedNote.__table__, PrivateNote.__table__
_SHARED_COLS = ("meeting_id", "body", "version", "updated_by", "updated_at")
_PRIVATE_COLS = ("meeting_id", "author_id", "body", "updated_at")
_DETAIL_HEAD = HotQuery(
    select(
        _meetings,
        _pairs.c.manager_id,
        _pairs.c.report_id,
        _pairs.c.active,
        _pairs.c.ended_at,
        *(_shared.c[c].label(f"shared_{c}") for c in _SHARED_COLS),
        *(_private.c[c].label(f"private_{c}") for c in _PRIVATE_COLS),
    )
    .join(_pairs, _pairs.c.id == _meetings.c.pair_id)
    .outerjoin(_shared, _shared.c.meeting_id == _meetings.c.id)
    .outerjoin(_private, and_(_private.c.meeting_id == _meetings.c.id, _private.c.author_id == bindparam("me")))
    .where(_meetings.c.id == bindparam("meeting_id"))
)
_DETAIL_AGENDA = HotQuery(
    select(_agenda)
    .where(_agenda.c.meeting_id == bindparam("meeting_id"), visible_to(bindparam("me")))
    .order_by(*ordering(bindparam("report_id")))
)
_DETAIL_ACTIONS = HotQuery(
    select(_actions)
    .where(_actions.c.pair_id == bindparam("pair_id"), _actions.c.done_at.is_(None))
    .order_by(_actions.c.due_date.is_(None), _actions.c.due_date, _actions.c.id)
)


@dataclass(frozen=True, slots=True)
class MeetingDetail:
    """Rows with the attributes of `Meeting`, `ActionItem`, `SharedNote`, `PrivateNote`."""

    meeting: Any
    agenda: list[AgendaEntry]
    open_action_items: list[Any]
    shared_note: dict[str, Any] | None
    private_note: dict[str, Any] | None


async def meeting_detail(session: AsyncSession, principal: Principal, meeting_id: int) -> MeetingDetail:
    """A meeting with what the caller may see of it (participants only, 404 otherwise):
    their agenda (shared items and their own private ones, in agenda order), the pair's
    open action items by (due date, nulls last; id), the shared note and their own
    private note. Three queries."""
    me = principal.person_id
    head = await _DETAIL_HEAD.first(session, meeting_id=meeting_id, me=me)
    if head is None or content_access(principal, head, head.start) is Access.none:
        raise NotFound(f"meeting {meeting_id} not found")
    items = await _DETAIL_AGENDA.all(session, meeting_id=meeting_id, me=me, report_id=head.report_id)
    actions = await _DETAIL_ACTIONS.all(session, pair_id=head.pair_id)
    shared = {c: getattr(head, f"shared_{c}") for c in _SHARED_COLS} if head.shared_meeting_id is not None else None
    private = {c: getattr(head, f"private_{c}") for c in _PRIVATE_COLS} if head.private_meeting_id is not None else None
    return MeetingDetail(
        meeting=head,
        agenda=[AgendaEntry.of(item, i) for i, item in enumerate(items)],
        open_action_items=list(actions),
        shared_note=shared,
        private_note=private,
    )
