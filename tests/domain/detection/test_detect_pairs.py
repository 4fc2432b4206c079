"""`detect_pairs` (several pairs sharing one run, as recompute uses it) gives each
pair exactly what `detect_pair` gives it, with only the participants in the index."""

from __future__ import annotations

from service.domain.detection import detect_pair, detect_pairs, people_index
from tests.domain.detection.test_api import story


def test_detect_pairs_equals_detect_pair_for_each_pair():
    w = story()
    w.policy("maya", "omar", 14)
    index = people_index(w.people)
    lines = [
        (p.manager, p.email, next((x for x in w.policies if (x.manager, x.report) == (p.manager, p.email)), None))
        for p in w.people
        if p.manager
    ]
    together = detect_pairs(w.history, lines, index, w.now)
    alone = [detect_pair(w.history, m, r, index, policy, w.now) for m, r, policy in lines]
    assert together == alone
    assert {f.type for one in together for f in one.findings} >= {"cancelled_without_reschedule", "declined"}
