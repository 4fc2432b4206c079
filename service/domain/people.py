"""People and reporting lines: bulk upsert with validation, and pairs kept in step."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import Pair, Person, Role
from service.errors import ValidationFailed


@dataclass(frozen=True)
class PersonRow:
    email: str
    name: str
    timezone: str = "UTC"
    manager: str | None = None  # manager's email
    role: str = Role.member.value


# An IANA zone name: ASCII parts joined by "/" ("America/Argentina/Buenos_Aires", "Etc/GMT+5").
# Anything else is refused before ZoneInfo turns it into a path ("..", "", NUL, backslashes).
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")
MAX_ZONE_NAME = 64


def is_zone(name: str) -> bool:
    """Whether `name` is a time zone ZoneInfo can load. A name may also be a folder of
    the zone database ("America": IsADirectoryError), a data file that is not a zone
    ("zone.tab": ValueError) or too long for the file system (OSError): all are refused."""
    if not isinstance(name, str) or len(name) > MAX_ZONE_NAME or not _ZONE_NAME.fullmatch(name):
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def zone_error(name: str) -> str:
    return f"unknown IANA time zone {name[:MAX_ZONE_NAME]!r} (e.g. Europe/Berlin, America/New_York, UTC)"


def validate_batch(rows: list[PersonRow], existing: dict[str, str | None]) -> list[dict]:
    """Errors for a batch, each naming its row (0-based) and field.

    `existing` maps already-stored emails to their manager's email; the batch
    overrides it. Cycles are checked on the merged org chart."""
    errors: list[dict] = []
    seen: dict[str, int] = {}
    batch = {r.email for r in rows}
    roles = {r.value for r in Role}
    for i, row in enumerate(rows):
        if row.email in seen:
            errors.append({"row": i, "field": "email", "message": f"duplicate of row {seen[row.email]}"})
        seen.setdefault(row.email, i)
        if not is_zone(row.timezone):
            errors.append({"row": i, "field": "timezone", "message": zone_error(row.timezone)})
        if row.role not in roles:
            errors.append({"row": i, "field": "role", "message": f"role must be one of {sorted(roles)}"})
        if row.manager == row.email:
            errors.append({"row": i, "field": "manager", "message": "a person cannot manage themself"})
        elif row.manager and row.manager not in batch and row.manager not in existing:
            errors.append({"row": i, "field": "manager", "message": f"unknown manager {row.manager!r}"})
    chart = dict(existing)
    chart.update({r.email: r.manager for r in rows})
    for i, row in enumerate(rows):
        if _in_cycle(row.email, chart) and row.manager != row.email:
            errors.append({"row": i, "field": "manager", "message": "reporting line forms a cycle"})
    return errors


def _in_cycle(email: str, chart: dict[str, str | None]) -> bool:
    seen = {email}
    current = chart.get(email)
    while current is not None:
        if current in seen:
            return current == email
        seen.add(current)
        current = chart.get(current)
    return False


@dataclass
class ImportResult:
    created: int
    updated: int
    role_changed: list[int] = field(default_factory=list)  # ids of people whose role changed


async def import_people(session: AsyncSession, rows: list[PersonRow], now: datetime) -> ImportResult:
    """Upsert people and their reporting lines; all or nothing."""
    rows = [
        PersonRow(
            r.email.strip().lower(),
            r.name.strip(),
            r.timezone,
            r.manager.strip().lower() if r.manager else None,
            r.role,
        )
        for r in rows
    ]
    stored = {p.email: p for p in (await session.scalars(select(Person))).all()}
    by_id = {p.id: p.email for p in stored.values()}
    existing = {email: by_id.get(p.manager_id) for email, p in stored.items()}
    errors = validate_batch(rows, existing)
    if errors:
        raise ValidationFailed(f"{len({e['row'] for e in errors})} row(s) are invalid; nothing was imported", errors)
    created = updated = 0
    role_changed: list[int] = []
    for row in rows:
        person = stored.get(row.email)
        if person is None:
            person = Person(
                email=row.email, name=row.name, timezone=row.timezone, role=row.role, created_at=now, updated_at=now
            )
            session.add(person)
            stored[row.email] = person
            created += 1
        elif (person.name, person.timezone, person.role) != (row.name, row.timezone, row.role):
            if person.role != row.role:
                role_changed.append(person.id)
            person.name, person.timezone, person.role, person.updated_at = row.name, row.timezone, row.role, now
            updated += 1
    await session.flush()
    for row in rows:
        person = stored[row.email]
        manager_id = stored[row.manager].id if row.manager else None
        if person.manager_id != manager_id:
            person.manager_id = manager_id
            person.updated_at = now
            await _sync_pair(session, person.id, manager_id, now)
    await session.flush()
    return ImportResult(created=created, updated=updated, role_changed=role_changed)


async def _sync_pair(session: AsyncSession, report_id: int, manager_id: int | None, now: datetime) -> None:
    """A report has one active pair: with their current manager."""
    await session.execute(
        update(Pair)
        .where(Pair.report_id == report_id, Pair.active.is_(True))
        .values(active=False, ended_at=now, updated_at=now)
    )
    if manager_id is None:
        return
    pair = await session.scalar(select(Pair).where(Pair.manager_id == manager_id, Pair.report_id == report_id))
    if pair is None:
        session.add(
            Pair(
                manager_id=manager_id, report_id=report_id, active=True, cadence="none", created_at=now, updated_at=now
            )
        )
    else:
        pair.active, pair.ended_at, pair.updated_at = True, None, now


async def get_by_email(session: AsyncSession, email: str) -> Person | None:
    return await session.scalar(select(Person).where(Person.email == email.strip().lower()))


async def count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(Person)) or 0
