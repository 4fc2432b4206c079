"""Who may see and do what. Pure rules over a `Principal` and ids; no I/O.

- A pair is visible to its manager and its report (participants) and to admins.
  A manager's manager, HR and unrelated people do not see it.
- Meeting content (agenda, notes, action items, feedback) is for participants only.
  Admins see schedules and findings, never content.
- Private agenda items and private notes are visible to their author only, always.
- HR sees aggregates only (org insights).
Where refusing would reveal that something exists, callers answer 404."""

from __future__ import annotations

from dataclasses import dataclass

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
