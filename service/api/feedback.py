"""Each participant's own feedback on a meeting (never the other's)."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import Caller, Now, Session
from service.api.problems import responses
from service.api.schemas.common import Id
from service.api.schemas.feedback import FeedbackIn, FeedbackOut
from service.domain import feedback as feedback_domain

router = APIRouter(tags=["feedback"])


@router.put(
    "/meetings/{meeting_id}/feedback",
    summary="Give or change your feedback on a meeting",
    description="Participants only. Accepted once the meeting has started and unless it was "
    "cancelled or declined (409); changes are accepted for 7 days after the first "
    "submission (409 after). Only you can read it back.",
    response_model=FeedbackOut,
    responses=responses(401, 404, 409, 422),
)
async def put_feedback(meeting_id: Id, body: FeedbackIn, session: Session, caller: Caller, now: Now):
    return await feedback_domain.put_own_feedback(
        session, meeting_id, caller, now, rating=body.rating, comment=body.comment
    )


@router.get(
    "/meetings/{meeting_id}/feedback",
    summary="Your own feedback on a meeting",
    description="Participants only; 404 until you have given feedback. The other participant's "
    "feedback is never shown (aggregates appear in insights).",
    response_model=FeedbackOut,
    responses=responses(401, 404, 422),
)
async def get_feedback(meeting_id: Id, session: Session, caller: Caller):
    return await feedback_domain.get_own_feedback(session, meeting_id, caller)
