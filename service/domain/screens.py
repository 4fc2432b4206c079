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

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, false, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from service.db.hot import HotQuery
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


def _mine(me: Any, role: str | None) -> Any:
    """SQL: pairs the caller takes part in (in `role`, if given)."""
    if role == "manager":
        return Pair.manager_id == me
    if role == "report":
        return Pair.report_id == me
    return or_(Pair.manager_id == me, Pair.report_id == me)


# The week view is a hot read, like the meeting detail: one Core statement per filter
# shape (which of from/to/status/role/cursor are given), built and compiled once, with
# every value a bound parameter (`HotQuery`).
_meetings, _pairs, _agenda, _actions, _feedback = (
    Meeting.__table__,
    Pair.__table__,
    AgendaItem.__table__,
    ActionItem.__table__,
    Feedback.__table__,
)
_other = Person.__table__.alias("other")


@functools.cache
def _week_query(has_from: bool, has_to: bool, has_status: bool, role: str | None, has_after: bool) -> HotQuery:
    me = bindparam("me")
    m, p = _meetings, _pairs
    agenda_items = (
        select(func.count()).where(_agenda.c.meeting_id == m.c.id, visible_to(me)).correlate(m).scalar_subquery()
    )
    has_shared = exists().where(_agenda.c.meeting_id == m.c.id, _agenda.c.private == false()).correlate(m)
    open_actions = (
        select(func.count())
        .where(_actions.c.pair_id == m.c.pair_id, _actions.c.done_at.is_(None))
        .correlate(m)
        .scalar_subquery()
    )
    rated = exists().where(_feedback.c.meeting_id == m.c.id, _feedback.c.person_id == me).correlate(m)
    mine = {
        "manager": p.c.manager_id == me,
        "report": p.c.report_id == me,
        None: or_(p.c.manager_id == me, p.c.report_id == me),
    }[role]
    # a meeting after the line ended is none of its former manager's business (`access.content_access`)
    after_end = and_(p.c.manager_id == me, p.c.active == false(), p.c.ended_at.is_not(None), m.c.start >= p.c.ended_at)
    query = (
        select(
            m.c.id,
            m.c.pair_id,
            m.c.start,
            m.c.end,
            m.c.status,
            m.c.title,
            p.c.manager_id,
            _other.c.id.label("other_id"),
            _other.c.name.label("other_name"),
            _other.c.email.label("other_email"),
            _other.c.timezone.label("other_timezone"),
            agenda_items.label("agenda_items"),
            has_shared.label("has_shared"),
            open_actions.label("open_action_items"),
            rated.label("rated_by_me"),
        )
        .join(p, p.c.id == m.c.pair_id)
        .join(_other, _other.c.id == case((p.c.manager_id == me, p.c.report_id), else_=p.c.manager_id))
        .where(mine, not_(after_end))
        .order_by(m.c.start, m.c.id)
        .limit(bindparam("limit"))
    )
    if has_from:
        query = query.where(m.c.start >= bindparam("start_from"))
    if has_to:
        query = query.where(m.c.start < bindparam("start_to"))
    if has_status:
        query = query.where(m.c.status == bindparam("status"))
    if has_after:
        after_start, after_id = bindparam("after_start"), bindparam("after_id")
        query = query.where(or_(m.c.start > after_start, and_(m.c.start == after_start, m.c.id > after_id)))
    return HotQuery(query)


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
    query = _week_query(
        filters.start_from is not None,
        filters.start_to is not None,
        filters.status is not None,
        filters.role,
        bool(after),
    )
    params: dict[str, Any] = {"me": me, "limit": limit}
    if filters.start_from is not None:
        params["start_from"] = filters.start_from
    if filters.start_to is not None:
        params["start_to"] = filters.start_to
    if filters.status is not None:
        params["status"] = filters.status
    if after is not None:
        params["after_start"], params["after_id"] = after
    rows = await query.all(session, **params)
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
