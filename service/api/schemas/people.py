from __future__ import annotations

from datetime import datetime

from pydantic import Field

from service.api.schemas.common import Email, In, Out
from service.db.models import Role


class PersonOut(Out):
    id: int
    email: str
    name: str
    timezone: str
    manager_id: int | None
    role: Role
    updated_at: datetime


class PersonIn(In):
    email: Email
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field("UTC", max_length=64, description="IANA time zone, e.g. Europe/Berlin")
    manager: Email | None = Field(None, description="The manager's email (in this batch or stored)")
    role: Role = Role.member


class PeopleImport(In):
    people: list[PersonIn] = Field(min_length=1, max_length=10_000)


class ImportOut(Out):
    created: int
    updated: int
