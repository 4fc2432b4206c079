from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import Caller, Now, Session
from service.api.problems import responses
from service.api.schemas.common import Id, UTCTimestamp
from service.api.schemas.insights import (
    InsightMetrics,
    ManagerInsightsOut,
    OrgGroupOut,
    OrgInsightsOut,
    OrgTotalOut,
    PairInsightsOut,
    RangeOut,
    RatingMonthOut,
    TeamPairOut,
)
from service.domain import insights

router = APIRouter(prefix="/insights", tags=["insights"])

From = Annotated[
    UTCTimestamp | None,
    Query(alias="from", description="Start of the range (inclusive), RFC 3339 with offset; default: `to` - 90 days"),
]
To = Annotated[
    UTCTimestamp | None,
    Query(description="End of the range (inclusive), RFC 3339 with offset; default: now. Must be after `from`"),
]


def _range(w: insights.Window) -> RangeOut:
    return RangeOut.model_validate({"from": w.start, "to": w.end})


@router.get(
    "/pairs/{pair_id}",
    summary="Insights for one pair (its participants and admins)",
    response_model=PairInsightsOut,
    responses=responses(401, 404, 422),
)
async def get_pair_insights(pair_id: Id, session: Session, caller: Caller, now: Now, from_: From = None, to: To = None):
    w = insights.window(now, from_, to)
    result = await insights.pair_insight(session, caller, pair_id, w, now)
    return PairInsightsOut(
        pair_id=result.pair_id,
        manager_id=result.manager_id,
        report_id=result.report_id,
        range=_range(w),
        metrics=InsightMetrics.model_validate(result.metrics),
        own_average_rating=result.own_average_rating,
    )


@router.get(
    "/managers/{manager_id}",
    summary="Insights for a manager's team (the manager, their management chain, admins)",
    response_model=ManagerInsightsOut,
    responses=responses(401, 404, 422),
)
async def get_manager_insights(
    manager_id: Id, session: Session, caller: Caller, now: Now, from_: From = None, to: To = None
):
    w = insights.window(now, from_, to)
    result = await insights.team_insight(session, caller, manager_id, w, now)
    return ManagerInsightsOut(
        manager_id=result.manager_id,
        range=_range(w),
        pair_count=result.pair_count,
        metrics=InsightMetrics.model_validate(result.metrics),
        pairs=[
            TeamPairOut(pair_id=p.pair_id, report_id=p.report_id, metrics=InsightMetrics.model_validate(p.metrics))
            for p in result.pairs
        ],
        ratings=[RatingMonthOut.model_validate(r) for r in result.ratings],
    )


@router.get(
    "/org",
    summary="Org-wide insights by team, small teams suppressed (hr, admin)",
    response_model=OrgInsightsOut,
    responses=responses(401, 403, 422),
)
async def get_org_insights(session: Session, caller: Caller, now: Now, from_: From = None, to: To = None):
    w = insights.window(now, from_, to)
    result = await insights.org_insight(session, caller, w, now)
    return OrgInsightsOut(
        range=_range(w),
        min_group_size=result.min_group_size,
        groups=[OrgGroupOut.model_validate(g) for g in result.groups],
        suppressed_groups=result.suppressed_groups,
        total=(
            OrgTotalOut(
                people=result.total_people,
                metrics=InsightMetrics.model_validate(result.total),
                ratings=[RatingMonthOut.model_validate(r) for r in result.total_ratings],
            )
            if result.total is not None
            else None
        ),
    )
