"""Response shapes for insights: aggregates only, never meeting content."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from service.api.schemas.common import Out
from service.domain.ratings import GRACE, MAX_MONTHS, MIN_RATERS, RatingState


class RangeOut(Out):
    """The range [from, to] the figures cover (both ends inclusive)."""

    model_config = ConfigDict(from_attributes=True, validate_by_name=True, validate_by_alias=True)

    from_: datetime = Field(alias="from", description="Inclusive start")
    to: datetime = Field(description="Inclusive end")


class InsightCounts(Out):
    held: int
    cancelled: int
    declined: int
    action_items_raised: int
    action_items_done: int


class InsightMetrics(Out):
    """Ratios are null when their denominator is 0."""

    held_rate: float | None = Field(
        description="held / (held + cancelled + declined), meetings starting in the range and not in the future"
    )
    cancellation_rate: float | None = Field(description="cancelled / (held + cancelled + declined)")
    avg_days_between_held: float | None = Field(
        description="Mean days between consecutive held 1:1s of a pair (start to start)"
    )
    action_item_completion_rate: float | None = Field(
        description="Action items raised in the range that are done / action items raised in the range"
    )
    counts: InsightCounts


class RatingMonthOut(Out):
    """A frozen calendar month's average rating (README, Privacy: how ratings are shown)."""

    month: str = Field(description="The calendar month (UTC), YYYY-MM", examples=["2026-10"])
    state: RatingState = Field(
        description=f"`published`: pooled over at least {MIN_RATERS} raters besides the caller; `withheld`: "
        f"fewer, or it would give others away by subtraction; `pending`: not frozen yet (a month is "
        f"frozen {GRACE.days} days after it ends)"
    )
    average_rating: float | None = Field(description="Mean rating of the month's held 1:1s; null unless published")
    ratings: int | None = Field(description="How many ratings the average pools; null unless published")


_RATINGS = (
    "Average rating per whole calendar month (UTC) inside the range that has ended, oldest first (at most "
    f"{MAX_MONTHS}); ratings are never pooled over arbitrary ranges"
)


class PairInsightsOut(Out):
    pair_id: int
    manager_id: int
    report_id: int
    range: RangeOut
    metrics: InsightMetrics
    own_average_rating: float | None = Field(
        description="Mean of the caller's own ratings of the range's held meetings (theirs alone, any range); "
        "null if they gave none"
    )


class TeamPairOut(Out):
    pair_id: int
    report_id: int
    metrics: InsightMetrics


class ManagerInsightsOut(Out):
    manager_id: int
    range: RangeOut
    pair_count: int = Field(description="The manager's active pairs (all of them count in `metrics`)")
    metrics: InsightMetrics
    pairs: list[TeamPairOut] = Field(
        description="Per-pair rows, only for callers who may see the pairs (the manager, admins)"
    )
    ratings: list[RatingMonthOut] = Field(description=_RATINGS)


class OrgGroupOut(Out):
    """One manager's team (reports are never named)."""

    manager_id: int
    manager_name: str
    people: int = Field(description="Number of reports")
    metrics: InsightMetrics
    ratings: list[RatingMonthOut] = Field(description=_RATINGS)


class OrgTotalOut(Out):
    people: int
    metrics: InsightMetrics
    ratings: list[RatingMonthOut] = Field(
        description=f"{_RATINGS}; a month is also withheld when subtracting the teams shown from it would leave "
        f"the ratings of 1 to {MIN_RATERS - 1} people other than the caller"
    )


class OrgInsightsOut(Out):
    range: RangeOut
    min_group_size: int = Field(description="Teams with fewer reports are suppressed")
    groups: list[OrgGroupOut]
    suppressed_groups: int = Field(description="How many teams were suppressed")
    total: OrgTotalOut | None = Field(
        description="The whole org; null when fewer than `min_group_size` people, or when it would "
        "reveal the suppressed teams by subtraction"
    )
