"""Findings about pairs' 1:1s: list, read, acknowledge."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import Caller, Now, Session
from service.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from service.api.problems import responses
from service.api.schemas.common import MAX_ID, Id
from service.api.schemas.findings import FindingOut
from service.domain import findings as findings_domain
from service.domain.findings import FindingFilter, FindingStatus, FindingType
from service.errors import BadRequest

router = APIRouter(tags=["findings"])
NEED_TO_KNOW = (
    "Calendar content is shown on a need-to-know basis: titles and event ids only of events on "
    "the caller's own calendar; an event on another calendar, or marked private, is `busy` with "
    "its time range (and `details.conflict` reads `busy`). The 1:1 itself shows its title to both "
    "participants. Admins see busy time only."
)


def after_key(cursor: str | None) -> tuple[datetime, int] | None:
    values = decode_cursor(cursor)
    if values is None:
        return None
    try:
        at, last_id = values
        at = datetime.fromisoformat(at)
        if at.tzinfo is not None:
            at = at.astimezone(UTC)
    except (TypeError, ValueError, OverflowError):
        raise BadRequest("invalid cursor") from None
    if at.tzinfo is None or type(last_id) is not int or not 0 <= last_id <= MAX_ID:
        raise BadRequest("invalid cursor")
    return at, last_id


@router.get(
    "/findings",
    summary="List findings about the 1:1s you can see",
    description="Participants see their pairs' findings, admins all; anyone else an empty list. "
    "Newest first (detected_at, then id, descending). Filters combine: `pair_id`, "
    "`manager_id`, `report_id`, `type`, `status` (open by default) and `acknowledged`. "
    "Each finding explains itself in `details.evidence`. " + NEED_TO_KNOW,
    response_model=Page[FindingOut],
    responses=responses(400, 401, 422),
)
async def list_findings(
    session: Session,
    caller: Caller,
    limit: Limit = 50,
    cursor: Cursor = None,
    pair_id: Id | None = None,
    manager_id: Id | None = None,
    report_id: Id | None = None,
    type: FindingType | None = None,
    status: Annotated[FindingStatus, Query(description="open (not resolved), resolved, or all")] = FindingStatus.open,
    acknowledged: Annotated[bool | None, Query(description="Only (un)acknowledged findings")] = None,
):
    filters = FindingFilter(
        pair_id=pair_id, manager_id=manager_id, report_id=report_id, type=type, status=status, acknowledged=acknowledged
    )
    rows = await findings_domain.list_findings(session, caller, filters, after=after_key(cursor), limit=limit)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([rows[-1].detected_at.isoformat(), rows[-1].id]) if more else None
    return Page(items=rows, next_cursor=next_cursor)


@router.get(
    "/findings/{finding_id}",
    summary="Get a finding",
    description=NEED_TO_KNOW,
    response_model=FindingOut,
    responses=responses(401, 404, 422),
)
async def get_finding(finding_id: Id, session: Session, caller: Caller):
    return await findings_domain.get_finding(session, finding_id, caller)


@router.post(
    "/findings/{finding_id}:acknowledge",
    summary="Acknowledge a finding",
    description="The pair's participants or an admin. Idempotent: acknowledging again keeps the "
    "first acknowledgement (who and when).",
    response_model=FindingOut,
    responses=responses(401, 404, 422),
)
async def acknowledge_finding(finding_id: Id, session: Session, caller: Caller, now: Now):
    return await findings_domain.acknowledge(session, finding_id, caller, now)
