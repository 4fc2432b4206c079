"""One calendar copy's occurrences of one event: the entry point over the
replays of single events (`singles`) and series (`series`), whose rules say
how cancellations, moves, series edits and deletions shape each occurrence
without rewriting history."""

from __future__ import annotations

from datetime import datetime

from service.domain.detection.records import EventRecord
from service.domain.detection.series import series_occurrences
from service.domain.detection.singles import single_in_range, single_occurrence
from service.domain.detection.timeline import (
    DELETED,
    EXDATE,
    INSTANCE,
    SERIES_DELETED,
    CopyOccurrence,
    Move,
)

__all__ = ["DELETED", "EXDATE", "INSTANCE", "SERIES_DELETED", "CopyOccurrence", "Move", "copy_occurrences"]


def copy_occurrences(record: EventRecord, lo: datetime, hi: datetime) -> list[CopyOccurrence]:
    """All occurrences of one record relevant to [lo, hi]: series slots starting
    in it (or moved into it), single events touching it."""
    if record.is_series:
        return series_occurrences(record, lo, hi)
    if not single_in_range(record, lo, hi):
        return []
    occ = single_occurrence(record)
    return [occ] if occ is not None else []
