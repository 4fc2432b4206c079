"""Demo data for `make run`: a small org with 1:1s, agendas, notes and action items,
written through the same domain functions the API uses.

Idempotent: an existing demo org is kept; each run prints a fresh demo token (older
demo tokens are revoked)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import ApiToken, Pair, Person
from service.domain import actions, agenda, feedback, meetings, notes, tokens
from service.domain.access import Principal
from service.domain.people import PersonRow, get_by_email, import_people

DEMO_MANAGER = "maya.diaz@acme.test"
ORG = [
    PersonRow("ceo@acme.test", "Ada Okoye", "Europe/Berlin", None, "admin"),
    PersonRow(DEMO_MANAGER, "Maya Diaz", "Europe/Berlin", "ceo@acme.test"),
    PersonRow("li.wei@acme.test", "Li Wei", "Europe/Berlin", DEMO_MANAGER),
    PersonRow("omar.haddad@acme.test", "Omar Haddad", "Europe/London", DEMO_MANAGER),
    PersonRow("priya.sharma@acme.test", "Priya Sharma", "Asia/Kolkata", DEMO_MANAGER),
    PersonRow("hana.berg@acme.test", "Hana Berg", "Europe/Berlin", "ceo@acme.test", "hr"),
]
TALKING_POINTS = {
    "report": ["Career: what would a senior scope look like for me?", "Blocked on the data migration review"],
    "manager": ["Feedback on the design review", "Q3 priorities"],
}


@dataclass
class DemoResult:
    created: bool
    email: str
    token: str


def _principal(person: Person) -> Principal:
    return Principal(person_id=person.id, email=person.email, role=person.role)


async def load(session: AsyncSession, now: datetime) -> DemoResult:
    manager = await get_by_email(session, DEMO_MANAGER)
    created = manager is None
    if created:
        await import_people(session, ORG, now)
        manager = await get_by_email(session, DEMO_MANAGER)
        for report_email in ("li.wei@acme.test", "omar.haddad@acme.test", "priya.sharma@acme.test"):
            await _seed_pair(session, manager, await get_by_email(session, report_email), now)
    await session.execute(update(ApiToken).where(ApiToken.person_id == manager.id, ApiToken.name == "demo",
                                                 ApiToken.revoked_at.is_(None)).values(revoked_at=now))
    token = await tokens.create(session, DEMO_MANAGER, "demo", now)
    return DemoResult(created=created, email=DEMO_MANAGER, token=token)


async def _seed_pair(session: AsyncSession, manager: Person, report: Person, now: datetime) -> None:
    """Four weekly 1:1s: three past (held, with notes and ratings), one next week."""
    from sqlalchemy import select

    pair = await session.scalar(select(Pair).where(Pair.manager_id == manager.id, Pair.report_id == report.id))
    m, r = _principal(manager), _principal(report)
    await session.execute(update(Pair).where(Pair.id == pair.id).values(cadence_days=7))
    base = (now - timedelta(days=21)).replace(hour=9, minute=0, second=0, microsecond=0)
    for week in range(4):
        start = base + timedelta(days=7 * week)
        meeting = await meetings.create_meeting(session, m, pair.id, title=f"{manager.name} / {report.name} 1:1",
                                                start=start, end=start + timedelta(minutes=30),
                                                template_id=None, now=start - timedelta(days=3))
        for who, principal in (("report", r), ("manager", m)):
            for body in TALKING_POINTS[who]:
                await agenda.add_item(session, principal, meeting.id, body=body, private=False, minutes=None,
                                      now=start - timedelta(days=1))
        await agenda.add_item(session, m, meeting.id, body="Ask about workload (private)", private=True,
                              minutes=None, now=start - timedelta(days=1))
        if start < now:
            await notes.put_shared_note(session, meeting.id, m, f"Week {week + 1}: discussed priorities.",
                                        start + timedelta(minutes=30))
            await actions.create_action_item(session, meeting.id, r, start + timedelta(minutes=30),
                                             body=f"Draft the week {week + 1} plan", owner_id=report.id)
            await feedback.put_own_feedback(session, meeting.id, r, start + timedelta(hours=1),
                                            rating=4 + week % 2, comment="")
