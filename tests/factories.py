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
        return await self._add(Person(
            email=kw.pop("email", f"person{self._n}@acme.test"), name=kw.pop("name", f"Person {self._n}"),
            timezone=kw.pop("timezone", "Europe/Berlin"), role=role,
            manager_id=manager.id if manager else None, created_at=now, updated_at=now, **kw))

    async def pair(self, manager: Person, report: Person, **kw: Any) -> Pair:
        now = self.clock.now()
        return await self._add(Pair(manager_id=manager.id, report_id=report.id, active=True,
                                    cadence=kw.pop("cadence", "none"), created_at=now, updated_at=now, **kw))

    async def meeting(self, pair: Pair, *, start: datetime | None = None, minutes: int = 30, **kw: Any) -> Meeting:
        now = self.clock.now()
        start = start or now + timedelta(days=1)
        return await self._add(Meeting(
            pair_id=pair.id, original_start=kw.pop("original_start", start), start=start,
            end=start + timedelta(minutes=minutes), status=kw.pop("status", "scheduled"),
            created_at=now, updated_at=now, **kw))

    async def agenda_item(self, meeting: Meeting, author: Person, **kw: Any) -> AgendaItem:
        now = self.clock.now()
        return await self._add(AgendaItem(meeting_id=meeting.id, author_id=author.id,
                                          body=kw.pop("body", "a talking point"), created_at=now,
                                          updated_at=now, **kw))

    async def action_item(self, pair: Pair, owner: Person, **kw: Any) -> ActionItem:
        now = self.clock.now()
        return await self._add(ActionItem(pair_id=pair.id, owner_id=owner.id,
                                          body=kw.pop("body", "do the thing"), created_at=now,
                                          updated_at=now, **kw))

    async def token(self, person: Person) -> dict[str, str]:
        """Auth headers for `person` (an API token stored hashed, as the CLI does)."""
        token = new_token()
        await self._add(ApiToken(person_id=person.id, name="test", token_hash=hash_token(token),
                                 prefix=token[:10], created_at=self.clock.now()))
        return {"Authorization": f"Bearer {token}"}
