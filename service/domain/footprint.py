"""Which pairs an increment of one person's calendar can concern.

A pair's findings depend on the pair's own 1:1s (always with both of them among
the event's people) and, for double_booked, on any busy event of either calendar
that overlaps one of its occurrences. So an increment of P's calendar concerns,
among P's pairs:
- those whose other person is among the people (organizer, attendees) of a
  changed event, before or after the change;
- those with a meeting overlapping a changed event, where it was or where it is
  now (an instance also where its series had put it);
- all of them when a series changed (its occurrences are everywhere) or an
  event's place cannot be told.
A manager's calendar change then recomputes the one pair it is about, not every
pair of the manager."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from service.db.models import Meeting, Pair, Person
from service.domain.events import Kind

MAX_SPANS = 50  # beyond this many places, every pair of the person (one short query, not a long OR)


@dataclass
class Footprint:
    people: set[str] = field(default_factory=set)  # lower-cased emails
    spans: list[tuple[datetime, datetime]] = field(default_factory=list)
    wide: bool = False  # every pair of the person

    def add(
        self,
        kind: str,
        start: datetime | None,
        end: datetime | None,
        people: Iterable[str],
        *,
        original_start: datetime | None = None,
        length: timedelta | None = None,
    ) -> None:
        """One version of a changed event; `length`: its series' (where an instance's
        original slot ends)."""
        self.people.update(p.lower() for p in people if p)
        if kind == Kind.series.value:
            self.wide = True
            return
        placed = False
        if start is not None and end is not None:
            self.spans.append((start, end))
            placed = True
        if original_start is not None and (length is not None or placed):
            self.spans.append((original_start, original_start + (length if length is not None else end - start)))
            placed = True
        self.wide |= not placed


# Built once (bound parameters): they run after every increment that changed something.
_partner = aliased(Person)
_person = bindparam("person_id")
# The partner joined by a CASE, not by an OR of two join conditions: PostgreSQL cannot
# look an OR-ed join up by index, and compared every person with the pairs found.
_PAIRS_OF = (
    select(Pair.id, _partner.email)
    .join(_partner, _partner.id == case((Pair.manager_id == _person, Pair.report_id), else_=Pair.manager_id))
    .where(or_(Pair.manager_id == _person, Pair.report_id == _person), Pair.active.is_(True))
)
# Meetings of some pairs within a range; the exact overlaps are picked out in Python.
_MEETINGS_WITHIN = select(Meeting.pair_id, Meeting.start, Meeting.end).where(
    Meeting.pair_id.in_(bindparam("pair_ids", expanding=True)),
    Meeting.start < bindparam("until"),
    Meeting.end > bindparam("since"),
)


async def affected_pairs(session: AsyncSession, person_id: int, footprint: Footprint) -> set[int]:
    """The active pairs of `person_id` that `footprint` can concern (see the module doc)."""
    rows = (await session.execute(_PAIRS_OF, {"person_id": person_id})).all()
    if footprint.wide or len(footprint.spans) > MAX_SPANS:
        return {pair_id for pair_id, _ in rows}
    found = {pair_id for pair_id, email in rows if email.lower() in footprint.people}
    others = sorted(pair_id for pair_id, _ in rows if pair_id not in found)
    if others and footprint.spans:
        since, until = min(s for s, _ in footprint.spans), max(e for _, e in footprint.spans)
        meetings = await session.execute(_MEETINGS_WITHIN, {"pair_ids": others, "since": since, "until": until})
        found |= {
            pair_id
            for pair_id, start, end in meetings
            if any(start < span_end and end > span_start for span_start, span_end in footprint.spans)
        }
    return found
