"""Per-person meeting feedback (a 1–5 rating and a comment).

Each participant rates a meeting once it has started (and was not cancelled or
declined), and may change their rating for `EDIT_WINDOW` after first submitting
it. A person only ever reads their own feedback: the other participant never
sees it (psychological safety); only aggregates leave this module (insights)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import Feedback, MeetingStatus
from service.domain.access import Principal
from service.domain.content import load_meeting_for_participant
from service.errors import Conflict, NotFound

EDIT_WINDOW = timedelta(days=7)
_NOT_HELD = {MeetingStatus.cancelled.value, MeetingStatus.declined.value}


async def get_own_feedback(session: AsyncSession, meeting_id: int, principal: Principal) -> Feedback:
    await load_meeting_for_participant(session, meeting_id, principal)
    feedback = await _own(session, meeting_id, principal.person_id)
    if feedback is None:
        raise NotFound(f"you have not given feedback on meeting {meeting_id}")
    return feedback


async def put_own_feedback(
    session: AsyncSession, meeting_id: int, principal: Principal, now: datetime, *, rating: int, comment: str
) -> Feedback:
    """Submit (or, within the edit window, change) the caller's feedback on a meeting."""
    meeting, _ = await load_meeting_for_participant(session, meeting_id, principal, change=True)
    if meeting.status in _NOT_HELD:
        raise Conflict(f"the meeting was {meeting.status}; there is nothing to give feedback on")
    if meeting.start > now:
        raise Conflict("feedback opens once the meeting has started")
    feedback = await _own(session, meeting_id, principal.person_id)
    if feedback is None:
        feedback = Feedback(
            meeting_id=meeting_id,
            person_id=principal.person_id,
            rating=rating,
            comment=comment,
            created_at=now,
            updated_at=now,
        )
        try:
            async with session.begin_nested():
                session.add(feedback)
            return feedback
        except IntegrityError:
            # Submitted twice at once by the same person: treat this one as an edit.
            feedback = await _own(session, meeting_id, principal.person_id)
    if now > feedback.created_at + EDIT_WINDOW:
        raise Conflict(
            f"feedback can only be changed for {EDIT_WINDOW.days} days after it was first given "
            f"(until {(feedback.created_at + EDIT_WINDOW).isoformat()})"
        )
    feedback.rating, feedback.comment, feedback.updated_at = rating, comment, now
    await session.flush()
    return feedback


async def _own(session: AsyncSession, meeting_id: int, person_id: int) -> Feedback | None:
    return await session.scalar(
        select(Feedback)
        .where(Feedback.meeting_id == meeting_id, Feedback.person_id == person_id)
        .execution_options(populate_existing=True)
    )
