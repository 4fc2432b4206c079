"""service.domain.ratings: months, the rule, and freezing (on both databases)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from service.db.models import FrozenRating, RatingMonth
from service.domain.ratings import (
    GRACE,
    MAX_MONTHS,
    MIN_RATERS,
    Month,
    RatingState,
    freeze_due,
    month_rating,
    months_within,
    org_ratings,
)

DEC = Month(datetime(2025, 12, 1, tzinfo=UTC))
JAN = Month(datetime(2026, 1, 1, tzinfo=UTC))
VIEWER = 1000


def raters(n: int, first: int = 1, rating: int = 4) -> dict[int, tuple[int, int]]:
    return dict.fromkeys(range(first, first + n), (rating, 1))


def test_months():
    assert DEC.end == JAN.start and DEC.next() == JAN and DEC.label == "2025-12"
    assert Month.of(datetime(2026, 1, 31, 23, 59, tzinfo=UTC)) == JAN
    assert not JAN.frozen_by(JAN.end + GRACE - timedelta(seconds=1)) and JAN.frozen_by(JAN.end + GRACE)
    assert months_within(DEC.start + timedelta(hours=1), JAN.end) == [JAN]  # only whole months
    assert months_within(DEC.start, JAN.end - timedelta(seconds=1)) == [DEC]
    assert len(months_within(datetime(2000, 1, 1, tzinfo=UTC), JAN.end)) == MAX_MONTHS


@pytest.mark.parametrize("others, state", [(MIN_RATERS - 1, RatingState.withheld), (MIN_RATERS, RatingState.published)])
def test_a_month_needs_five_raters_besides_the_viewer(others, state):
    shown = month_rating(JAN, {**raters(others), VIEWER: (1, 1)}, VIEWER)
    assert shown.state is state
    assert (shown.average_rating, shown.ratings) == (
        ((4 * others + 1) / (others + 1), others + 1) if others >= 5 else (None, None)
    )
    assert month_rating(JAN, None, VIEWER).state is RatingState.pending


@pytest.mark.parametrize("second, total_shown", [(0, True), (1, False), (MIN_RATERS - 1, False), (MIN_RATERS, True)])
def test_the_total_is_withheld_when_it_would_isolate_unshown_teams(second, total_shown):
    frozen = {JAN: {1: raters(MIN_RATERS), 2: raters(second, first=100)}}
    result = org_ratings([JAN], frozen, {1, 2}, VIEWER)
    assert result.teams[1][0].state is RatingState.published
    assert (result.total[0].state is RatingState.published) is total_shown


def test_an_unlisted_team_counts_as_unshown():
    frozen = {JAN: {1: raters(MIN_RATERS), 2: raters(MIN_RATERS, first=100)}}
    assert org_ratings([JAN], frozen, {1, 2}, VIEWER).total[0].state is RatingState.published
    hidden = {JAN: {1: raters(MIN_RATERS), 2: raters(MIN_RATERS, first=100), 3: raters(2, first=200)}}
    assert org_ratings([JAN], hidden, {1, 2}, VIEWER).total[0].state is RatingState.withheld


async def test_freezing_is_once_even_when_racing(factory, sessions, clock):
    manager = await factory.person()
    report = await factory.person(manager=manager)
    pair = await factory.pair(manager, report)
    meeting = await factory.meeting(pair, start=JAN.start + timedelta(days=3), status="held")
    clock.set(meeting.start + timedelta(hours=1))
    await factory.feedback(meeting, report, rating=3)
    await factory.feedback(meeting, manager, rating=5)
    now = JAN.end + GRACE

    async def freeze() -> int:
        async with sessions() as s:
            frozen = await freeze_due(s, now)
            await s.commit()
        return frozen

    assert sorted(await asyncio.gather(freeze(), freeze())) == [0, 1]
    assert await freeze() == 0
    async with sessions() as s:
        assert (await s.scalars(select(RatingMonth.month))).all() == [JAN.start]
        rows = (await s.execute(select(FrozenRating.rater_id, FrozenRating.total, FrozenRating.count))).all()
        assert sorted(rows) == sorted([(report.id, 3, 1), (manager.id, 5, 1)])
        assert await s.scalar(select(func.count()).select_from(FrozenRating)) == 2
