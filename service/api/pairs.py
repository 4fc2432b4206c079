"""Pairs: a manager and one report, with their intended cadence."""
from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import Caller, Now, Session
from service.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from service.api.problems import responses
from service.api.schemas.meetings import Id
from service.api.schemas.pairs import PairOut, PairRole, PairUpdate
from service.db.models import Pair
from service.domain import pairs as pairs_domain
from service.errors import BadRequest

router = APIRouter(tags=["pairs"])


def _after_id(cursor: str | None) -> int | None:
    """The id a `[id]` cursor continues after (400 if it is not one)."""
    values = decode_cursor(cursor)
    if values is None:
        return None
    if len(values) != 1 or not isinstance(values[0], int) or not 0 <= values[0] < 2**63:
        raise BadRequest("invalid cursor")
    return values[0]


def _out(pair: Pair, now) -> PairOut:
    return PairOut.model_validate(pair).model_copy(
        update={"days_since_last_held": pairs_domain.days_since_last_held(pair, now)})


@router.get("/pairs", summary="List the pairs visible to the caller", response_model=Page[PairOut],
            responses=responses(400, 401, 422))
async def list_pairs(session: Session, caller: Caller, now: Now, limit: Limit = 50, cursor: Cursor = None,
                     role: PairRole | None = None, active: bool | None = None, manager_id: Id | None = None,
                     report_id: Id | None = None):
    """Participants see their own pairs, admins every pair; `role` keeps the pairs where the
    caller is the manager (or the report). Ordered by id."""
    after_id = _after_id(cursor)
    filters = pairs_domain.PairFilter(role=role.value if role else None, active=active,
                                      manager_id=manager_id, report_id=report_id)
    rows = await pairs_domain.list_pairs(session, caller, filters, after_id=after_id, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=[_out(p, now) for p in rows], next_cursor=encode_cursor([rows[-1].id]) if more else None)


@router.get("/pairs/{pair_id}", summary="Get a pair", response_model=PairOut, responses=responses(401, 404))
async def get_pair(pair_id: Id, session: Session, caller: Caller, now: Now):
    return _out(await pairs_domain.load_pair(session, caller, pair_id), now)


@router.patch("/pairs/{pair_id}", summary="Set or clear the pair's intended cadence", response_model=PairOut,
              responses=responses(401, 404, 422))
async def update_pair(pair_id: Id, body: PairUpdate, session: Session, caller: Caller, now: Now):
    """`{"cadence_days": 14}` sets it, `{"cadence_days": null}` clears it; participants and admins."""
    if "cadence_days" in body.model_fields_set:
        pair = await pairs_domain.set_cadence(session, caller, pair_id, body.cadence_days, now)
    else:
        pair = await pairs_domain.load_pair(session, caller, pair_id)
    return _out(pair, now)
