"""Agenda items (talking points) of a meeting.

Ordering. The stored `position` is an internal sort key; an agenda is ordered by
(`position`, report's items before the manager's, `id`):

- Default order: items are created with `position = 0`, so the key falls through to
  "the report's items first (the employee sets the agenda), then the manager's, each
  in creation order".
- Explicit order: moving an item (`move`) renumbers *every* item of the meeting
  1..n in the resulting order, which then overrides the default. Once any position
  is above 0 the agenda is "ordered" and new items get `max + 1`, i.e. they are
  appended; before that they get 0 and join their author's group.

What callers see. The API never shows the stored key: an item's `position` in a
response is its 0-based index in the agenda *as the caller sees it* (shared items
plus the caller's own private ones). Gaps left by the other participant's private
items would otherwise reveal that those exist. A move is expressed in the same
terms: "put this item at index k of my agenda".

Rules: the pair's participants see and add items; private items are visible to
their author only (404 to anyone else); `body`, `private` and `minutes` are changed
by the author only, `done` and `position` by either participant (403 otherwise);
only the author deletes an item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import AgendaItem, Meeting, MeetingStatus, Pair
from service.domain.access import Access, Principal, can_view_item, content_access
from service.domain.content import require
from service.domain.pairs import load_meeting
from service.errors import Conflict, Forbidden, NotFound

AUTHOR_ONLY = frozenset({"body", "private", "minutes"})
EITHER_PARTICIPANT = frozenset({"done", "position"})


@dataclass(frozen=True, slots=True)
class AgendaEntry:
    """An agenda item as one viewer sees it: `position` is its index in their agenda."""

    id: int
    meeting_id: int
    author_id: int
    body: str
    private: bool
    position: int
    done: bool
    minutes: int | None
    carried_from_id: int | None
    updated_at: datetime

    @classmethod
    def of(cls, item: AgendaItem, index: int) -> AgendaEntry:
        return cls(
            id=item.id,
            meeting_id=item.meeting_id,
            author_id=item.author_id,
            body=item.body,
            private=item.private,
            position=index,
            done=item.done,
            minutes=item.minutes,
            carried_from_id=item.carried_from_id,
            updated_at=item.updated_at,
        )


_columns = AgendaItem.__table__.c  # plain table columns: usable in ORM and in Core statements


def ordering(report_id: Any) -> tuple[Any, ...]:
    """SQL ORDER BY for a meeting's agenda (see the module docstring); `report_id` may be
    a value or a bound parameter."""
    return (_columns.position, case((_columns.author_id == report_id, 0), else_=1), _columns.id)


def visible_to(person_id: Any) -> Any:
    """SQL filter: shared items and `person_id`'s own private ones."""
    return or_(_columns.private == false(), _columns.author_id == person_id)


async def next_position(session: AsyncSession, meeting_id: int) -> int:
    """Sort key for an item added now: 0 while the agenda has its default order, else last."""
    top = await session.scalar(select(func.max(AgendaItem.position)).where(AgendaItem.meeting_id == meeting_id))
    return top + 1 if top else 0


async def _ordered(
    session: AsyncSession, meeting_id: int, report_id: int, viewer_id: int | None = None
) -> list[AgendaItem]:
    query = select(AgendaItem).where(AgendaItem.meeting_id == meeting_id).order_by(*ordering(report_id))
    if viewer_id is not None:
        query = query.where(visible_to(viewer_id))
    return list((await session.scalars(query)).all())


async def visible_agenda(session: AsyncSession, meeting_id: int, report_id: int, viewer_id: int) -> list[AgendaEntry]:
    items = await _ordered(session, meeting_id, report_id, viewer_id)
    return [AgendaEntry.of(item, i) for i, item in enumerate(items)]


async def _entry(session: AsyncSession, item: AgendaItem, report_id: int, viewer_id: int) -> AgendaEntry:
    for entry in await visible_agenda(session, item.meeting_id, report_id, viewer_id):
        if entry.id == item.id:
            return entry
    raise NotFound(f"agenda item {item.id} not found")  # pragma: no cover - the viewer just saw it


async def list_agenda(
    session: AsyncSession, principal: Principal, meeting_id: int, *, done: bool | None = None
) -> list[AgendaEntry]:
    """The caller's view of a meeting's agenda, in order (participants only)."""
    meeting, pair = await load_meeting(session, principal, meeting_id, content=True)
    entries = await visible_agenda(session, meeting.id, pair.report_id, principal.person_id)
    return [e for e in entries if done is None or e.done is done]


async def add_item(
    session: AsyncSession,
    principal: Principal,
    meeting_id: int,
    *,
    body: str,
    private: bool,
    minutes: int | None,
    now: datetime,
) -> AgendaEntry:
    meeting, pair = await load_meeting(session, principal, meeting_id, content=True, lock=True, change=True)
    if meeting.status == MeetingStatus.cancelled.value:
        raise Conflict("the meeting is cancelled; add the point to the next one")
    item = AgendaItem(
        meeting_id=meeting.id,
        author_id=principal.person_id,
        body=body,
        private=private,
        minutes=minutes,
        done=False,
        position=await next_position(session, meeting.id),
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    await session.flush()
    return await _entry(session, item, pair.report_id, principal.person_id)


async def _load_item(session: AsyncSession, principal: Principal, item_id: int) -> tuple[AgendaItem, Pair]:
    """The item and its pair, to change, locking the meeting row (items are reordered
    under it). 404 unless the caller is a participant who may see the item."""
    row = (
        await session.execute(
            select(AgendaItem, Pair)
            .join(Meeting, Meeting.id == AgendaItem.meeting_id)
            .join(Pair, Pair.id == Meeting.pair_id)
            .where(AgendaItem.id == item_id)
            .with_for_update(of=Meeting)
        )
    ).first()
    if row is None:
        raise NotFound(f"agenda item {item_id} not found")
    item, pair = row.AgendaItem, row.Pair
    access = content_access(principal, pair) if can_view_item(principal, item.author_id, item.private) else None
    require(access or Access.none, True, f"agenda item {item_id} not found")
    return item, pair


async def update_item(
    session: AsyncSession, principal: Principal, item_id: int, changes: dict[str, Any], now: datetime
) -> AgendaEntry:
    """Apply `changes` (a subset of body, private, minutes, done, position). All or nothing:
    one field the caller may not change refuses the whole update (403)."""
    item, pair = await _load_item(session, principal, item_id)
    if AUTHOR_ONLY & changes.keys() and item.author_id != principal.person_id:
        raise Forbidden("only the item's author may change its body, privacy or minutes")
    changed = False
    for field in (AUTHOR_ONLY | {"done"}) & changes.keys():
        if getattr(item, field) != changes[field]:
            setattr(item, field, changes[field])
            changed = True
    if "position" in changes:
        await session.flush()  # a privacy change above alters who sees what
        changed = await _move(session, item, pair.report_id, principal.person_id, changes["position"]) or changed
    if changed:
        item.updated_at = now
        await session.flush()
    return await _entry(session, item, pair.report_id, principal.person_id)


async def _move(session: AsyncSession, item: AgendaItem, report_id: int, viewer_id: int, index: int) -> bool:
    """Put `item` at `index` of `viewer_id`'s agenda (past the end = last) and renumber
    the whole meeting 1..n. Items the viewer cannot see keep their place relative to
    the items around them. Returns whether the item's place changed."""
    everything = await _ordered(session, item.meeting_id, report_id)
    visible = [i for i in everything if not i.private or i.author_id == viewer_id]
    others = [i for i in visible if i is not item]
    if min(index, len(others)) == visible.index(item):
        return False  # already there: keep the default order if the agenda still has it
    rest = [i for i in everything if i is not item]
    rest.insert(rest.index(others[index]) if index < len(others) else len(rest), item)
    for n, each in enumerate(rest, start=1):
        if each.position != n:
            each.position = n
    return True


async def delete_item(session: AsyncSession, principal: Principal, item_id: int, now: datetime) -> None:
    """Delete an item (its author only). Deleting a carried copy resolves the point: its
    source is marked done, so carry-over never brings it back."""
    item, _pair = await _load_item(session, principal, item_id)
    if item.author_id != principal.person_id:
        raise Forbidden("only the item's author may delete it")
    if item.carried_from_id is not None:
        source = await session.get(AgendaItem, item.carried_from_id)
        if source is not None and not source.done:
            source.done, source.updated_at = True, now
    await session.delete(item)
    await session.flush()
