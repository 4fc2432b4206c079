"""Ratings as aggregates that cannot be differenced.

A rating is private to its author (service.domain.feedback); what leaves the
service is an average over a *frozen calendar month* (UTC) of a team (the pairs
of one manager) or of the organisation, and only when it pools the ratings of
at least `MIN_RATERS` people other than the viewer. The rule, and the route of
attack each part closes:

- **Windows.** Aggregates exist only per whole calendar month, never for an
  arbitrary `from`/`to`: two windows that differ by one meeting cannot be asked for.
- **Time.** A month is frozen `GRACE` after it ends: the ratings counted (on
  meetings held that month, given at most `LATE` after it ended, so every
  one's edit window has closed) are copied once into `frozen_ratings`, and its
  aggregates are read from that copy only. Before that it shows nothing. An
  average never moves after a 1:1, a late rating, an edit, a cancellation, a
  reorganisation or a deletion.
- **Team membership.** A month's team is the pairs whose meetings were held in
  it, by the pair's manager: a reporting-line change made later does not
  change which ratings a past month pools.
- **Siblings.** Teams partition the organisation's ratings, so the only nested
  aggregates are the org total and its teams: the total is withheld when
  subtracting the teams shown from it would leave the ratings of 1 to
  `MIN_RATERS` - 1 people besides the viewer.
- **Few raters.** Nothing is shown that pools fewer than `MIN_RATERS` raters
  besides the viewer (who knows their own): a pair's average never is.

Months are frozen by the workers' periodic pass (`freeze_due`)."""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.dialect import insert_if_absent
from service.db.models import Feedback, FrozenRating, Meeting, MeetingStatus, Pair, RatingMonth
from service.domain.feedback import EDIT_WINDOW

MIN_RATERS = 5
LATE = timedelta(days=7)  # ratings given this long after the month ended still count
GRACE = LATE + EDIT_WINDOW  # then the last of them can no longer change: freeze
MAX_MONTHS = 24  # months listed per answer


# --- months --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Month:
    """A calendar month in UTC: [start, end)."""

    start: datetime

    @classmethod
    def of(cls, moment: datetime) -> Month:
        moment = moment.astimezone(UTC)
        return cls(datetime(moment.year, moment.month, 1, tzinfo=UTC))

    @property
    def end(self) -> datetime:
        year, month = divmod(self.start.year * 12 + self.start.month, 12)  # the next month, 1-based
        return datetime(year, month + 1, 1, tzinfo=UTC)

    @property
    def label(self) -> str:
        return f"{self.start.year:04d}-{self.start.month:02d}"

    def next(self) -> Month:
        return Month(self.end)

    def frozen_by(self, now: datetime) -> bool:
        """Whether it may be frozen at `now` (no rating it counts can change any more)."""
        return now >= self.end + GRACE


def months_within(start: datetime, end: datetime) -> list[Month]:
    """The whole months inside [start, end], the latest `MAX_MONTHS`."""
    month = Month.of(start)
    if month.start < start:
        month = month.next()
    months = []
    while month.end <= end:
        months.append(month)
        month = month.next()
    return months[-MAX_MONTHS:]


# --- the rule (pure) ---------------------------------------------------------------

# rater id → (sum, count) of their ratings in a group
Raters = Mapping[int, tuple[int, int]]


def others(raters: Raters, viewer_id: int) -> int:
    return len(raters.keys() - {viewer_id})


def shows(raters: Raters, viewer_id: int) -> bool:
    """Pooled over enough people that the viewer, who knows their own, cannot single anyone out."""
    return others(raters, viewer_id) >= MIN_RATERS


def pool(groups: Iterable[Raters]) -> dict[int, tuple[int, int]]:
    pooled: defaultdict[int, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for raters in groups:
        for rater, (total, count) in raters.items():
            before = pooled[rater]
            pooled[rater] = (before[0] + total, before[1] + count)
    return dict(pooled)


class RatingState(str, enum.Enum):
    published = "published"
    withheld = "withheld"  # too few raters besides the viewer, or it would give others away
    pending = "pending"  # not frozen yet: shown once the month is `GRACE` behind


@dataclass(frozen=True, slots=True)
class MonthRating:
    month: str  # YYYY-MM
    state: RatingState
    average_rating: float | None = None
    ratings: int | None = None


def month_rating(month: Month, raters: Raters | None, viewer_id: int, *, withhold: bool = False) -> MonthRating:
    """`raters` None: the month is not frozen."""
    if raters is None:
        return MonthRating(month.label, RatingState.pending)
    if withhold or not shows(raters, viewer_id):
        return MonthRating(month.label, RatingState.withheld)
    total = sum(t for t, _ in raters.values())
    count = sum(c for _, c in raters.values())
    return MonthRating(month.label, RatingState.published, round(total / count, 4), count)


def org_total_hidden(teams: Mapping[int, Raters], shown_teams: set[int], viewer_id: int) -> bool:
    """Whether the org total minus the teams shown would isolate 1 to MIN_RATERS - 1
    people besides the viewer."""
    unshown = pool(r for manager, r in teams.items() if manager not in shown_teams)
    return 0 < others(unshown, viewer_id) < MIN_RATERS


@dataclass(frozen=True, slots=True)
class OrgRatings:
    teams: dict[int, list[MonthRating]] = field(default_factory=dict)  # by manager id, the teams asked for
    total: list[MonthRating] = field(default_factory=list)


def org_ratings(
    months: list[Month], frozen: Mapping[Month, Mapping[int, Raters]], listed: set[int], viewer_id: int
) -> OrgRatings:
    """Per month: each listed team (the org view shows only teams large enough) and
    the total, with the sibling rule above. `frozen[month][manager]`: frozen months only."""
    teams: dict[int, list[MonthRating]] = {m: [] for m in sorted(listed)}
    total = []
    for month in months:
        by_team = frozen.get(month)
        if by_team is None:
            for manager in teams:
                teams[manager].append(month_rating(month, None, viewer_id))
            total.append(month_rating(month, None, viewer_id))
            continue
        shown = {m for m in listed if shows(by_team.get(m, {}), viewer_id)}
        for manager in teams:
            teams[manager].append(month_rating(month, by_team.get(manager, {}), viewer_id))
        everyone = pool(by_team.values())
        total.append(month_rating(month, everyone, viewer_id, withhold=org_total_hidden(by_team, shown, viewer_id)))
    return OrgRatings(teams, total)


# --- freezing --------------------------------------------------------------------


async def freeze_due(session: AsyncSession, now: datetime, *, limit: int = 24) -> int:
    """Freeze the months (oldest first, up to `limit`) that may be frozen and are not
    yet; returns how many. Safe to run in several workers at once. Flushes only."""
    first = await session.scalar(select(func.min(Meeting.start)).join(Feedback, Feedback.meeting_id == Meeting.id))
    if first is None:
        return 0
    done = set((await session.scalars(select(RatingMonth.month))).all())
    frozen = 0
    month = Month.of(first)
    while month.frozen_by(now) and frozen < limit:
        if month.start not in done and await _freeze(session, month, now):
            frozen += 1
        month = month.next()
    return frozen


async def _freeze(session: AsyncSession, month: Month, now: datetime) -> bool:
    claimed = await session.execute(
        insert_if_absent(session, RatingMonth.__table__).values(month=month.start, frozen_at=now)
    )
    if not claimed.rowcount:
        return False  # another worker froze it meanwhile
    counted = (
        select(
            literal(month.start, RatingMonth.month.type),
            Meeting.pair_id,
            Feedback.person_id,
            Pair.manager_id,
            func.sum(Feedback.rating),
            func.count(),
        )
        .join(Meeting, Meeting.id == Feedback.meeting_id)
        .join(Pair, Pair.id == Meeting.pair_id)
        .where(
            Meeting.start >= month.start,
            Meeting.start < month.end,
            Meeting.status == MeetingStatus.held.value,
            Feedback.created_at < month.end + LATE,
        )
        .group_by(Meeting.pair_id, Feedback.person_id, Pair.manager_id)
    )
    columns = ["month", "pair_id", "rater_id", "manager_id", "total", "count"]
    await session.execute(insert(FrozenRating).from_select(columns, counted))
    return True


# --- reading ---------------------------------------------------------------------


async def frozen(session: AsyncSession, months: list[Month], manager_id: int | None = None) -> dict[Month, dict]:
    """For each frozen month among `months`: manager id → rater id → (sum, count)."""
    if not months:
        return {}
    starts = [m.start for m in months]
    found = {Month(m) for m in (await session.scalars(select(RatingMonth.month).where(RatingMonth.month.in_(starts))))}
    query = select(
        FrozenRating.month, FrozenRating.manager_id, FrozenRating.rater_id, FrozenRating.total, FrozenRating.count
    ).where(FrozenRating.month.in_(starts))
    if manager_id is not None:
        query = query.where(FrozenRating.manager_id == manager_id)
    result: dict[Month, dict] = {m: defaultdict(lambda: defaultdict(lambda: (0, 0))) for m in found}
    for start, manager, rater, total, count in (await session.execute(query)).all():
        before = result[Month(start)][manager][rater]
        result[Month(start)][manager][rater] = (before[0] + total, before[1] + count)
    return result


async def team_ratings(
    session: AsyncSession, manager_id: int, months: list[Month], viewer_id: int
) -> list[MonthRating]:
    by_month = await frozen(session, months, manager_id)
    return [
        month_rating(month, by_month[month].get(manager_id, {}) if month in by_month else None, viewer_id)
        for month in months
    ]


async def own_average(
    session: AsyncSession, person_id: int, pair_id: int, start: datetime, end: datetime
) -> float | None:
    """The person's own ratings on the pair's held meetings in [start, end]: theirs to see, any window."""
    total, count = (
        await session.execute(
            select(func.sum(Feedback.rating), func.count(Feedback.rating))
            .join(Meeting, Meeting.id == Feedback.meeting_id)
            .where(
                Feedback.person_id == person_id,
                Meeting.pair_id == pair_id,
                Meeting.status == MeetingStatus.held.value,
                Meeting.start >= start,
                Meeting.start <= end,
            )
        )
    ).one()
    return total / count if count else None
