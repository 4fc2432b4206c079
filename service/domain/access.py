"""Who may see and do what. Pure rules over a `Principal` and ids; no I/O.

- A pair is visible to its manager and its report (participants) and to admins.
  A manager's manager, HR and unrelated people do not see it.
- Meeting content (agenda, notes, action items, feedback) is for participants only.
  Admins see schedules and findings, never content.
- Private agenda items and private notes are visible to their author only, always.
- HR sees aggregates only (org insights).
- When a reporting line ends (the pair becomes inactive), its former manager keeps
  read access to the meetings before the end and changes nothing; the report keeps
  their own history as it was.
Where refusing would reveal that something exists, callers answer 404."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from service.db.models import Role


@dataclass(frozen=True, slots=True)
class Principal:
    person_id: int
    email: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin.value

    @property
    def is_hr(self) -> bool:
        return self.role == Role.hr.value


def is_participant(p: Principal, manager_id: int, report_id: int) -> bool:
    return p.person_id in (manager_id, report_id)


def can_view_pair(p: Principal, manager_id: int, report_id: int) -> bool:
    return is_participant(p, manager_id, report_id) or p.is_admin


def can_view_content(p: Principal, manager_id: int, report_id: int) -> bool:
    return is_participant(p, manager_id, report_id)


def can_view_item(p: Principal, author_id: int, private: bool) -> bool:
    """A (possibly private) agenda item or note, once content is visible."""
    return not private or author_id == p.person_id


class PairLike(Protocol):
    manager_id: int
    report_id: int
    active: bool
    ended_at: datetime | None


class Access(enum.IntEnum):
    none = 0
    read = 1
    write = 2


def content_access(p: Principal, pair: PairLike, start: datetime | None = None) -> Access:
    """What `p` may do with the pair's content; with `start`, with that meeting's."""
    if not is_participant(p, pair.manager_id, pair.report_id):
        return Access.none
    if pair.active or p.person_id != pair.manager_id:
        return Access.write
    if start is not None and pair.ended_at is not None and start >= pair.ended_at:
        return Access.none  # a meeting after the line ended is none of the former manager's business
    return Access.read
