"""Busy time on one person's own calendar, for double_booked.

A block is an occurrence of any timed event on the calendar (another 1:1
included) that is busy, not cancelled and not declined by the calendar's owner,
judged by the same history rules as 1:1s: a busy block deleted after it took
place still happened, one its owner declined (even afterwards) did not block.
All-day events never block. Blocks remember the meeting they belong to, so
that a 1:1 never conflicts with its own copy."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from service.domain.detection.occurrences import CopyOccurrence, copy_occurrences
from service.domain.detection.records import EventRecord
from service.domain.events import Response

Occurrences = Callable[[EventRecord, datetime, datetime], list[CopyOccurrence]]


@dataclass(frozen=True, slots=True)
class Block:
    start: datetime
    end: datetime
    key: tuple
    title: str  # "" when private
    event_id: str
    private: bool = False  # marked private by the owner: busy time for everyone


class BusyIndex:
    """Blocks sorted by start, with overlap queries."""

    def __init__(self, blocks: list[Block], lo: datetime, hi: datetime) -> None:
        self.blocks = sorted(blocks, key=lambda b: (b.start, b.end, b.event_id))
        self.starts = [b.start for b in self.blocks]
        self.longest = max((b.end - b.start for b in self.blocks), default=timedelta(0))
        self.lo, self.hi = lo, hi

    def covers(self, start: datetime, end: datetime) -> bool:
        return self.lo <= start and end <= self.hi

    def overlapping(self, start: datetime, end: datetime, exclude: tuple) -> list[Block]:
        """Blocks strictly overlapping [start, end): touching ends do not count."""
        first = bisect.bisect_left(self.starts, start - self.longest)
        last = bisect.bisect_left(self.starts, end)
        return [b for b in self.blocks[first:last] if b.end > start and b.start < end and b.key != exclude]


def build_busy_index(
    owner: str, records: list[EventRecord], lo: datetime, hi: datetime, occurrences: Occurrences = copy_occurrences
) -> BusyIndex:
    """Busy blocks on `owner`'s calendar whose occurrence touches [lo, hi]."""
    blocks = []
    for record in records:
        if record.all_day:
            continue
        for occ in occurrences(record, lo, hi):
            snap = occ.snapshot
            if occ.cancelled or not snap.busy or snap.all_day:
                continue
            if occ.end <= lo or occ.start >= hi:
                continue
            if occ.response(owner) is Response.declined:
                continue
            title = "" if snap.private else snap.title or record.created.title
            blocks.append(Block(occ.start, occ.end, occ.key, title, record.event_id, snap.private))
    return BusyIndex(blocks, lo, hi)
