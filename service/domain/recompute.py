"""Run the detector over the stored calendar history and persist what it
concludes: each pair's cadence, its sync-created meetings (updated in place, so
agendas, notes and action items stay attached across reschedules and full
resyncs) and its findings (stable keys: recomputing is idempotent; a finding
that stops being true is resolved, never duplicated)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from service.db.models import Calendar, EventRevision, Finding, Meeting, MeetingStatus, Pair, Person
from service.domain import carryover
from service.domain.calendar import CalendarHistory, EventChange, OrgPerson, Policy
from service.domain.detection import Detection, PairDetection, detect_pair, people_index
from service.domain.detection import Finding as DetectedFinding
from service.domain.detection import Meeting as DetectedMeeting
from service.db.snapshots import from_json

# Only occurrences this recent are re-judged: older meetings and findings keep
# the state they had when they left the detector's window.
WINDOW = timedelta(days=90)


@dataclass(frozen=True)
class Org:
    people: list[OrgPerson]
    pairs: list[tuple[Pair, str, str]]   # active pair rows with manager and report emails


async def load_org(session: AsyncSession, person_ids: set[int] | None = None) -> Org:
    manager = aliased(Person)
    people = (await session.execute(select(Person.email, Person.name, Person.timezone, manager.email)
                                    .outerjoin(manager, manager.id == Person.manager_id))).all()
    query = (select(Pair, manager.email, Person.email)
             .join(manager, manager.id == Pair.manager_id).join(Person, Person.id == Pair.report_id)
             .where(Pair.active.is_(True), Person.manager_id == Pair.manager_id).order_by(Pair.id))
    if person_ids is not None:
        query = query.where(Pair.manager_id.in_(person_ids) | Pair.report_id.in_(person_ids))
    pairs = [(row[0], row[1], row[2]) for row in (await session.execute(query)).all()]
    return Org([OrgPerson(email=e, manager=m, timezone=tz, name=n) for e, n, tz, m in people], pairs)


async def load_history(session: AsyncSession, emails: Iterable[str]) -> CalendarHistory:
    history = CalendarHistory()
    rows = await session.stream(
        select(Person.email, EventRevision.event_id, EventRevision.changed_at, EventRevision.snapshot)
        .join(Calendar, Calendar.id == EventRevision.calendar_id).join(Person, Person.id == Calendar.person_id)
        .where(Person.email.in_(sorted(set(emails)))).order_by(EventRevision.id)
        .execution_options(yield_per=5000))
    async for email, event_id, changed_at, snapshot in rows:
        history.add(EventChange(calendar=email, event_id=event_id, changed_at=changed_at,
                                snapshot=from_json(snapshot) if snapshot else None))
    return history


async def recompute(session: AsyncSession, now: datetime, person_ids: set[int] | None = None) -> Detection:
    """Detect and persist for every active pair involving `person_ids` (all if None)."""
    org = await load_org(session, person_ids)
    history = await load_history(session, (email for _, m, r in org.pairs for email in (m, r)))
    index = people_index(org.people)
    results = []
    for pair, manager_email, report_email in org.pairs:
        policy = Policy(manager_email, report_email, pair.cadence_days) if pair.cadence_days else None
        result = detect_pair(history, manager_email, report_email, index, policy, now)
        await persist(session, pair, result, now)
        results.append(result)
    await session.flush()
    return Detection.combine(results)


async def persist(session: AsyncSession, pair: Pair, result: PairDetection, now: datetime) -> None:
    summary = result.pair
    values = {"cadence": summary.cadence, "interval_days": summary.interval_days,
              "last_held": summary.last_held, "next_scheduled": summary.next_scheduled}
    if any(getattr(pair, k) != v for k, v in values.items()):
        for key, value in values.items():
            setattr(pair, key, value)
        pair.updated_at = now
    meetings = await _persist_meetings(session, pair, result.meetings, now)
    await _persist_findings(session, pair, result.findings, meetings, now)


def _source(m: DetectedMeeting) -> str:
    return m.ical_uid or m.event_id or ""


async def _persist_meetings(session: AsyncSession, pair: Pair, detected: tuple[DetectedMeeting, ...],
                            now: datetime) -> dict[datetime, Meeting]:
    stored = {(m.source_uid, m.original_start): m for m in (await session.scalars(
        select(Meeting).where(Meeting.pair_id == pair.id, Meeting.source_uid.is_not(None)))).all()}
    finished: list[Meeting] = []
    by_start: dict[datetime, Meeting] = {}
    for m in detected:
        row = stored.pop((_source(m), m.original_start), None)
        if row is None:
            row = Meeting(pair_id=pair.id, source_uid=_source(m), original_start=m.original_start,
                          created_at=now, updated_at=now, title=m.title or "1:1")
            session.add(row)
        was = row.status
        changed = _assign(row, title=m.title or row.title or "1:1", start=m.start, end=m.end, status=m.status,
                          source_series_id=m.series_id, cancelled_at=m.cancelled_at)
        if changed:
            row.updated_at = now
        if m.status in (MeetingStatus.cancelled.value, MeetingStatus.held.value) and was != m.status:
            finished.append(row)
        by_start[m.original_start] = row
    for (_uid, start), row in stored.items():
        # A slot the calendar no longer produces (series re-timed or ended): it is
        # not an occurrence any more. Keep the row (it may hold notes) as cancelled.
        if start >= now - WINDOW and row.status == MeetingStatus.scheduled.value:
            row.status, row.cancelled_at, row.updated_at = MeetingStatus.cancelled.value, now, now
            finished.append(row)
    await session.flush()
    for row in sorted(finished, key=lambda r: r.start):
        await carryover.carry_over(session, row.id, now)
    return by_start


def _assign(row: Meeting, **values) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


async def _persist_findings(session: AsyncSession, pair: Pair, detected: tuple[DetectedFinding, ...],
                            meetings: dict[datetime, Meeting], now: datetime) -> None:
    stored = {f.key: f for f in (await session.scalars(select(Finding).where(Finding.pair_id == pair.id))).all()}
    for f in detected:
        details = {**f.details, **_key_fields(f), "evidence": list(f.evidence)}
        meeting = meetings.get(f.occurrence_start) if f.occurrence_start else None
        row = stored.pop(f.key, None)
        if row is None:
            session.add(Finding(pair_id=pair.id, meeting_id=meeting.id if meeting else None, type=f.type,
                                key=f.key, details=details, detected_at=now))
            continue
        if row.resolved_at is not None:  # true again: reopen rather than duplicate
            row.resolved_at = None
        if row.details != details:
            row.details = details
    for row in stored.values():
        moment = _moment(row)
        if row.resolved_at is None and (moment is None or moment >= now - WINDOW):
            row.resolved_at = now


def _key_fields(f: DetectedFinding) -> dict[str, str]:
    out = {}
    for name in ("occurrence_start", "since", "by"):
        value = getattr(f, name)
        if value is not None:
            out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _moment(row: Finding) -> datetime | None:
    value = (row.details or {}).get("occurrence_start") or (row.details or {}).get("since")
    return datetime.fromisoformat(value) if value else None
