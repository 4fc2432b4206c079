"""Changes a person makes to their next 1:1 in the fakes (the live sandbox's
`oneonone sandbox cancel|decline|move|shorten`): every copy of the occurrence
changes, through the fakes' own timeline ops."""

from __future__ import annotations

import pytest

from service.clock import FixedClock
from service.demo import SCENARIO
from service.sandbox import changes
from service.sandbox.providers import SandboxProviders
from service.sandbox.scenario import load_scenario

PRIYA, MAYA, LI = "priya.sharma@acme.test", "maya.diaz@acme.test", "li.wei@acme.test"


@pytest.fixture
def demo_world() -> SandboxProviders:
    """The demo's calendars as of its `now` (nobody watching: nothing is delivered)."""
    scenario = load_scenario(SCENARIO)
    clock = FixedClock(scenario.start)
    sandbox = SandboxProviders(scenario, clock=clock)
    for op in scenario.timeline:
        sandbox.apply(op)
    clock.set(scenario.now)
    return sandbox


def test_cancelling_priyas_next_1on1_cancels_the_organizers_and_her_copy(demo_world):
    change = changes.plan_next(demo_world, "cancel", PRIYA)
    assert (change.partner, change.summary) == (MAYA, "Maya / Priya 1:1")
    assert change.as_json()["original_start"] == "2026-12-03T10:00:00Z"  # biweekly Thursday, after Friday 20 Nov
    assert [(op["provider"], op["calendars"], op["op"]) for op in change.ops] == [
        ("google", [MAYA], "cancel_occurrence"),
        ("microsoft", [PRIYA], "cancel_occurrence"),
    ]
    assert all(op["at"] == "2026-11-20T16:00:00Z" for op in change.ops)  # stamped with the fakes' clock
    changes.apply(demo_world, change)
    maya = demo_world.google.store.get_event(MAYA, "caq9v0mq2b5jng861dj2poa659_20261203T100000Z")
    assert maya["status"] == "cancelled"
    # Both copies agree: the next one is now the one after.
    assert changes.plan_next(demo_world, "cancel", PRIYA).as_json()["original_start"] == "2026-12-17T10:00:00Z"
    assert changes.plan_next(demo_world, "cancel", MAYA, partner=PRIYA).as_json()["original_start"] == (
        "2026-12-17T10:00:00Z"
    )


def test_shorten_move_and_decline_are_the_scenario_ops_a_timeline_holds(demo_world):
    shorten = changes.plan_next(demo_world, "shorten", LI, minutes=20)
    (op,) = shorten.ops  # both on Google: one event, two calendars
    assert op["op"] == "move_occurrence" and sorted(op["calendars"]) == [LI, MAYA]
    assert (op["start"]["dateTime"], op["end"]["dateTime"]) == (
        "2026-11-23T10:00:00+01:00",
        "2026-11-23T10:20:00+01:00",
    )
    move = changes.plan_next(demo_world, "move", PRIYA, minutes=90)
    assert move.ops[1]["start"] == {"dateTime": "2026-12-03T11:30:00.0000000", "timeZone": "UTC"}
    decline = changes.plan_next(demo_world, "decline", PRIYA)
    assert {op["attendee"] for op in decline.ops} == {PRIYA}
    for change in (shorten, move, decline):
        changes.apply(demo_world, change)


@pytest.mark.parametrize(
    ("kind", "email", "partner", "message"),
    [
        ("cancel", "jonas.berg@acme.test", None, "no upcoming 1:1 series"),  # the series was deleted
        ("cancel", "ada.okoye@acme.test", None, "has no manager"),
        ("decline", MAYA, LI, "organizes this 1:1"),
        ("cancel", "nobody@acme.test", None, "nobody in the sandbox"),
        ("shorten", LI, None, "shorten to between 1 and 29 minutes"),
        ("delete", LI, None, "unknown change"),
    ],
)
def test_what_cannot_be_done_says_why(demo_world, kind, email, partner, message):
    with pytest.raises(changes.NoSuchChange, match=message):
        changes.plan_next(demo_world, kind, email, partner=partner, minutes=45 if kind == "shorten" else None)
