"""When a pair's conclusions can next change with no calendar change.

With the history fixed, what `detect_pair` concludes at `now` changes only when
`now` crosses one of these instants (exact: the result is the same for every
`now` before the earliest one):

- a non-cancelled occurrence's end: scheduled → held or declined (last_held,
  the median gap, cadence gaps between held occurrences);
- a non-cancelled occurrence's start: it stops being upcoming (next_scheduled,
  no_upcoming);
- start − horizon of a non-cancelled occurrence nobody declined: it enters
  no_upcoming's horizon;
- an original start + 14 days (it enters the meetings window) or + 90 days
  (just after: it leaves it; the interval may be inferred from it);
- just after the last held start + 1.5 × interval: cadence_gap against now;
- the expansion limit `hi`: occurrences were only computed up to `hi`, so one
  that would enter the window (original start ≤ now + 14 d), or, when nothing
  is upcoming, the no_upcoming horizon, is looked for again before that.

A pair with no 1:1 record at all never changes by itself (None)."""

from __future__ import annotations

from datetime import datetime, timedelta

from service.domain.detection.cadence import horizon
from service.domain.detection.detectors import PairFacts
from service.domain.detection.rules import DAY, GAP_FACTOR, WINDOW_FUTURE, WINDOW_PAST

# Strict conditions (leaving the window, a gap *more* than 1.5 intervals) turn
# true just after their instant.
JUST_AFTER = timedelta(microseconds=1)


def next_change(facts: PairFacts, hi: datetime, has_records: bool) -> datetime | None:
    """The earliest instant after `facts.now` at which the pair's detection may differ."""
    if not has_records:
        return None
    now = facts.now
    ahead = horizon(facts.interval)
    found: list[datetime] = []
    upcoming = False
    for occ in facts.occurrences:
        found += (occ.original_start - WINDOW_FUTURE, occ.original_start + WINDOW_PAST + JUST_AFTER)
        if occ.cancelled:
            continue
        found += (occ.start, occ.end)
        if not occ.declined:
            found.append(occ.start - ahead)
            upcoming = upcoming or now < occ.start <= now + ahead
    held = [o.start for o in facts.window if o.status(now) == "held"]
    if held and facts.interval is not None:
        found.append(max(held) + GAP_FACTOR * facts.interval * DAY + JUST_AFTER)
    found.append(hi - WINDOW_FUTURE)
    if not upcoming:
        found.append(hi - ahead)
    return min((t for t in found if t > now), default=None)
