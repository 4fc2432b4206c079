"""Ratings are private to their author: insights must not let anyone work one out.

An average rating (and the number of ratings) is shown only when it pools the
ratings of at least MIN_GROUP_SIZE people other than the caller."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, update

from service.db.models import Feedback
from service.domain.insights import MIN_GROUP_SIZE
from tests.conftest import T0

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def _around(meeting) -> dict[str, str]:
    """A window that covers only `meeting`."""
    return {"from": (meeting.start - HOUR).isoformat(), "to": (meeting.start + HOUR).isoformat()}


async def _rated_pair(factory, manager, report_ratings=(3,), manager_ratings=()):
    """A pair with one held meeting per rating; `None` skips that participant's rating."""
    report = await factory.person(manager=manager)
    pair = await factory.pair(manager, report)
    meetings = []
    for n, (mine, theirs) in enumerate(zip(report_ratings, manager_ratings or [None] * len(report_ratings))):
        meeting = await factory.meeting(pair, start=T0 - (n + 1) * DAY, status="held")
        if mine is not None:
            await factory.feedback(meeting, report, rating=mine)
        if theirs is not None:
            await factory.feedback(meeting, manager, rating=theirs)
        meetings.append(meeting)
    return report, pair, meetings


async def _team(factory, raters: int, *, manager_rates: bool = False):
    """A manager under a director, with `raters` reports who rated their last 1:1."""
    director = await factory.person()
    manager = await factory.person(manager=director)
    for n in range(raters):
        await _rated_pair(factory, manager, report_ratings=(1 + n % 5,), manager_ratings=(5,) if manager_rates else ())
    return director, manager


async def _pair_insights(client, factory, who, pair, params=None) -> dict:
    r = await client.get(f"/v1/insights/pairs/{pair.id}", headers=await factory.token(who), params=params)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("viewer", ["manager", "report"])
async def test_pair_participants_see_only_their_own_rating(client, factory, sessions, viewer):
    manager = await factory.person()
    report, pair, meetings = await _rated_pair(
        factory, manager, report_ratings=(1, 2, None), manager_ratings=(5, None, 4)
    )
    who, other = (manager, report) if viewer == "manager" else (report, manager)
    windows = [None, *(_around(m) for m in meetings)]
    own = {"manager": [4.5, 5.0, None, 4.0], "report": [1.5, 1.0, 2.0, None]}[viewer]
    seen = []
    for params, expected in zip(windows, own):
        body = await _pair_insights(client, factory, who, pair, params)
        assert body["metrics"]["average_rating"] is body["metrics"]["counts"]["ratings"] is None
        assert body["own_average_rating"] == expected
        seen.append(body)

    # Nothing the viewer sees depends on the other's ratings: change them, then remove them.
    for change in (update(Feedback).values(rating=3), delete(Feedback)):
        async with sessions() as s:
            await s.execute(change.where(Feedback.person_id == other.id))
            await s.commit()
        assert [await _pair_insights(client, factory, who, pair, params) for params in windows] == seen


async def test_admin_cannot_read_a_rating_off_a_one_meeting_window(client, factory):
    admin = await factory.person(role="admin")
    manager = await factory.person()
    _report, pair, [meeting] = await _rated_pair(factory, manager, report_ratings=(2,), manager_ratings=(5,))
    body = await _pair_insights(client, factory, admin, pair, _around(meeting))
    assert body["metrics"]["average_rating"] is body["metrics"]["counts"]["ratings"] is None
    assert body["metrics"]["counts"]["held"] == 1 and body["own_average_rating"] is None

    r = await client.get(
        f"/v1/insights/managers/{manager.id}", headers=await factory.token(admin), params=_around(meeting)
    )
    team = r.json()
    assert team["metrics"]["average_rating"] is team["metrics"]["counts"]["ratings"] is None
    assert [row["metrics"]["average_rating"] for row in team["pairs"]] == [None]


@pytest.mark.parametrize("raters", [MIN_GROUP_SIZE - 1, MIN_GROUP_SIZE])
async def test_team_average_needs_five_rating_reports(client, factory, raters):
    _director, manager = await _team(factory, raters)
    r = await client.get(f"/v1/insights/managers/{manager.id}", headers=await factory.token(manager))
    body = r.json()
    ratings = [1 + n % 5 for n in range(raters)]
    m = body["metrics"]
    if raters >= MIN_GROUP_SIZE:
        assert m["average_rating"] == pytest.approx(sum(ratings) / raters) and m["counts"]["ratings"] == raters
    else:
        assert m["average_rating"] is m["counts"]["ratings"] is None
    # A pair row has one report: never a rating, however large the team.
    assert len(body["pairs"]) == raters
    assert {(row["metrics"]["average_rating"], row["metrics"]["counts"]["ratings"]) for row in body["pairs"]} == {
        (None, None)
    }


async def test_viewers_own_ratings_do_not_count_toward_five(client, factory):
    """Four reports and the manager rated: five raters, but only four besides the manager."""
    director, manager = await _team(factory, MIN_GROUP_SIZE - 1, manager_rates=True)
    url = f"/v1/insights/managers/{manager.id}"
    mine = (await client.get(url, headers=await factory.token(manager))).json()["metrics"]
    assert mine["average_rating"] is mine["counts"]["ratings"] is None
    # For the director the manager is one more other rater.
    theirs = (await client.get(url, headers=await factory.token(director))).json()["metrics"]
    assert theirs["average_rating"] == pytest.approx((1 + 2 + 3 + 4 + 4 * 5) / 8)
    assert theirs["counts"]["ratings"] == 8
    assert {k: v for k, v in theirs.items() if k not in ("average_rating", "counts")} == {
        k: v for k, v in mine.items() if k not in ("average_rating", "counts")
    }


async def test_org_view_shows_ratings_of_large_teams(client, factory):
    teams = [await _team(factory, MIN_GROUP_SIZE) for _ in range(2)]
    hr = await factory.person(role="hr")
    body = (await client.get("/v1/insights/org", headers=await factory.token(hr))).json()
    assert [g["manager_id"] for g in body["groups"]] == sorted(manager.id for _d, manager in teams)
    for group in body["groups"]:
        assert group["people"] == MIN_GROUP_SIZE
        assert group["metrics"]["average_rating"] == pytest.approx(3.0)
        assert group["metrics"]["counts"]["ratings"] == MIN_GROUP_SIZE
    total = body["total"]
    assert total["people"] == 2 * MIN_GROUP_SIZE and body["suppressed_groups"] == 0
    assert total["metrics"]["average_rating"] == pytest.approx(3.0)
    assert total["metrics"]["counts"]["ratings"] == 2 * MIN_GROUP_SIZE


async def test_org_view_hides_a_large_team_with_few_raters_also_from_the_total(client, factory):
    await _team(factory, MIN_GROUP_SIZE)
    _director, quiet = await _team(factory, 1)
    for _ in range(MIN_GROUP_SIZE - 1):  # four more reports who did not rate
        await factory.pair(quiet, await factory.person(manager=quiet))
    hr = await factory.person(role="hr")
    body = (await client.get("/v1/insights/org", headers=await factory.token(hr))).json()
    groups = {g["manager_id"]: g for g in body["groups"]}
    assert groups[quiet.id]["people"] == MIN_GROUP_SIZE
    assert groups[quiet.id]["metrics"]["average_rating"] is groups[quiet.id]["metrics"]["counts"]["ratings"] is None
    # total minus the other team would be the quiet team's single rating
    assert body["total"]["people"] == 2 * MIN_GROUP_SIZE
    assert body["total"]["metrics"]["average_rating"] is body["total"]["metrics"]["counts"]["ratings"] is None
