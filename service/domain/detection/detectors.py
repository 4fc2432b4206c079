"""One function per finding type, each the SPEC's rule read literally.

All work on a pair's merged occurrences (`PairFacts`): `window` holds those
whose original start lies in the meetings window, `occurrences` everything that
was computed (wider: replacements and no_upcoming look past the window)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from service.domain.detection.busy import Block, BusyIndex
from service.domain.detection.cadence import display_interval, horizon
from service.domain.detection.classify import PairOccurrence
from service.domain.detection.model import DetectedFinding, EventRef
from service.domain.detection.occurrences import SERIES_DELETED
from service.domain.detection.rules import (
    DAY,
    DEFAULT_HALF_WINDOW,
    GAP_FACTOR,
    LATE_NOTICE,
    MAX_HALF_WINDOW,
    SHORT_RATIO,
    days,
    hours,
    iso,
    minutes,
)

# (calendar owner, start, end) → that owner's busy blocks covering [start, end)
BusyLookup = Callable[[str, datetime, datetime], BusyIndex]


@dataclass(slots=True)
class PairFacts:
    manager: str
    report: str
    now: datetime
    occurrences: list[PairOccurrence]
    window: list[PairOccurrence]
    interval: float | None

    def finding(self, type_: str, **fields) -> DetectedFinding:
        return DetectedFinding(type_, self.manager, self.report, **fields)


def describe(occ: PairOccurrence) -> EventRef:
    """The 1:1 occurrence as evidence names it: its source copy (the organizer's)."""
    primary = occ.primary
    return EventRef(
        primary.calendar,
        occ.start,
        occ.end,
        occ.title,
        primary.instance_id or primary.record.event_id,
        primary.record.uid,
        occ.private,
        slot=occ.original_start,
    )


def _clash(block: Block, owner: str) -> EventRef:
    return EventRef(owner, block.start, block.end, block.title, block.event_id, private=block.private)


def half_window(interval: float | None) -> timedelta:
    if interval is None:
        return DEFAULT_HALF_WINDOW
    return min(interval * DAY / 2, MAX_HALF_WINDOW)


def cancelled_without_reschedule(facts: PairFacts) -> list[DetectedFinding]:
    """Cancelled before its start — not by deleting its whole series — and no
    non-cancelled 1:1 of the pair from another series (or a single event)
    starts within ±half-window of the original start, bounds included."""
    half = half_window(facts.interval)
    out = []
    for occ in facts.window:
        if not occ.cancelled or occ.cancel_reason == SERIES_DELETED:
            continue
        lo, hi = occ.original_start - half, occ.original_start + half
        replacements = [
            o
            for o in facts.occurrences
            if not o.cancelled and lo <= o.start <= hi and (o.series_key is None or o.series_key != occ.series_key)
        ]
        if replacements:
            continue
        out.append(
            facts.finding(
                "cancelled_without_reschedule",
                occurrence_start=occ.original_start,
                notice_hours=hours(occ.original_start - occ.cancelled_at),
                explanation=(
                    (f"{iso(occ.cancelled_at)}: ", describe(occ), f" cancelled ({occ.cancel_reason})"),
                    (f"no other 1:1 of the pair starts in [{iso(lo)}, {iso(hi)}]",),
                ),
            )
        )
    return out


def late_reschedule(facts: PairFacts) -> list[DetectedFinding]:
    """Moved less than 24 h before the earlier of its old and new start; with
    several moves the smallest notice counts. Length-only changes are not moves."""
    out = []
    for occ in facts.window:
        if occ.cancelled or not occ.moves:
            continue
        worst = min(occ.moves, key=lambda m: m.notice)
        if worst.notice >= LATE_NOTICE:
            continue
        out.append(
            facts.finding(
                "late_reschedule",
                occurrence_start=occ.original_start,
                start=occ.start,
                notice_hours=hours(worst.notice),
                explanation=tuple(
                    (
                        f"{iso(m.at)}: ",
                        describe(occ),
                        f" moved {iso(m.old_start)} -> {iso(m.new_start)} ({hours(m.notice)} h notice)",
                    )
                    for m in occ.moves
                ),
            )
        )
    return out


def _single_reference(window: list[PairOccurrence]) -> timedelta | None:
    lengths = [o.length for o in window if not o.is_series and not o.cancelled]
    if not lengths:
        return None
    return statistics.median(lengths)


def shortened(facts: PairFacts) -> list[DetectedFinding]:
    """Scheduled for < 75 % of its series' length in force at its start; single
    events against the median length of the pair's non-cancelled singles."""
    singles = _single_reference(facts.window)
    out = []
    for occ in facts.window:
        if occ.cancelled:
            continue
        reference = occ.reference if occ.is_series else singles
        if not reference or occ.length >= reference * SHORT_RATIO:
            continue
        basis = "series length" if occ.is_series else "median length of the pair's single 1:1s"
        out.append(
            facts.finding(
                "shortened",
                occurrence_start=occ.original_start,
                minutes=minutes(occ.length),
                reference_minutes=minutes(reference),
                explanation=(
                    (
                        describe(occ),
                        f" runs {iso(occ.start)}-{iso(occ.end)} "
                        f"({minutes(occ.length)} min; {basis} {minutes(reference)} min)",
                    ),
                ),
            )
        )
    return out


def declined(facts: PairFacts) -> list[DetectedFinding]:
    out = []
    for occ in facts.window:
        if occ.cancelled:
            continue
        for by, email, flag in (
            ("manager", facts.manager, occ.declined_by_manager),
            ("report", facts.report, occ.declined_by_report),
        ):
            if flag:
                out.append(
                    facts.finding(
                        "declined",
                        occurrence_start=occ.original_start,
                        by=by,
                        explanation=((f"{email} declined ", describe(occ)),),
                    )
                )
    return out


def double_booked(facts: PairFacts, busy: BusyLookup) -> list[DetectedFinding]:
    """Strict overlap with another busy, timed, non-cancelled event on `by`'s
    own calendar that `by` did not decline (future occurrences included)."""
    out = []
    for occ in facts.window:
        if occ.cancelled or occ.declined:
            continue
        for by, email in (("manager", facts.manager), ("report", facts.report)):
            clashes = busy(email, occ.start, occ.end).overlapping(occ.start, occ.end, occ.key)
            if not clashes:
                continue
            out.append(
                facts.finding(
                    "double_booked",
                    occurrence_start=occ.original_start,
                    by=by,
                    conflict=clashes[0].title,
                    conflict_event=_clash(clashes[0], email),
                    explanation=tuple(
                        (describe(occ), f" {iso(occ.start)}-{iso(occ.end)} overlaps ", _clash(c, email))
                        for c in clashes
                    ),
                )
            )
    return out


def cadence_gap(facts: PairFacts) -> list[DetectedFinding]:
    """Consecutive held occurrences of the window (or the last one and now) more
    than 1.5 × interval apart, start to start; `since` is the earlier start."""
    if facts.interval is None:
        return []
    held = sorted(o.start for o in facts.window if o.status(facts.now) == "held")
    if not held:
        return []
    limit = GAP_FACTOR * facts.interval * DAY
    out = []
    for since, until in zip(held, held[1:] + [facts.now]):
        if until - since <= limit:
            continue
        what = "now" if until == facts.now and since == held[-1] else f"held {iso(until)}"
        out.append(
            facts.finding(
                "cadence_gap",
                since=since,
                gap_days=days(until - since),
                explanation=(
                    (
                        f"held {iso(since)}, next {what}: {days(until - since)} days "
                        f"> {GAP_FACTOR} x {display_interval(facts.interval)} days",
                    ),
                ),
            )
        )
    return out


def no_upcoming(facts: PairFacts) -> list[DetectedFinding]:
    """No non-cancelled occurrence that neither declined starts in
    (now, now + max(2 × interval, 14 d)]."""
    ahead = horizon(facts.interval)
    end = facts.now + ahead
    for occ in facts.occurrences:
        if not occ.cancelled and not occ.declined and facts.now < occ.start <= end:
            return []
    return [
        facts.finding(
            "no_upcoming",
            horizon_days=display_interval(ahead / DAY),
            explanation=((f"no 1:1 scheduled in ({iso(facts.now)}, {iso(end)}]",),),
        )
    ]


def all_findings(facts: PairFacts, busy: BusyLookup) -> list[DetectedFinding]:
    found = (
        cancelled_without_reschedule(facts)
        + late_reschedule(facts)
        + shortened(facts)
        + declined(facts)
        + double_booked(facts, busy)
        + cadence_gap(facts)
        + no_upcoming(facts)
    )
    return sorted(found, key=DetectedFinding.sort_key)
