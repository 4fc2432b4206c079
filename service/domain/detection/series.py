"""A series copy's occurrences, each replayed change by change.

Every occurrence has an identity — its slot, the original start — and a
timeline. The changes that touch it (series versions, its own instance
snapshots, removals) are applied in time order, with one rule above all:
**history is not rewritten**. A change at or after the occurrence's current
start does not affect it: a meeting that started stays as it was, whoever
deletes, cancels, moves or edits the series later. Answers are the exception
(SPEC puts no time on a decline): they still count after the start, for as long
as the calendar shows the occurrence — until it is cancelled or removed, moved,
or no longer a slot of the series (see "Late answers" below).

Series versions (`t_k`, master snapshot k):
- the first version creates all its slots; a later version adds only slots
  that start after it (a new time makes new slots with new original starts);
- an unmodified occurrence follows the version: new length, or EXDATE-excluded
  (cancelled at t_k), or no longer produced at all (its slot vanished: UNTIL,
  a new time, a new rule — not a cancellation);
- a deleted master (Google: status cancelled; Graph: removed) cancels the
  occurrences that have not started ("series_deleted").

Instance snapshots (Google exceptions; Graph lists every occurrence):
- a live one sets the occurrence's start/end; a different start is a move;
- the occurrence is "modified individually" while the instance differs from
  what the series gives the slot (times or title; an answer is not a change of
  the occurrence, and Graph's plain occurrences do not differ); series edits of time and length then pass it by, while
  an EXDATE still cancels it and the series' end (UNTIL/COUNT) still removes it;
- a cancelled one or a removal cancels it ("instance") — unless the series
  itself explains it: the master is deleted at that moment (series deletion),
  an EXDATE of the version in force excludes it, or that version no longer
  produces the slot (UNTIL, new time: the occurrence vanishes).

Answers are kept per person as (time of last change, value), separately for
the master's stream and the instance's; the later change wins.

Late answers (at or after the occurrence's start): a series version's answers
count while that version still has the slot (live, or the occurrence is modified
individually and the series does not end before it); an instance's answers
count while it is live at the occurrence's start. The first change that no
longer shows the occurrence (series deleted, EXDATE, slot vanished, instance
cancelled, removed or moved) closes it: nothing later reaches it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from service.domain.detection.records import EventRecord, InstanceVersion
from service.domain.detection.recurrence import EXCLUDED, LIVE, SlotSet, slot_set
from service.domain.detection.rules import REMOVAL_TOLERANCE, STAMPED_TOLERANCE
from service.domain.detection.timeline import (
    EXDATE,
    INSTANCE,
    SERIES_DELETED,
    CopyOccurrence,
    Responses,
    answers,
    is_live,
    merged,
    track,
)
from service.domain.events import EventSnapshot


@dataclass(slots=True)
class _Version:
    at: datetime
    snap: EventSnapshot | None  # None: the series is deleted from here on
    slots: SlotSet | None  # slots of this version (None when deleted)
    length: timedelta | None
    hint: dict[datetime, int] | None = None  # its slots expanded over [lo, hi]

    def state(self, original_start: datetime, lo: datetime, hi: datetime) -> int | None:
        if self.slots is None:
            return None
        return self.slots.state(original_start, self.hint, lo, hi)


def _versions(record: EventRecord, lo: datetime, hi: datetime) -> list[_Version]:
    out: list[_Version] = []
    previous: _Version | None = None
    for change in record.versions:
        at, snap = change.changed_at, change.snapshot
        if not is_live(snap):
            out.append(_Version(at, None, None, None))
            continue
        if snap.start is None or snap.end is None:
            if previous is None:
                continue  # a stub before anything is known
            slots, length = previous.slots, previous.length  # nothing new to expand
        else:
            slots = slot_set(snap.recurrence, snap.start, snap.timezone)
            length = snap.end - snap.start
        previous = _Version(at, snap, slots, length, slots.between(lo, hi))
        out.append(previous)
    return out


@dataclass(slots=True)
class _Replay:
    """The state of one occurrence while its changes are replayed."""

    record: EventRecord
    original_start: datetime
    lo: datetime
    hi: datetime
    occ: CopyOccurrence | None = None
    modified: bool = False
    in_force: _Version | None = None  # the last series version applied to the occurrence
    latest: _Version | None = None  # the last live series version seen
    master_responses: Responses = field(default_factory=dict)
    instance_responses: Responses = field(default_factory=dict)

    def frozen(self, at: datetime) -> bool:
        return self.occ is not None and at >= self.occ.start

    def late_version(self, version: _Version) -> bool:
        """A series change at or after the start: only its answers count, and only
        while the series still has the occurrence (False once it has not)."""
        if self.occ.cancelled or version.snap is None or not self._has_slot(version):
            return False
        track(self.master_responses, version.snap, version.at)
        return True

    def late_instance(self, at: datetime, snap: EventSnapshot | None) -> bool:
        """An instance change at or after the start: only its answers count, and only
        while it still shows the occurrence (False once it does not)."""
        if not self.occ.shown_by(snap):
            return False
        if snap.attendees:
            track(self.instance_responses, snap, at, self.master_responses)
        return True

    def _has_slot(self, version: _Version) -> bool:
        state = version.state(self.original_start, self.lo, self.hi)
        if state == LIVE:
            return True
        return state is None and self.modified and not version.slots.ends_before(self.original_start)

    def apply_version(self, version: _Version, first: bool) -> None:
        occ = self.occ
        if version.snap is None:
            if occ is not None:
                occ.cancel(version.at, SERIES_DELETED)
            return
        if occ is not None:
            occ.restore(SERIES_DELETED)  # a deleted series that comes back
        self.latest = version
        track(self.master_responses, version.snap, version.at)
        state = version.state(self.original_start, self.lo, self.hi)
        if occ is None:
            if state == LIVE and (first or self.original_start > version.at):
                self.in_force = version
                self.occ = CopyOccurrence(
                    self.record,
                    self.original_start,
                    self.original_start,
                    self.original_start + version.length,
                    version.snap,
                    {},
                )
            return
        self.in_force = version
        if state == EXCLUDED:
            # An EXDATE cancels the occurrence, modified or not (Graph lists
            # cancelled occurrences, moved ones included, this way).
            occ.cancel(version.at, EXDATE)
            return
        if state == LIVE:
            occ.restore(EXDATE)  # the EXDATE was taken back
        if self.modified:
            # Series time/length edits pass individually modified occurrences
            # by; only the end of the series (UNTIL/COUNT) removes them.
            if state is None and version.slots.ends_before(self.original_start):
                self._vanish()
            return
        if state is None:
            self._vanish()  # the slot vanished (UNTIL, a new time or rule)
            return
        occ.end = self.original_start + version.length
        occ.snapshot = version.snap

    def apply_gone(self, at: datetime, instance_id: str, versions: list[_Version], *, removed: bool) -> None:
        """A cancelled instance (stamped with its own change time) or a removed one
        (`removed`: observed, not stamped)."""
        if self.occ is None:
            return
        # The series version in force, allowing for the master's deletion being
        # seen or stamped a moment after the instance's.
        tolerance = REMOVAL_TOLERANCE if removed else STAMPED_TOLERANCE
        current = None
        for version in versions:
            if version.at > at + tolerance:
                break
            current = version
        if current is None or current.snap is None:
            return  # part of deleting the whole series: the master's change handles it
        state = current.state(self.original_start, self.lo, self.hi)
        if state == EXCLUDED:
            return  # an EXDATE said it first (or will, within the tolerance)
        if state is None:
            if self.modified:
                self._vanish()  # the series no longer has this slot
            return
        self.occ.cancel(at, INSTANCE, instance_id)

    def _vanish(self) -> None:
        """No occurrence here any more; should the slot come back, it starts afresh."""
        self.occ, self.modified = None, False
        self.instance_responses = {}

    def apply_instance(self, at: datetime, snap: EventSnapshot, instance_id: str) -> None:
        if snap.attendees:
            track(self.instance_responses, snap, at, self.master_responses)
        if snap.start is None or snap.end is None:
            return  # a stub: times come from the series
        occ = self.occ
        if occ is None:
            if self.latest is not None and self.latest.state(self.original_start, self.lo, self.hi) is not None:
                # The series has this slot, but it is no occurrence: it lies
                # before the edit that made it (Graph re-lists past occurrences
                # at a series' new time) or it vanished. History stays as it was.
                return
            # An instance the series does not produce (seen before its master,
            # or left from an earlier slot): keep it as scheduled individually.
            self.occ = CopyOccurrence(
                self.record, self.original_start, snap.start, snap.end, snap, {}, instance_id=instance_id
            )
            self.modified = True
            return
        occ.restore(INSTANCE)
        occ.move_to(at, snap.start, snap.end)
        occ.snapshot, occ.instance_id = snap, instance_id
        self.modified = self._differs(snap)

    def _differs(self, snap: EventSnapshot) -> bool:
        """Modified individually: other times or title than the series gives this
        slot. An answer to one occurrence is not a change of it (it is tracked as
        an answer), so a later series edit still moves or resizes it. (Graph lists
        plain occurrences too; they do not differ.)"""
        version = self.in_force
        if version is None or version.snap is None or version.length is None:
            return True
        if (snap.start, snap.end) != (self.original_start, self.original_start + version.length):
            return True
        return snap.title != version.snap.title

    def result(self) -> CopyOccurrence | None:
        occ = self.occ
        if occ is None:
            return None
        occ.responses = merged(self.master_responses, self.instance_responses)
        if self.in_force is not None:
            occ.reference = self.in_force.length
        return occ


def _replay(
    record: EventRecord,
    original_start: datetime,
    versions: list[_Version],
    stream: list[InstanceVersion],
    lo: datetime,
    hi: datetime,
) -> CopyOccurrence | None:
    state = _Replay(record, original_start, lo, hi)
    # Series versions first at equal times: an instance written together with a
    # series edit is judged against the edited series.
    events = [(v.at, 0, i) for i, v in enumerate(versions)]
    events += [(item[0], 1, j) for j, item in enumerate(stream)]
    events.sort()
    first_live = next((i for i, v in enumerate(versions) if v.snap is not None), None)
    for at, kind, index in events:
        if state.frozen(at):
            # Started: as it was, but for answers while it is still shown.
            shown = state.late_version(versions[index]) if kind == 0 else state.late_instance(at, stream[index][1])
            if not shown:
                break
            continue
        if kind == 0:
            state.apply_version(versions[index], index == first_live)
            continue
        _, snap, instance_id = stream[index]
        if is_live(snap):
            state.apply_instance(at, snap, instance_id)
        else:
            state.apply_gone(at, instance_id, versions, removed=snap is None)
    return state.result()


def _plain(stream: list[InstanceVersion], version: _Version, original_start: datetime) -> bool:
    """A lone instance that just restates its slot (Graph's plain occurrence)."""
    if len(stream) != 1:
        return False
    at, snap, _ = stream[0]
    return (
        is_live(snap)
        and at >= version.at
        and snap.start == original_start
        and snap.end == original_start + version.length
        and snap.title == version.snap.title
        and (not snap.attendees or answers(snap) == answers(version.snap))
    )


def _relevant_instances(record: EventRecord, lo: datetime, hi: datetime) -> list[datetime]:
    out = []
    for original_start, stream in record.instances.items():
        if lo <= original_start <= hi:
            out.append(original_start)
            continue
        for _, snap, _ in stream:  # moved into the range from elsewhere
            if (
                snap is not None
                and snap.start is not None
                and snap.end is not None
                and snap.start <= hi
                and snap.end >= lo
            ):
                out.append(original_start)
                break
    return out


def series_occurrences(record: EventRecord, lo: datetime, hi: datetime) -> list[CopyOccurrence]:
    """Occurrences of a series copy whose original start lies in [lo, hi], plus
    any occurrence moved into that range from a slot outside it."""
    versions = _versions(record, lo, hi)
    if not versions:
        return []
    simple = len(versions) == 1 and versions[0].snap is not None
    candidates: set[datetime] = set()
    for version in versions:
        if version.hint:
            candidates.update(version.hint)
    candidates.update(_relevant_instances(record, lo, hi))
    shared: Responses | None = None
    out = []
    for original_start in sorted(candidates):
        stream = record.instances.get(original_start, [])
        if simple and (not stream or _plain(stream, versions[0], original_start)):
            # Fast path: a series seen once, this slot untouched.
            version = versions[0]
            if version.hint.get(original_start) != LIVE:
                continue
            if shared is None:
                shared = {}
                track(shared, version.snap, version.at)
            out.append(
                CopyOccurrence(
                    record,
                    original_start,
                    original_start,
                    original_start + version.length,
                    version.snap,
                    shared,
                    reference=version.length,
                )
            )
            continue
        occ = _replay(record, original_start, versions, stream, lo, hi)
        if occ is not None:
            out.append(occ)
    return out
