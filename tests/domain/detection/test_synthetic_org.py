"""The detector on a synthetic organisation (bench/synthetic_org.py): every finding
type turns up, and detecting one pair agrees with detecting everyone. Its speed
at 2,000 people × 12 months is measured by `make bench-detect`, not here."""

from __future__ import annotations

import pytest

from bench.synthetic_org import synthetic_org
from service.domain.detection import detect, detect_pair, people_index


@pytest.fixture(scope="module")
def org():
    return synthetic_org(count=120, months=12)


@pytest.fixture(scope="module")
def full(org):
    history, people, policies, now = org
    return detect(history, people, policies, now)


def test_every_reporting_line_is_a_pair_and_every_planted_finding_is_found(org, full):
    assert len(full.pairs) == len(org[1]) - 1
    assert {f.type for f in full.findings} >= {
        "cancelled_without_reschedule",
        "late_reschedule",
        "shortened",
        "declined",
        "double_booked",
        "cadence_gap",
    }


def test_one_pair_detected_alone_agrees_with_the_full_run(org, full):
    history, people, policies, now = org
    index = people_index(people)
    policy = {(p.manager, p.report): p for p in policies}
    for person in people[1::7]:
        pair = (person.manager, person.email)
        one = detect_pair(history, *pair, index, policy.get(pair), now)
        assert one.pair in full.pairs and one.meetings  # every line has a weekly series
        assert set(one.findings) == {f for f in full.findings if (f.manager, f.report) == pair}
        assert set(one.meetings) == {m for m in full.meetings if (m.manager, m.report) == pair}
