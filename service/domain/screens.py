"""Read models for a 1:1 app's screens: each screen in one or two calls, each call a
fixed number of queries whatever the number of pairs (issue 25).

- `my_meetings`: the caller's meetings across their pairs (as manager or report),
  each with the other participant, agenda counts as the caller sees them (shared
  items plus their own private ones; `agenda_empty` looks at shared items only, so
  it reveals nothing private), the pair's open action items and whether the caller
  rated it. One statement (joins and correlated counts).
- `pair_extras`: the people of a page of pairs and their open findings by type. Two
  statements.
- `my_action_items`: the action items of every pair whose content the caller may
  see (`access.content_access`), with their owners. One statement.

Only the caller's own pairs are read here: an admin, who sees every pair's schedule,
still gets only their own meetings and action items (content is for participants)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, false, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from service.db.models import ActionItem, AgendaItem, Feedback, Finding, Meeting, Pair, Person
from service.domain.access import Principal
from service.domain.actions import ActionStatus
from service.domain.agenda import visible_to
from service.errors import ValidationFailed


@dataclass(frozen=True, slots=True)
class PersonSummary:
    id: int
    name: str
    email: str
    timezone: str


def _summary(person: Any) -> PersonSummary:
    return PersonSummary(id=person.id, name=person.name, email=person.email, timezone=person.timezone)


@dataclass(frozen=True, slots=True)
class MyMeeting:
    id: int
    pair_id: int
    role: str  # the caller's role in the pair: "manager" | "report"
    other: PersonSummary
    start: datetime
    end: datetime
    status: str
    title: str
    agenda_items: int
    agenda_empty: bool
    open_action_items: int
    rated_by_me: bool


@dataclass(frozen=True)
class MyMeetingFilter:
    start_from: datetime | None = None  # inclusive
    start_to: datetime | None = None  # exclusive
    status: str | None = None
    role: str | None = None  # "manager" | "report"


def _mine(me: int, role: str | None) -> Any:
    """SQL: pairs the caller takes part in (in `role`, if given)."""
    if role == "manager":
        return Pair.manager_id == me
    if role == "report":
        return Pair.report_id == me
    return or_(Pair.manager_id == me, Pair.report_id == me)


def _former_manager_after_end(me: int) -> Any:
    """SQL: a meeting after the line ended, which its former manager may not see
    (`access.content_access` as a filter)."""
    return and_(
        Pair.manager_id == me, Pair.active == false(), Pair.ended_at.is_not(None), Meeting.start >= Pair.ended_at
    )


async def my_meetings(
    session: AsyncSession,
    principal: Principal,
    filters: MyMeetingFilter,
    *,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[MyMeeting]:
    """Up to `limit` of the caller's meetings ordered by (start, id) after the `after` key."""
    if filters.start_from and filters.start_to and filters.start_to <= filters.start_from:
        raise ValidationFailed("empty time range", [{"field": "to", "message": "`to` must be after `from`"}])
    me = principal.person_id
    other = aliased(Person)
    agenda_items = (
        select(func.count())
        .where(AgendaItem.meeting_id == Meeting.id, visible_to(me))
        .correlate(Meeting)
        .scalar_subquery()
    )
    has_shared = exists().where(AgendaItem.meeting_id == Meeting.id, AgendaItem.private == false()).correlate(Meeting)
    open_actions = (
        select(func.count())
        .where(ActionItem.pair_id == Meeting.pair_id, ActionItem.done_at.is_(None))
        .correlate(Meeting)
        .scalar_subquery()
    )
    rated = exists().where(Feedback.meeting_id == Meeting.id, Feedback.person_id == me).correlate(Meeting)
    query = (
        select(
            Meeting.id,
            Meeting.pair_id,
            Meeting.start,
            Meeting.end,
            Meeting.status,
            Meeting.title,
            Pair.manager_id,
            other.id.label("other_id"),
            other.name.label("other_name"),
            other.email.label("other_email"),
            other.timezone.label("other_timezone"),
            agenda_items.label("agenda_items"),
            has_shared.label("has_shared"),
            open_actions.label("open_action_items"),
            rated.label("rated_by_me"),
        )
        .join(Pair, Pair.id == Meeting.pair_id)
        .join(other, other.id == _other_id(me))
        .where(_mine(me, filters.role), not_(_former_manager_after_end(me)))
        .order_by(Meeting.start, Meeting.id)
        .limit(limit)
    )
    if filters.start_from is not None:
        query = query.where(Meeting.start >= filters.start_from)
    if filters.start_to is not None:
        query = query.where(Meeting.start < filters.start_to)
    if filters.status is not None:
        query = query.where(Meeting.status == filters.status)
    if after is not None:
        start, last_id = after
        query = query.where(or_(Meeting.start > start, and_(Meeting.start == start, Meeting.id > last_id)))
    rows = (await session.execute(query)).all()
    return [
        MyMeeting(
            id=r.id,
            pair_id=r.pair_id,
            role="manager" if r.manager_id == me else "report",
            other=PersonSummary(id=r.other_id, name=r.other_name, email=r.other_email, timezone=r.other_timezone),
            start=r.start,
            end=r.end,
            status=r.status,
            title=r.title,
            agenda_items=r.agenda_items,
            agenda_empty=not r.has_shared,
            open_action_items=r.open_action_items,
            rated_by_me=bool(r.rated_by_me),
        )
        for r in rows
    ]


def _other_id(me: int) -> Any:
    """SQL: the pair's participant who is not `me`."""
    return case((Pair.manager_id == me, Pair.report_id), else_=Pair.manager_id)


@dataclass(frozen=True, slots=True)
class PairExtras:
    manager: PersonSummary
    report: PersonSummary
    open_findings: dict[str, int]


async def pair_extras(session: AsyncSession, pairs: list[Pair]) -> dict[int, PairExtras]:
    """Per pair (of a page the caller may see, so their findings are visible to them,
    `findings._visible_to`): both people and the open findings counted by type."""
    if not pairs:
        return {}
    person_ids = {p.manager_id for p in pairs} | {p.report_id for p in pairs}
    people = {
        row.id: _summary(row)
        for row in (
            await session.execute(
                select(Person.id, Person.name, Person.email, Person.timezone).where(Person.id.in_(person_ids))
            )
        ).all()
    }
    counts: dict[int, dict[str, int]] = {p.id: {} for p in pairs}
    rows = await session.execute(
        select(Finding.pair_id, Finding.type, func.count())
        .where(Finding.pair_id.in_(counts), Finding.resolved_at.is_(None))
        .group_by(Finding.pair_id, Finding.type)
        .order_by(Finding.pair_id, Finding.type)
    )
    for pair_id, type_, count in rows.all():
        counts[pair_id][type_] = count
    return {
        p.id: PairExtras(manager=people[p.manager_id], report=people[p.report_id], open_findings=counts[p.id])
        for p in pairs
    }


@dataclass(frozen=True, slots=True)
class MyActionItem:
    id: int
    pair_id: int
    meeting_id: int | None
    owner_id: int
    owner: PersonSummary
    body: str
    due_date: Any
    done_at: datetime | None
    created_at: datetime
    updated_at: datetime


async def my_action_items(
    session: AsyncSession, principal: Principal, status: ActionStatus, *, after_id: int | None, limit: int
) -> list[MyActionItem]:
    """Up to `limit` action items of the caller's pairs, in id order: what
    `GET /v1/pairs/{id}/action-items` shows them, pair by pair (participants only; a
    former manager keeps reading the pair's items)."""
    me = principal.person_id
    owner = aliased(Person)
    query = (
        select(ActionItem, owner.id, owner.name, owner.email, owner.timezone)
        .join(Pair, Pair.id == ActionItem.pair_id)
        .join(owner, owner.id == ActionItem.owner_id)
        .where(_mine(me, None))
        .order_by(ActionItem.id)
        .limit(limit)
    )
    if status is ActionStatus.open:
        query = query.where(ActionItem.done_at.is_(None))
    elif status is ActionStatus.done:
        query = query.where(ActionItem.done_at.is_not(None))
    if after_id is not None:
        query = query.where(ActionItem.id > after_id)
    out = []
    for item, owner_id, name, email, timezone in (await session.execute(query)).all():
        out.append(
            MyActionItem(
                id=item.id,
                pair_id=item.pair_id,
                meeting_id=item.meeting_id,
                owner_id=item.owner_id,
                owner=PersonSummary(id=owner_id, name=name, email=email, timezone=timezone),
                body=item.body,
                due_date=item.due_date,
                done_at=item.done_at,
                created_at=item.created_at,
                updated_at=item.updated_at,
            )
        )
    return out
