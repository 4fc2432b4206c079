"""Small async factories: `await factory.person(...)`, each commits its rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from service.clock import FixedClock
from service.db.models import ActionItem, AgendaItem, ApiToken, Meeting, Pair, Person
from service.security.tokens import hash_token, new_token


class Factory:
    def __init__(self, sessions: async_sessionmaker, clock: FixedClock) -> None:
        self.sessions = sessions
        self.clock = clock
        self._n = 0

    async def _add(self, obj: Any) -> Any:
        async with self.sessions() as s:
            s.add(obj)
            await s.commit()
        return obj

    async def person(self, *, manager: Person | None = None, role: str = "member", **kw: Any) -> Person:
        self._n += 1
        now = self.clock.now()
        return await self._add(
            Person(
                email=kw.pop("email", f"person{self._n}@acme.test"),
                name=kw.pop("name", f"Person {self._n}"),
                timezone=kw.pop("timezone", "Europe/Berlin"),
                role=role,
                manager_id=manager.id if manager else None,
                created_at=now,
                updated_at=now,
                **kw,
            )
        )

    async def pair(self, manager: Person, report: Person, **kw: Any) -> Pair:
        now = self.clock.now()
        return await self._add(
            Pair(
                manager_id=manager.id,
                report_id=report.id,
                active=True,
                cadence=kw.pop("cadence", "none"),
                created_at=now,
                updated_at=now,
                **kw,
            )
        )

    async def meeting(self, pair: Pair, *, start: datetime | None = None, minutes: int = 30, **kw: Any) -> Meeting:
        now = self.clock.now()
        start = start or now + timedelta(days=1)
        return await self._add(
            Meeting(
                pair_id=pair.id,
                original_start=kw.pop("original_start", start),
                start=start,
                end=start + timedelta(minutes=minutes),
                status=kw.pop("status", "scheduled"),
                created_at=now,
                updated_at=now,
                **kw,
            )
        )

    async def agenda_item(self, meeting: Meeting, author: Person, **kw: Any) -> AgendaItem:
        now = self.clock.now()
        return await self._add(
            AgendaItem(
                meeting_id=meeting.id,
                author_id=author.id,
                body=kw.pop("body", "a talking point"),
                created_at=now,
                updated_at=now,
                **kw,
            )
        )

    async def action_item(self, pair: Pair, owner: Person, **kw: Any) -> ActionItem:
        now = self.clock.now()
        return await self._add(
            ActionItem(
                pair_id=pair.id,
                owner_id=owner.id,
                body=kw.pop("body", "do the thing"),
                created_at=now,
                updated_at=now,
                **kw,
            )
        )

    async def token(self, person: Person) -> dict[str, str]:
        """Auth headers for `person` (an API token stored hashed, as the CLI does)."""
        token = new_token()
        await self._add(
            ApiToken(
                person_id=person.id,
                name="test",
                token_hash=hash_token(token),
                prefix=token[:10],
                created_at=self.clock.now(),
            )
        )
        return {"Authorization": f"Bearer {token}"}

    async def feedback(self, meeting: Meeting, person: Person, rating: int = 4, **kw: Any):
        from service.db.models import Feedback

        now = self.clock.now()
        return await self._add(
            Feedback(
                meeting_id=meeting.id,
                person_id=person.id,
                rating=rating,
                comment=kw.pop("comment", ""),
                created_at=now,
                updated_at=now,
                **kw,
            )
        )

    async def finding(self, pair: Pair, *, type: str = "cadence_gap", key: str | None = None, **kw: Any):
        from service.db.models import Finding

        self._n += 1
        return await self._add(
            Finding(
                pair_id=pair.id,
                type=type,
                key=key or f"{type}:{pair.id}:{self._n}",
                details=kw.pop("details", {}),
                detected_at=kw.pop("detected_at", self.clock.now()),
                **kw,
            )
        )

    async def shared_note(self, meeting: Meeting, author: Person, body: str = "shared text", **kw: Any):
        from service.db.models import SharedNote

        return await self._add(
            SharedNote(
                meeting_id=meeting.id,
                body=body,
                version=kw.pop("version", 1),
                updated_by=author.id,
                updated_at=self.clock.now(),
                **kw,
            )
        )

    async def private_note(self, meeting: Meeting, author: Person, body: str = "my private text"):
        from service.db.models import PrivateNote

        now = self.clock.now()
        return await self._add(
            PrivateNote(meeting_id=meeting.id, author_id=author.id, body=body, created_at=now, updated_at=now)
        )

    async def org(self):
        """A small org for access tests: `boss` manages `manager`, who manages `report`
        (`pair`); `other_manager` manages `other_report` (`other_pair`); plus an
        unrelated `member`, `hr` and `admin`. `h[name]` are each person's auth headers."""
        from types import SimpleNamespace

        boss = await self.person(name="Boss")
        manager = await self.person(manager=boss, name="Manager")
        report = await self.person(manager=manager, name="Report")
        other_manager = await self.person(manager=boss, name="Other manager")
        other_report = await self.person(manager=other_manager, name="Other report")
        member = await self.person(name="Unrelated")
        hr = await self.person(role="hr", name="HR")
        admin = await self.person(role="admin", name="Admin")
        o = SimpleNamespace(
            boss=boss,
            manager=manager,
            report=report,
            other_manager=other_manager,
            other_report=other_report,
            member=member,
            hr=hr,
            admin=admin,
        )
        o.boss_pair = await self.pair(boss, manager)
        o.pair = await self.pair(manager, report)
        o.other_pair = await self.pair(other_manager, other_report)
        o.h = {
            name: await self.token(getattr(o, name))
            for name in ("boss", "manager", "report", "other_manager", "other_report", "member", "hr", "admin")
        }
        return o

    async def webhook_endpoint(self, url: str = "https://hooks.example.com/oneonone", **kw: Any):
        """An outbound webhook endpoint; its secret is not a real one (nothing is signed with it)."""
        from service.db.models import WebhookEndpoint

        now = self.clock.now()
        return await self._add(
            WebhookEndpoint(
                url=url,
                description=kw.pop("description", ""),
                event_types=kw.pop("event_types", ["finding.opened"]),
                enabled=kw.pop("enabled", True),
                secret_encrypted=kw.pop("secret_encrypted", "not-a-secret"),
                created_at=now,
                updated_at=now,
                **kw,
            )
        )

    async def template(self, name: str | None = None, sections: list[dict] | None = None, **kw: Any):
        from service.db.models import Template

        self._n += 1
        now = self.clock.now()
        return await self._add(
            Template(
                name=name or f"Template {self._n}",
                description=kw.pop("description", ""),
                sections=sections or [{"title": "Check-in", "minutes": 5, "prompts": ["How are you?"]}],
                created_at=now,
                updated_at=now,
                **kw,
            )
        )
