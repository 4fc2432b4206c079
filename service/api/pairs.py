"""Pairs: a manager and one report, with their intended cadence."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.deps import Caller, Now, Session
from service.api.pagination import Cursor, Limit, Page, decode_int_cursor, encode_cursor
from service.api.problems import responses
from service.api.schemas.common import Id
from service.api.schemas.pairs import PairOut, PairRole, PairUpdate
from service.db.models import Pair
from service.domain import pairs as pairs_domain
from service.domain import screens

router = APIRouter(tags=["pairs"])
_STORED = tuple(name for name in PairOut.model_fields if name in Pair.__mapper__.column_attrs)


async def _outs(session: AsyncSession, pairs: list[Pair], now: datetime) -> list[PairOut]:
    """Three queries for a page of pairs: streaks, people, open findings."""
    streaks = await pairs_domain.current_streaks(session, [p.id for p in pairs], now)
    extras = await screens.pair_extras(session, pairs)
    return [
        PairOut.model_validate(
            {
                **{name: getattr(p, name) for name in _STORED},
                "days_since_last_held": pairs_domain.days_since_last_held(p, now),
                "current_streak": streaks[p.id],
                "streak": streaks[p.id],
                "last_held_at": p.last_held,
                "next_scheduled_at": p.next_scheduled,
                "manager": extras[p.id].manager,
                "report": extras[p.id].report,
                "open_findings": extras[p.id].open_findings,
            }
        )
        for p in pairs
    ]


async def _out(session: AsyncSession, pair: Pair, now: datetime) -> PairOut:
    return (await _outs(session, [pair], now))[0]


@router.get(
    "/pairs",
    summary="List the pairs visible to the caller",
    response_model=Page[PairOut],
    responses=responses(400, 401, 422),
)
async def list_pairs(
    session: Session,
    caller: Caller,
    now: Now,
    limit: Limit = 50,
    cursor: Cursor = None,
    role: PairRole | None = None,
    active: bool | None = None,
    manager_id: Id | None = None,
    report_id: Id | None = None,
):
    """Participants see their own pairs, admins every pair; `role` keeps the pairs where the
    caller is the manager (or the report). Ordered by id. Each pair embeds its `manager`
    and `report` and counts its open findings by type (`open_findings`): the pairs
    overview in one call, a fixed number of queries per page."""
    after_id = decode_int_cursor(cursor)
    filters = pairs_domain.PairFilter(
        role=role.value if role else None, active=active, manager_id=manager_id, report_id=report_id
    )
    rows = await pairs_domain.list_pairs(session, caller, filters, after_id=after_id, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=await _outs(session, rows, now), next_cursor=encode_cursor([rows[-1].id]) if more else None)


@router.get("/pairs/{pair_id}", summary="Get a pair", response_model=PairOut, responses=responses(401, 404))
async def get_pair(pair_id: Id, session: Session, caller: Caller, now: Now):
    return await _out(session, await pairs_domain.load_pair(session, caller, pair_id), now)


@router.patch(
    "/pairs/{pair_id}",
    summary="Set or clear the pair's intended cadence",
    response_model=PairOut,
    responses=responses(401, 404, 422),
)
async def update_pair(pair_id: Id, body: PairUpdate, session: Session, caller: Caller, now: Now):
    """`{"cadence_days": 14}` sets it, `{"cadence_days": null}` clears it; participants and admins."""
    if "cadence_days" in body.model_fields_set:
        pair = await pairs_domain.set_cadence(session, caller, pair_id, body.cadence_days, now)
    else:
        pair = await pairs_domain.load_pair(session, caller, pair_id)
    return await _out(session, pair, now)
