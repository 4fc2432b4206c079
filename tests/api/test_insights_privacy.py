"""Ratings are private to their author: no sequence of insights calls gives one away.

Each test plays one differencing route against the API (service.domain.ratings
says how each is closed): windows, time, team membership, siblings, and a pair's
two raters. The attacker collects every rating aggregate the API shows and
differences them; they must learn nothing about fewer than MIN_RATERS people."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import combinations
from typing import Any

import pytest
from sqlalchemy import delete, update

from service.db.models import Feedback, Meeting
from service.domain.ratings import MIN_RATERS
from service.runtime import time_driven_pass
from tests.conftest import T0

DAY, HOUR = timedelta(days=1), timedelta(hours=1)
JAN = datetime(2026, 1, 1, tzinfo=UTC)  # frozen by T0 (2026-03-02); February is not yet


class Org:
    def __init__(self, client, factory, sessions, clock) -> None:
        self.client, self.factory, self.sessions, self.clock = client, factory, sessions, clock

    async def rated(self, pair, rater, day: int, rating: int, *, given: datetime | None = None) -> Meeting:
        """A held January meeting of `pair` (on `day`) that `rater` rated `rating`."""
        start = JAN + day * DAY + 9 * HOUR
        meeting = await self.factory.meeting(pair, start=start, status="held")
        self.clock.set(given or start + HOUR)
        await self.factory.feedback(meeting, rater, rating=rating)
        self.clock.set(T0)
        return meeting

    async def team(self, raters: int, *, people: int | None = None, boss=None, meetings: int = 3):
        """A manager with `people` reports, the first `raters` of whom rated each of
        their `meetings` January 1:1s (distinct ratings, so a leak would show)."""
        manager = await self.factory.person(manager=boss)
        reports, pairs = [], []
        for n in range(people or raters):
            report = await self.factory.person(manager=manager)
            pair = await self.factory.pair(manager, report)
            reports.append(report)
            pairs.append(pair)
            for k in range(meetings if n < raters else 0):
                await self.rated(pair, report, day=1 + 7 * k + n % 5, rating=1 + (n + k) % 5)
        return manager, reports, pairs

    async def freeze(self) -> None:
        await time_driven_pass(self.sessions, self.clock)()

    async def get(self, who, url: str, **params: str) -> dict:
        r = await self.client.get(url, headers=await self.factory.token(who), params=params)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def org(client, factory, sessions, clock) -> Org:
    return Org(client, factory, sessions, clock)


def published(body: Any) -> list[tuple[str, float, int]]:
    """Every rating figure anywhere in an answer, as (month, average, count); and no
    rating figure may appear anywhere else."""
    found = []
    if isinstance(body, dict):
        if "state" in body and "month" in body:
            if body["state"] == "published":
                found.append((body["month"], body["average_rating"], body["ratings"]))
            else:
                assert body["average_rating"] is body["ratings"] is None
            return found
        assert "average_rating" not in body, body
        for value in body.values():
            found += published(value)
    elif isinstance(body, list):
        for value in body:
            found += published(value)
    return found


def differences(figures: set[tuple[str, float, int]]) -> list[int]:
    """The attacker: any two aggregates whose counts differ by fewer than MIN_RATERS
    ratings would single those out if one contained the other."""
    return [abs(a[2] - b[2]) for a, b in combinations(figures, 2) if 0 < abs(a[2] - b[2]) < MIN_RATERS]


# --- windows --------------------------------------------------------------------------------------------


async def test_no_window_isolates_a_meeting(org, factory):
    """The old attack: windows that differ by one meeting gave its rating away."""
    boss = await factory.person()
    manager, _reports, _pairs = await org.team(MIN_RATERS + 1, boss=boss)
    await org.freeze()
    url = f"/v1/insights/managers/{manager.id}"
    seen: set[tuple[str, float, int]] = set()
    starts = [JAN - 10 * DAY + n * 4 * DAY for n in range(12)]
    ends = [JAN + 20 * DAY + n * 4 * DAY for n in range(12)]
    for who in (manager, boss):
        for start in starts:
            for end in (e for e in ends if e > start):
                window = {"from": start.isoformat(), "to": end.isoformat()}
                seen |= set(published(await org.get(who, url, **window)))
    assert len({figure for figure in seen if figure[0] == "2026-01"}) == 1  # the same whatever the window
    assert {figure[0] for figure in seen} == {"2026-01"}  # February is not frozen: nothing about it
    assert differences(seen) == []


async def test_pair_participants_see_only_their_own_ratings(org, factory, sessions):
    manager = await factory.person()
    report = await factory.person(manager=manager)
    pair = await factory.pair(manager, report)
    meetings = [await org.rated(pair, report, day=d, rating=r) for d, r in ((2, 1), (9, 2))]
    org.clock.set(JAN + 3 * DAY)
    await factory.feedback(meetings[0], manager, rating=5)
    org.clock.set(T0)
    await org.freeze()
    url = f"/v1/insights/pairs/{pair.id}"
    windows = [{}] + [{"from": (m.start - HOUR).isoformat(), "to": (m.start + HOUR).isoformat()} for m in meetings]
    for who, own in ((manager, [5.0, 5.0, None]), (report, [1.5, 1.0, 2.0])):
        answers = [await org.get(who, url, **w) for w in windows]
        assert [a["own_average_rating"] for a in answers] == own
        assert all(published(a) == [] for a in answers)
    admin = await factory.person(role="admin")
    assert [published(await org.get(admin, url, **w)) for w in windows] == [[], [], []]
    assert (await org.get(admin, url))["own_average_rating"] is None
    # Nothing the manager sees depends on the report's ratings.
    before = [await org.get(manager, url, **w) for w in windows]
    async with sessions() as s:
        await s.execute(delete(Feedback).where(Feedback.person_id == report.id))
        await s.commit()
    assert [await org.get(manager, url, **w) for w in windows] == before


# --- time --------------------------------------------------------------------------------------------------


async def test_a_frozen_month_never_moves(org, factory, sessions):
    boss = await factory.person()
    hr = await factory.person(role="hr")
    manager, reports, pairs = await org.team(MIN_RATERS + 1, boss=boss)
    url = f"/v1/insights/managers/{manager.id}"
    window = {"from": "2025-12-01T00:00:00Z"}
    pending = published(await org.get(boss, url, **window))
    assert pending == []  # before the freeze: nothing, not a moving average
    await org.freeze()
    frozen = published(await org.get(boss, url, **window))
    frozen_org = published(await org.get(hr, "/v1/insights/org", **window))
    assert [f[0] for f in frozen] == ["2026-01"] and frozen[0][2] == 3 * (MIN_RATERS + 1)

    async def unchanged() -> None:
        await org.freeze()
        assert published(await org.get(boss, url, **window)) == frozen
        assert published(await org.get(hr, "/v1/insights/org", **window)) == frozen_org

    # A new 1:1 rated today: the current month is not even listed (it has not ended).
    today = await factory.meeting(pairs[0], start=T0 - HOUR, status="held")
    await factory.feedback(today, reports[0], rating=1)
    await unchanged()
    # A late rating of a January 1:1, given in March.
    await org.rated(pairs[-1], manager, day=3, rating=1, given=T0 - DAY)
    await unchanged()
    # Edits, a cancellation after the fact, deletions.
    for change in (
        update(Feedback).where(Feedback.person_id == reports[1].id).values(rating=5),
        update(Meeting).where(Meeting.pair_id == pairs[2].id).values(status="cancelled"),
        delete(Feedback).where(Feedback.person_id == reports[3].id),
    ):
        async with sessions() as s:
            await s.execute(change)
            await s.commit()
        await unchanged()


async def test_ratings_of_a_cancelled_meeting_no_longer_count(org, factory, sessions):
    boss = await factory.person()
    manager, _reports, pairs = await org.team(MIN_RATERS + 1, boss=boss)
    async with sessions() as s:  # cancelled before the month was frozen
        await s.execute(update(Meeting).where(Meeting.pair_id == pairs[0].id).values(status="cancelled"))
        await s.commit()
    await org.freeze()
    [(_month, _avg, count)] = published(await org.get(boss, f"/v1/insights/managers/{manager.id}"))
    assert count == 3 * MIN_RATERS  # the cancelled pair's three ratings are gone


# --- team membership --------------------------------------------------------------------------------------


async def test_moving_people_between_teams_changes_no_month(org, factory):
    boss = await factory.person()
    admin = await factory.person(role="admin")
    team_a, reports_a, _ = await org.team(MIN_RATERS + 1, boss=boss)
    team_b, _reports_b, _ = await org.team(MIN_RATERS, boss=boss)
    moved, later = reports_a[0], reports_a[1]

    async def move(report) -> None:
        body = {"people": [{"email": report.email, "name": report.name, "manager": team_b.email}]}
        r = await org.client.post("/v1/people:import", json=body, headers=await factory.token(admin))
        assert r.status_code == 200, r.text

    await move(moved)  # before January is frozen: January still pools the pair's January 1:1s
    await org.freeze()
    a = published(await org.get(boss, f"/v1/insights/managers/{team_a.id}"))
    b = published(await org.get(boss, f"/v1/insights/managers/{team_b.id}"))
    assert a[0][2] == 3 * (MIN_RATERS + 1) and b[0][2] == 3 * MIN_RATERS
    await move(later)  # after
    assert published(await org.get(boss, f"/v1/insights/managers/{team_a.id}")) == a
    assert published(await org.get(boss, f"/v1/insights/managers/{team_b.id}")) == b


@pytest.mark.parametrize("manager_rates", [False, True])
async def test_the_viewers_own_ratings_do_not_count_toward_five(org, factory, manager_rates):
    boss = await factory.person()
    manager, _reports, pairs = await org.team(MIN_RATERS - 1, boss=boss)
    if manager_rates:
        for pair in pairs:
            await org.rated(pair, manager, day=20, rating=5)
    await org.freeze()
    url = f"/v1/insights/managers/{manager.id}"
    [month] = (await org.get(manager, url))["ratings"][:1]
    assert month["state"] == "withheld"  # four reports besides the manager
    by_boss = published(await org.get(boss, url))
    assert [f[2] for f in by_boss] == ([3 * (MIN_RATERS - 1) + MIN_RATERS - 1] if manager_rates else [])


# --- siblings ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quiet_raters, total_shown", [(0, True), (1, False), (MIN_RATERS - 1, False)])
async def test_the_org_total_never_isolates_a_team(org, factory, quiet_raters, total_shown):
    hr = await factory.person(role="hr")
    loud, _, _ = await org.team(MIN_RATERS + 1)
    quiet, _, _ = await org.team(quiet_raters, people=MIN_RATERS)  # listed (5 people), too few raters
    await org.freeze()
    body = await org.get(hr, "/v1/insights/org")
    groups = {g["manager_id"]: g for g in body["groups"]}
    assert set(groups) == {loud.id, quiet.id}
    assert groups[loud.id]["ratings"][0]["state"] == "published"
    assert groups[quiet.id]["ratings"][0]["state"] == "withheld"
    assert (body["total"]["ratings"][0]["state"] == "published") is total_shown
    assert differences(set(published(body))) == []


async def test_a_suppressed_small_team_counts_as_unshown(org, factory):
    hr = await factory.person(role="hr")
    await org.team(MIN_RATERS + 1)
    for _ in range(2):  # two teams of three people, one rater each: suppressed, together six people
        await org.team(1, people=3)
    await org.freeze()
    body = await org.get(hr, "/v1/insights/org")
    assert body["suppressed_groups"] == 2 and body["total"]["people"] == MIN_RATERS + 1 + 6
    assert body["total"]["ratings"][0]["state"] == "withheld"  # it would isolate the two small teams' raters
    assert differences(set(published(body))) == []
