"""Reading and acknowledging findings (detection writes them elsewhere).

A finding is visible to whoever can see its pair (`access.can_view_pair`): the
pair's participants and admins. The HR role grants nothing here. Invisible
findings answer 404, like missing ones. Its details are shown as the viewer may
see them (`evidence.for_viewer`): titles and ids of their own calendar's events
only, busy time for everything else."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import Finding, Pair
from service.domain.access import Principal, can_view_pair
from service.domain.evidence import Viewer, for_viewer
from service.errors import NotFound


class FindingType(str, enum.Enum):
    cancelled_without_reschedule = "cancelled_without_reschedule"
    late_reschedule = "late_reschedule"
    shortened = "shortened"
    declined = "declined"
    double_booked = "double_booked"
    cadence_gap = "cadence_gap"
    no_upcoming = "no_upcoming"


class FindingStatus(str, enum.Enum):
    open = "open"  # resolved_at is null: still true
    resolved = "resolved"
    all = "all"


@dataclass(frozen=True, slots=True)
class FindingView:
    """A finding with its pair's people."""

    id: int
    pair_id: int
    meeting_id: int | None
    type: str
    key: str
    details: dict[str, Any]
    detected_at: datetime
    resolved_at: datetime | None
    acknowledged_by: int | None
    acknowledged_at: datetime | None
    manager_id: int
    report_id: int


@dataclass(frozen=True, slots=True)
class FindingFilter:
    pair_id: int | None = None
    manager_id: int | None = None
    report_id: int | None = None
    type: FindingType | None = None
    status: FindingStatus = FindingStatus.open
    acknowledged: bool | None = None


def _select() -> Select:
    return select(Finding, Pair.manager_id, Pair.report_id).join(Pair, Pair.id == Finding.pair_id)


def _visible_to(query: Select, principal: Principal) -> Select:
    """`can_view_pair` as SQL."""
    if principal.is_admin:
        return query
    return query.where(or_(Pair.manager_id == principal.person_id, Pair.report_id == principal.person_id))


def _view(row: Any, principal: Principal) -> FindingView:
    f: Finding = row.Finding
    return FindingView(
        id=f.id,
        pair_id=f.pair_id,
        meeting_id=f.meeting_id,
        type=f.type,
        key=f.key,
        details=for_viewer(f.details or {}, Viewer.of(principal, row.manager_id, row.report_id)),
        detected_at=f.detected_at,
        resolved_at=f.resolved_at,
        acknowledged_by=f.acknowledged_by,
        acknowledged_at=f.acknowledged_at,
        manager_id=row.manager_id,
        report_id=row.report_id,
    )


async def list_findings(
    session: AsyncSession,
    principal: Principal,
    filters: FindingFilter,
    *,
    after: tuple[datetime, int] | None = None,
    limit: int = 50,
) -> list[FindingView]:
    """Up to `limit + 1` visible findings, newest first: (detected_at desc, id desc).
    `after` is the (detected_at, id) of the last finding of the previous page."""
    query = _visible_to(_select(), principal)
    if filters.pair_id is not None:
        query = query.where(Finding.pair_id == filters.pair_id)
    if filters.manager_id is not None:
        query = query.where(Pair.manager_id == filters.manager_id)
    if filters.report_id is not None:
        query = query.where(Pair.report_id == filters.report_id)
    if filters.type is not None:
        query = query.where(Finding.type == filters.type.value)
    if filters.status is FindingStatus.open:
        query = query.where(Finding.resolved_at.is_(None))
    elif filters.status is FindingStatus.resolved:
        query = query.where(Finding.resolved_at.is_not(None))
    if filters.acknowledged is not None:
        query = query.where(
            Finding.acknowledged_at.is_not(None) if filters.acknowledged else Finding.acknowledged_at.is_(None)
        )
    if after is not None:
        at, last_id = after
        query = query.where(or_(Finding.detected_at < at, and_(Finding.detected_at == at, Finding.id < last_id)))
    query = query.order_by(Finding.detected_at.desc(), Finding.id.desc()).limit(limit + 1)
    return [_view(row, principal) for row in (await session.execute(query)).all()]


async def get_finding(session: AsyncSession, finding_id: int, principal: Principal) -> FindingView:
    row = (
        await session.execute(_select().where(Finding.id == finding_id).execution_options(populate_existing=True))
    ).first()
    if row is None or not can_view_pair(principal, row.manager_id, row.report_id):
        raise NotFound(f"finding {finding_id} not found")
    return _view(row, principal)


async def acknowledge(session: AsyncSession, finding_id: int, principal: Principal, now: datetime) -> FindingView:
    """Mark a finding seen. Idempotent: the first acknowledgement (who, when) is kept."""
    finding = await get_finding(session, finding_id, principal)
    if finding.acknowledged_at is None:
        # Conditional, so two people acknowledging at once cannot overwrite each other.
        await session.execute(
            update(Finding)
            .where(Finding.id == finding_id, Finding.acknowledged_at.is_(None))
            .values(acknowledged_by=principal.person_id, acknowledged_at=now)
            .execution_options(synchronize_session=False)
        )
        finding = await get_finding(session, finding_id, principal)
    return finding
