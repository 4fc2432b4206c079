"""Demo data for `make run`, through the real sync path.

The bundled scenario (`sandbox/scenarios/demo.json`: eight people on Google and
Outlook, three months of 1:1s with a clean series or two and one story per
finding type) is replayed into the service's own database exactly as `oneonone
replay` does it: fake Google and Graph servers on loopback, push notifications
to the webhooks, the sync worker, the detector, on the scenario's clock (dates
are fixed: the data is as of the scenario's `now`, Friday 2026-11-20 16:00 UTC).
So `/v1/findings` shows what the detector concluded, each with its evidence.
Then people's content is added on top of the synced meetings through the same
domain functions the API uses (talking points, notes, action items, ratings),
Ada becomes an admin and Hana HR, and the demo calendars are marked
disconnected (their fake provider is gone once the replay ends). The live
sandbox (`oneonone serve --sandbox`, service.live) adds the same content and
roles but keeps the calendars connected to fakes that keep running.

Idempotent: an existing demo org is kept as it is; each run prints a fresh demo
token (older demo tokens are revoked)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import (
    ApiToken,
    Calendar,
    CalendarConnection,
    Finding,
    Meeting,
    MeetingStatus,
    Pair,
    Person,
    PushChannel,
)
from service.domain import actions, agenda, api_tokens, feedback, notes
from service.domain.access import Principal
from service.domain.people import get_by_email

SCENARIO = Path(__file__).parent / "sandbox" / "scenarios" / "demo.json"
DEMO_MANAGER = "maya.diaz@acme.test"
ROLES = {"ada.okoye@acme.test": "admin", "hana.fischer@acme.test": "hr"}
TALKING_POINTS = {
    "report": ["Career: what would a senior scope look like for me?", "Blocked on the data migration review"],
    "manager": ["Feedback on the design review", "Q1 priorities"],
}


@dataclass
class DemoResult:
    created: bool
    email: str
    token: str
    as_of: datetime | None = None  # the scenario's `now`: what the data describes
    findings: int = 0  # open findings


def database_url(session: AsyncSession) -> str:
    return session.bind.url.render_as_string(hide_password=False)


async def load(session: AsyncSession, now: datetime) -> DemoResult:
    """Load the demo org into `session`'s database unless it is there, then issue a
    demo token for Maya (manager of three). The replay writes through its own
    connections; `session` holds no transaction meanwhile (SQLite: no lock)."""
    from service.replay.validate import instant
    from service.replay.validate import load as load_scenario

    scenario = load_scenario(SCENARIO)
    as_of = instant(scenario["now"], "now")
    created = await get_by_email(session, DEMO_MANAGER) is None
    if created:
        await session.rollback()  # end the read: the replay's writers must not wait for it
        await replay(database_url(session), scenario)
        await add_content(session, as_of)
        await set_roles(session, now)
        await _disconnect(session, [p["email"] for p in scenario["org"]["people"]], now)
    token = await issue_token(session, now)
    open_findings = await session.scalar(select(func.count()).select_from(Finding).where(Finding.resolved_at.is_(None)))
    return DemoResult(created=created, email=DEMO_MANAGER, token=token, as_of=as_of, findings=open_findings)


async def issue_token(session: AsyncSession, now: datetime) -> str:
    """A fresh demo token for Maya; her older demo tokens are revoked."""
    manager = await get_by_email(session, DEMO_MANAGER)
    await session.execute(
        update(ApiToken)
        .where(ApiToken.person_id == manager.id, ApiToken.name == "demo", ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return await api_tokens.create(session, DEMO_MANAGER, "demo", now)


async def replay(url: str, scenario: dict) -> None:
    """The scenario through the production pipeline, into the database at `url`."""
    from service.replay.harness import Harness

    async with Harness(scenario, database_url=url, keep=True) as harness:
        await harness.run()


def _principal(person: Person) -> Principal:
    return Principal(person_id=person.id, email=person.email, role=person.role)


async def add_content(session: AsyncSession, as_of: datetime) -> None:
    """Maya's 1:1s with her reports get what people write: talking points on the
    next one, notes, action items and ratings on the last ones held."""
    manager = await get_by_email(session, DEMO_MANAGER)
    m = _principal(manager)
    pairs = (
        await session.execute(
            select(Pair, Person)
            .join(Person, Person.id == Pair.report_id)
            .where(Pair.manager_id == manager.id)
            .order_by(Pair.id)
        )
    ).all()
    for n, (pair, report) in enumerate(pairs):
        r = _principal(report)
        rows = (await session.scalars(select(Meeting).where(Meeting.pair_id == pair.id).order_by(Meeting.start))).all()
        held = [row for row in rows if row.status == MeetingStatus.held.value][-2:]
        upcoming = next(
            (row for row in rows if row.status == MeetingStatus.scheduled.value and row.start > as_of), None
        )
        for i, meeting in enumerate(held):
            after = meeting.end + timedelta(minutes=5)
            await notes.put_shared_note(
                session, meeting.id, m, f"Discussed {report.name.split()[0]}'s priorities and blockers.", after
            )
            item = await actions.create_action_item(
                session,
                meeting.id,
                r,
                after,
                body="Draft the quarter plan" if i == 0 else "Share the migration review notes",
                owner_id=report.id,
            )
            if i == 0:
                await actions.update_action_item(session, item.id, r, after + timedelta(days=2), {"done": True})
            await feedback.put_own_feedback(
                session, meeting.id, r, after + timedelta(minutes=30), rating=4 + (n + i) % 2, comment=""
            )
        if upcoming is not None:
            for who, principal in (("report", r), ("manager", m)):
                for body in TALKING_POINTS[who]:
                    await agenda.add_item(
                        session,
                        principal,
                        upcoming.id,
                        body=body,
                        private=False,
                        minutes=None,
                        now=as_of - timedelta(hours=2),
                    )
            await agenda.add_item(
                session,
                m,
                upcoming.id,
                body="Ask about workload (private)",
                private=True,
                minutes=None,
                now=as_of - timedelta(hours=1),
            )


async def set_roles(session: AsyncSession, now: datetime) -> None:
    for email, role in ROLES.items():
        await session.execute(update(Person).where(Person.email == email).values(role=role, updated_at=now))


async def _disconnect(session: AsyncSession, emails: list[str], now: datetime) -> None:
    """The demo calendars disconnected: their fake provider is gone."""
    calendar_ids = select(Calendar.id).join(Person, Person.id == Calendar.person_id).where(Person.email.in_(emails))
    await session.execute(
        update(PushChannel)
        .where(PushChannel.calendar_id.in_(calendar_ids), PushChannel.stopped_at.is_(None))
        .values(stopped_at=now)
    )
    await session.execute(
        update(CalendarConnection)
        .where(CalendarConnection.id.in_(select(Calendar.connection_id).where(Calendar.id.in_(calendar_ids))))
        .values(status="revoked", updated_at=now)
    )
    await session.execute(
        update(Calendar)
        .where(Calendar.id.in_(calendar_ids))
        .values(status="disabled", status_reason="disconnected", updated_at=now)
    )
