"""detect / detect_pair: from calendar history to pairs, meetings and findings.

A pair's result depends only on the two participants' calendars: its 1:1s are
the events on either calendar that classify as a 1:1 between exactly these two,
and double bookings are looked up on each participant's own calendar. So
`detect_pair` reads those two calendars only, and `detect` is the same
computation for every reporting line with shared indexes and caches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime

from service.domain.detection.boundaries import next_change
from service.domain.detection.busy import BusyIndex, build_busy_index
from service.domain.detection.cadence import (
    bucket,
    display_interval,
    horizon,
    infer_interval,
    series_interval,
)
from service.domain.detection.classify import PairOccurrence, merge_copies, one_on_one_pair
from service.domain.detection.detectors import PairFacts, all_findings
from service.domain.detection.model import DetectedMeeting, Detection, PairDetection, PairSummary
from service.domain.detection.occurrences import CopyOccurrence, copy_occurrences
from service.domain.detection.records import EventRecord, index_history
from service.domain.detection.rules import (
    DAY,
    EXPANSION_MARGIN,
    WINDOW_FUTURE,
    as_utc,
    earliest,
    in_window,
)
from service.domain.events import CalendarHistory, OrgPerson, Policy

Pair = tuple[str, str]


def people_index(people: Iterable[OrgPerson]) -> dict[str, OrgPerson]:
    """Org members by lower-cased email."""
    return {p.email.lower(): p for p in people}


def reporting_lines(people: Mapping[str, OrgPerson]) -> list[Pair]:
    """Every direct reporting line in the org is a pair."""
    return sorted((p.manager.lower(), email) for email, p in people.items() if p.manager)


class _Run:
    """Indexes and caches shared by the pairs of one detection run.

    Caches are per calendar and can be released once every pair involving that
    calendar is done, which keeps a large run's memory (and the garbage
    collector's work) small."""

    def __init__(self, records: dict[str, list[EventRecord]], people: Mapping[str, OrgPerson], now: datetime) -> None:
        self.records = records
        self.people = people
        self.now = now
        self.lo = earliest(now)
        self.default_hi = now + WINDOW_FUTURE + EXPANSION_MARGIN
        self._busy: dict[str, dict[tuple[datetime, datetime], BusyIndex]] = {}
        self._pairs: dict[Pair, list[EventRecord]] | None = None
        self._one_on_ones: set[int] = set()
        # A 1:1 series is expanded for its pair and again for both calendars'
        # busy time: once is enough.
        self._copies: dict[str, dict[tuple[int, datetime, datetime], list[CopyOccurrence]]] = {}

    def copies(self, record: EventRecord, lo: datetime, hi: datetime) -> list[CopyOccurrence]:
        if id(record) not in self._one_on_ones:
            return copy_occurrences(record, lo, hi)
        cache = self._copies.setdefault(record.calendar, {})
        key = (id(record), lo, hi)
        found = cache.get(key)
        if found is None:
            found = cache[key] = copy_occurrences(record, lo, hi)
        return found

    def release(self, calendar: str) -> None:
        self._busy.pop(calendar, None)
        self._copies.pop(calendar, None)

    # -- 1:1 records ---------------------------------------------------------------
    def _classify(self, calendars: Iterable[str]) -> dict[Pair, list[EventRecord]]:
        found: dict[Pair, list[EventRecord]] = {}
        for calendar in calendars:
            for record in self.records.get(calendar, ()):
                pair = one_on_one_pair(record.created, self.people)
                if pair is not None and calendar in pair:
                    found.setdefault(pair, []).append(record)
                    self._one_on_ones.add(id(record))
        return found

    def one_on_one_records(self, pair: Pair) -> list[EventRecord]:
        if self._pairs is None:
            self._pairs = self._classify(self.records)
        return self._pairs.get(pair, [])

    # -- busy time -------------------------------------------------------------------
    def busy(self, owner: str, start: datetime, end: datetime) -> BusyIndex:
        indexes = self._busy.setdefault(owner, {})
        span = (self.lo, self.default_hi)
        if span not in indexes:
            indexes[span] = build_busy_index(owner, self.records.get(owner, []), *span, self.copies)
        if indexes[span].covers(start, end):
            return indexes[span]
        # A 1:1 moved far from its slot: look at that stretch on its own.
        span = (start - DAY, end + DAY)
        if span not in indexes:
            indexes[span] = build_busy_index(owner, self.records.get(owner, []), *span, self.copies)
        return indexes[span]

    # -- one pair --------------------------------------------------------------------
    def _occurrences(self, pair: Pair, records: list[EventRecord], hi: datetime) -> list[PairOccurrence]:
        copies = [occ for record in records for occ in self.copies(record, self.lo, hi)]
        return merge_copies(copies, *pair)

    def pair(self, pair: Pair, policy: Policy | None) -> PairDetection:
        now = self.now
        records = self.one_on_one_records(pair)
        policy_days = policy.cadence_days if policy is not None else None
        # Expand far enough for no_upcoming: twice the longest interval in sight.
        bound = max([policy_days or 0] + [series_interval(r) or 0 for r in records if r.is_series])
        hi = max(self.default_hi, now + 2 * bound * DAY + DAY)
        occurrences = self._occurrences(pair, records, hi)
        window = [o for o in occurrences if in_window(o.original_start, now)]
        interval = infer_interval(policy_days, window, now)
        if now + horizon(interval) + DAY > hi:  # an inferred interval longer than foreseen
            hi = now + horizon(interval) + DAY
            occurrences = self._occurrences(pair, records, hi)
            window = [o for o in occurrences if in_window(o.original_start, now)]
        facts = PairFacts(pair[0], pair[1], now, occurrences, window, interval)
        findings = all_findings(facts, self.busy)
        return PairDetection(
            _summary(facts),
            tuple(_meeting(o, now) for o in window),
            tuple(findings),
            next_change(facts, hi, bool(records)),
        )


def _summary(facts: PairFacts) -> PairSummary:
    now = facts.now
    held = [o.start for o in facts.window if o.status(now) == "held"]
    upcoming = [o.start for o in facts.occurrences if not o.cancelled and not o.declined and o.start > now]
    return PairSummary(
        facts.manager,
        facts.report,
        bucket(facts.interval, bool(facts.window)),
        display_interval(facts.interval),
        max(held, default=None),
        min(upcoming, default=None),
    )


def _meeting(occ: PairOccurrence, now: datetime) -> DetectedMeeting:
    primary = occ.primary
    record = primary.record
    return DetectedMeeting(
        occ.manager,
        occ.report,
        occ.original_start,
        occ.start,
        occ.end,
        occ.status(now),
        title=occ.title,
        private=occ.private,
        ical_uid=record.created.ical_uid,
        series_id=record.event_id if record.is_series else None,
        event_id=primary.instance_id or record.event_id,
        calendar=primary.calendar,
        cancelled_at=occ.cancelled_at,
    )


def _policies(policies: Iterable[Policy]) -> dict[Pair, Policy]:
    return {(p.manager.lower(), p.report.lower()): p for p in policies}


def detect(history: CalendarHistory, people: list[OrgPerson], policies: list[Policy], now: datetime) -> Detection:
    """Every reporting line's cadence, 1:1 occurrences and findings at `now`."""
    now = as_utc(now)
    index = people_index(people)
    by_pair = _policies(policies)
    run = _Run(index_history(history, since=earliest(now)), index, now)
    return Detection.combine(_run_pairs(run, [(pair, by_pair.get(pair)) for pair in reporting_lines(index)]))


def _run_pairs(run: _Run, pairs: list[tuple[Pair, Policy | None]]) -> list[PairDetection]:
    """Each pair in turn; a calendar's caches go once its last pair is done."""
    pending = Counter(email for pair, _ in pairs for email in pair)
    results = []
    for pair, policy in pairs:
        results.append(run.pair(pair, policy))
        for email in pair:
            pending[email] -= 1
            if not pending[email]:
                run.release(email)
    return results


def detect_pairs(
    history: CalendarHistory,
    pairs: Iterable[tuple[str, str, Policy | None]],
    people_index: Mapping[str, OrgPerson],
    now: datetime,
) -> list[PairDetection]:
    """Several pairs (manager, report, policy) at once, reading only their people's
    calendars, with indexes and caches shared as in `detect`: each result equals
    `detect_pair`'s for that pair. `people_index` maps lower-cased emails to org
    members (at least every participant of those calendars' events)."""
    now = as_utc(now)
    wanted = [((manager.lower(), report.lower()), policy) for manager, report, policy in pairs]
    calendars = {email for pair, _ in wanted for email in pair}
    people = {email.lower(): person for email, person in people_index.items()}
    run = _Run(index_history(history, calendars=calendars, since=earliest(now)), people, now)
    return _run_pairs(run, wanted)


def detect_pair(
    history: CalendarHistory,
    manager_email: str,
    report_email: str,
    people_index: Mapping[str, OrgPerson],
    policy: Policy | None,
    now: datetime,
) -> PairDetection:
    """One pair, reading only the manager's and the report's calendars.
    `people_index` maps lower-cased emails to org members."""
    now = as_utc(now)
    pair = (manager_email.lower(), report_email.lower())
    people = {email.lower(): person for email, person in people_index.items()}
    run = _Run(index_history(history, calendars=pair, since=earliest(now)), people, now)
    return run.pair(pair, policy)
