"""A single event's occurrence, replayed change by change.

Its original start is the first-synced start. A deletion before its current
start cancels it; a later live snapshot restores it; a new start is a move.
History is not rewritten: from its start on, only answers change it (SPEC puts
no time on a decline), and only while the event still shows it — deleting a
meeting that took place, or moving the event elsewhere, leaves it as it was."""

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
            if not occ.shown_by(snap):
                break  # gone, as it was
            track(responses, snap, at)  # started: only an answer still changes it
            continue
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
