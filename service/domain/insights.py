"""Insights: how healthy 1:1s are over a date range, for a pair, a team, the org.

The arithmetic is pure (`rate`, `held_gaps`, `summarize`, `suppress`, `org_view`);
the queries aggregate per pair in SQL (three grouped queries, however many pairs)
and the per-pair tallies are pooled in Python, so one code path serves a pair, a
team and the whole org on SQLite and PostgreSQL.

Definitions, over a window [start, end] (both ends inclusive, so the default
window, the last 90 days up to now, includes now):
- meeting metrics count meetings whose start is in the window and not in the
  future (start <= now): held rate = held / (held + cancelled + declined),
  cancellation rate = cancelled / the same; scheduled meetings are not counted;
- the average days between consecutive held 1:1s is taken start to start within
  each pair (a pair's n held meetings give n - 1 intervals) and pooled over pairs;
- action-item completion = items raised (created_at) in the window that are done
  now / items raised in the window;
- own average rating (pair insights only) = mean of the viewer's own ratings on
  the window's held meetings.
Every ratio is None when its denominator is 0.

Visibility: a pair's insights follow the pair (participants, admins); a team's
aggregates are for the manager, everyone above them and admins, the per-pair rows
only for those who may see the pairs; the org view is for HR and admins and shows
aggregates of teams of at least `MIN_GROUP_SIZE` reports only.

Ratings are private to their author: no window-based figure pools them. Team
and org answers list the frozen months inside the window with their averages as
service.domain.ratings allows (whole closed months, at least five raters besides
the viewer, siblings guarded against subtraction)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from service.db.models import ActionItem, Meeting, MeetingStatus, Pair, Person
from service.domain import ratings
from service.domain.access import Principal, can_view_pair
from service.domain.ratings import MonthRating
from service.errors import Forbidden, NotFound, ValidationFailed

DEFAULT_DAYS = 90
MIN_GROUP_SIZE = 5


# --- pure arithmetic ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """A time range [start, end], both ends inclusive."""

    start: datetime
    end: datetime


def window(
    now: datetime, start: datetime | None = None, end: datetime | None = None, *, days: int = DEFAULT_DAYS
) -> Window:
    """The requested range; `end` defaults to now and `start` to `days` before `end`."""
    end = end if end is not None else now
    if start is None:
        try:
            start = end - timedelta(days=days)
        except OverflowError:  # `to` within `days` of the first representable instant
            raise ValidationFailed(
                "`to` is too early to default `from`",
                [
                    {
                        "field": "query.to",
                        "message": f"give `from` too: `to` minus {days} days is out of range",
                        "code": "range",
                    }
                ],
            ) from None
    if end <= start:
        raise ValidationFailed(
            "`to` must be after `from`", [{"field": "query.to", "message": "must be after `from`", "code": "range"}]
        )
    return Window(start, end)


def rate(part: float, whole: float) -> float | None:
    """part / whole, or None when there is nothing to divide by."""
    return part / whole if whole else None


def held_gaps(held: int, first: datetime | None, last: datetime | None) -> tuple[float, int]:
    """(total days, count) of the intervals between a pair's consecutive held 1:1s.

    The intervals of n sorted starts add up to last - first, so the first and the
    last start are enough."""
    if held < 2 or first is None or last is None:
        return 0.0, 0
    return (last - first).total_seconds() / 86400, held - 1


@dataclass(frozen=True, slots=True)
class Tally:
    """Raw sums for one pair; tallies of several pairs add up."""

    held: int = 0
    cancelled: int = 0
    declined: int = 0
    gap_days: float = 0.0
    gaps: int = 0
    actions_raised: int = 0
    actions_done: int = 0

    def __add__(self, other: Tally) -> Tally:
        return pooled((self, other))


_COUNTERS = tuple(f.name for f in fields(Tally))


def pooled(tallies: Iterable[Tally]) -> Tally:
    """The sum of `tallies` in one pass."""
    tallies = list(tallies)
    return Tally(**{name: sum(getattr(t, name) for t in tallies) for name in _COUNTERS})


@dataclass(frozen=True, slots=True)
class Counts:
    held: int
    cancelled: int
    declined: int
    action_items_raised: int
    action_items_done: int


@dataclass(frozen=True, slots=True)
class Metrics:
    held_rate: float | None
    cancellation_rate: float | None
    avg_days_between_held: float | None
    action_item_completion_rate: float | None
    counts: Counts


def summarize(t: Tally) -> Metrics:
    outcomes = t.held + t.cancelled + t.declined
    return Metrics(
        held_rate=rate(t.held, outcomes),
        cancellation_rate=rate(t.cancelled, outcomes),
        avg_days_between_held=rate(t.gap_days, t.gaps),
        action_item_completion_rate=rate(t.actions_done, t.actions_raised),
        counts=Counts(
            held=t.held,
            cancelled=t.cancelled,
            declined=t.declined,
            action_items_raised=t.actions_raised,
            action_items_done=t.actions_done,
        ),
    )


@dataclass(frozen=True, slots=True)
class Group:
    """One manager's team: `people` is the number of reports."""

    manager_id: int
    manager_name: str
    people: int
    tally: Tally = field(default_factory=Tally)


@dataclass(frozen=True, slots=True)
class Suppressed:
    visible: list[Group]
    suppressed_groups: int
    total_people: int | None  # None: the org total is withheld
    total: Tally | None


def suppress(groups: Iterable[Group], min_size: int = MIN_GROUP_SIZE) -> Suppressed:
    """Hide teams smaller than `min_size`; they remain only as a count.

    The org total is shown only if the population reaches `min_size`, and not when
    it would give the small teams away by subtraction (total minus the visible
    teams), i.e. when the suppressed teams together have 1 to min_size - 1 people."""
    groups = list(groups)
    visible = [g for g in groups if g.people >= min_size]
    hidden = [g for g in groups if g.people < min_size]
    population = sum(g.people for g in groups)
    hidden_people = sum(g.people for g in hidden)
    show_total = population >= min_size and not 0 < hidden_people < min_size
    return Suppressed(
        visible=sorted(visible, key=lambda g: g.manager_id),
        suppressed_groups=len(hidden),
        total_people=population if show_total else None,
        total=pooled(g.tally for g in groups) if show_total else None,
    )


@dataclass(frozen=True, slots=True)
class GroupInsight:
    manager_id: int
    manager_name: str
    people: int
    metrics: Metrics
    ratings: list[MonthRating] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OrgInsight:
    min_group_size: int
    groups: list[GroupInsight]
    suppressed_groups: int
    total_people: int | None
    total: Metrics | None
    total_ratings: list[MonthRating] = field(default_factory=list)


def org_view(groups: Iterable[Group], org_ratings: ratings.OrgRatings | None = None) -> OrgInsight:
    """The org as the viewer may see it: small teams suppressed; `org_ratings` for
    the teams shown (service.domain.ratings)."""
    result = suppress(groups)
    rated = org_ratings or ratings.OrgRatings()
    return OrgInsight(
        min_group_size=MIN_GROUP_SIZE,
        groups=[
            GroupInsight(g.manager_id, g.manager_name, g.people, summarize(g.tally), rated.teams.get(g.manager_id, []))
            for g in result.visible
        ],
        suppressed_groups=result.suppressed_groups,
        total_people=result.total_people,
        total=summarize(result.total) if result.total is not None else None,
        total_ratings=rated.total if result.total is not None else [],
    )


def can_view_team(p: Principal, chain: set[int]) -> bool:
    """`chain` is the manager and everyone above them."""
    return p.is_admin or p.person_id in chain


def can_view_org(p: Principal) -> bool:
    return p.is_admin or p.is_hr


# --- queries -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairInsight:
    pair_id: int
    manager_id: int
    report_id: int
    metrics: Metrics
    own_average_rating: float | None = None  # the viewer's own ratings: pair insights only


@dataclass(frozen=True, slots=True)
class TeamInsight:
    manager_id: int
    pair_count: int
    metrics: Metrics
    pairs: list[PairInsight]  # only the pairs the viewer may see
    ratings: list[MonthRating] = field(default_factory=list)  # frozen months inside the window


async def tallies(session: AsyncSession, pair_ids: Select | list[int], w: Window, now: datetime) -> dict[int, Tally]:
    """Per-pair tallies for the pairs selected by `pair_ids` (two queries)."""
    if isinstance(pair_ids, list) and not pair_ids:
        return {}
    in_window = (Meeting.start >= w.start) & (Meeting.start <= w.end) & (Meeting.start <= now)
    held = Meeting.status == MeetingStatus.held.value
    meetings = await session.execute(
        select(
            Meeting.pair_id,
            func.sum(case((held, 1), else_=0)),
            func.sum(case((Meeting.status == MeetingStatus.cancelled.value, 1), else_=0)),
            func.sum(case((Meeting.status == MeetingStatus.declined.value, 1), else_=0)),
            func.min(case((held, Meeting.start))),
            func.max(case((held, Meeting.start))),
        )
        .where(
            Meeting.pair_id.in_(pair_ids),
            in_window,
            Meeting.status.in_([s.value for s in MeetingStatus if s is not MeetingStatus.scheduled]),
        )
        .group_by(Meeting.pair_id)
    )
    actions = await session.execute(
        select(ActionItem.pair_id, func.count(), func.count(ActionItem.done_at))
        .where(ActionItem.pair_id.in_(pair_ids), ActionItem.created_at >= w.start, ActionItem.created_at <= w.end)
        .group_by(ActionItem.pair_id)
    )
    parts: dict[int, dict] = defaultdict(dict)
    for pair_id, n_held, n_cancelled, n_declined, first, last in meetings:
        gap_days, gaps = held_gaps(n_held, first, last)
        parts[pair_id].update(held=n_held, cancelled=n_cancelled, declined=n_declined, gap_days=gap_days, gaps=gaps)
    for pair_id, raised, done in actions:
        parts[pair_id].update(actions_raised=raised, actions_done=done)
    return {pair_id: Tally(**kw) for pair_id, kw in parts.items()}


async def management_chain(session: AsyncSession, person_id: int) -> set[int]:
    """`person_id` and everyone above them (people.manager_id upwards, cycle-safe)."""
    up = aliased(Person)
    chain = select(Person.id, Person.manager_id).where(Person.id == person_id).cte("chain", recursive=True)
    chain = chain.union(select(up.id, up.manager_id).join(chain, up.id == chain.c.manager_id))
    return set((await session.scalars(select(chain.c.id))).all())


async def pair_insight(session: AsyncSession, viewer: Principal, pair_id: int, w: Window, now: datetime) -> PairInsight:
    pair = await session.get(Pair, pair_id)
    if pair is None or not can_view_pair(viewer, pair.manager_id, pair.report_id):
        raise NotFound(f"pair {pair_id} not found")
    tally = (await tallies(session, [pair.id], w, now)).get(pair.id, Tally())
    own = await ratings.own_average(session, viewer.person_id, pair.id, w.start, min(w.end, now))
    return PairInsight(pair.id, pair.manager_id, pair.report_id, summarize(tally), own_average_rating=own)


async def team_insight(
    session: AsyncSession, viewer: Principal, manager_id: int, w: Window, now: datetime
) -> TeamInsight:
    """Aggregates over the manager's active pairs, with the rows the viewer may see."""
    manager = await session.get(Person, manager_id)
    if manager is None or not (
        viewer.person_id == manager_id
        or viewer.is_admin
        or can_view_team(viewer, await management_chain(session, manager_id))
    ):
        raise NotFound(f"person {manager_id} not found")
    pairs = (
        await session.execute(
            select(Pair.id, Pair.manager_id, Pair.report_id)
            .where(Pair.manager_id == manager_id, Pair.active.is_(True))
            .order_by(Pair.id)
        )
    ).all()
    by_pair = await tallies(session, [p.id for p in pairs], w, now)
    rows = [
        PairInsight(p.id, p.manager_id, p.report_id, summarize(by_pair.get(p.id, Tally())))
        for p in pairs
        if can_view_pair(viewer, p.manager_id, p.report_id)
    ]
    return TeamInsight(
        manager_id=manager_id,
        pair_count=len(pairs),
        metrics=summarize(pooled(by_pair.values())),
        pairs=rows,
        ratings=await ratings.team_ratings(session, manager_id, _months(w, now), viewer.person_id),
    )


async def org_insight(session: AsyncSession, viewer: Principal, w: Window, now: datetime) -> OrgInsight:
    """Per-team aggregates over active pairs, small teams and ratings suppressed (HR, admins)."""
    if not can_view_org(viewer):
        raise Forbidden("org insights are for the hr and admin roles")
    active = select(Pair.id).where(Pair.active.is_(True))
    pairs = (
        await session.execute(
            select(Pair.id, Pair.manager_id, Pair.report_id, Person.name)
            .join(Person, Person.id == Pair.manager_id)
            .where(Pair.active.is_(True))
        )
    ).all()
    by_pair = await tallies(session, active, w, now)
    names: dict[int, str] = {}
    reports: dict[int, set[int]] = defaultdict(set)
    team: dict[int, list[Tally]] = defaultdict(list)
    for p in pairs:
        names[p.manager_id] = p.name
        reports[p.manager_id].add(p.report_id)
        team[p.manager_id].append(by_pair.get(p.id, Tally()))
    groups = [Group(m, names[m], len(reports[m]), pooled(team[m])) for m in names]
    months = _months(w, now)
    listed = {g.manager_id for g in suppress(groups).visible}
    rated = ratings.org_ratings(months, await ratings.frozen(session, months), listed, viewer.person_id)
    return org_view(groups, rated)


def _months(w: Window, now: datetime) -> list[ratings.Month]:
    """The whole months inside the window that have ended."""
    return ratings.months_within(w.start, min(w.end, now))
