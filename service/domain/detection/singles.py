"""A single event's occurrence, replayed change by change.

Its original start is the first-synced start. A change at or after its current
start is ignored (history is not rewritten): deleting a meeting that took
place leaves it held. A deletion before it cancels it; a later live snapshot
restores it; a new start is a move."""

from __future__ import annotations

from datetime import datetime

from service.domain.detection.records import EventRecord
from service.domain.detection.timeline import DELETED, CopyOccurrence, Responses, is_live, track


def single_occurrence(record: EventRecord) -> CopyOccurrence | None:
    occ: CopyOccurrence | None = None
    responses: Responses = {}
    for change in record.versions:
        at, snap = change.changed_at, change.snapshot
        if occ is not None and at >= occ.start:
            break  # it has started: later changes do not rewrite it
        if not is_live(snap):
            if occ is not None:
                occ.cancel(at, DELETED)
            continue
        if snap.start is None or snap.end is None:
            continue
        if occ is None:
            first = record.fixed_original_start or snap.start
            occ = CopyOccurrence(record, first, snap.start, snap.end, snap, responses)
        else:
            occ.restore()  # a live snapshot after a deletion brings it back
            occ.move_to(at, snap.start, snap.end)
            occ.snapshot = snap
        if snap.attendees:
            track(responses, snap, at)
    return occ


def single_in_range(record: EventRecord, lo: datetime, hi: datetime) -> bool:
    """Cheap pre-filter: could this single event's occurrence touch [lo, hi]?"""
    for change in record.versions:
        snap = change.snapshot
        if snap is not None and snap.start is not None and snap.end is not None and snap.start <= hi and snap.end >= lo:
            return True
    return False
