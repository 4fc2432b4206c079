from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, Strict

from service.api.schemas.common import Email, In, Out
from service.db.models import Role
from service.domain.people import MAX_ZONE_NAME, is_zone, zone_error


def _zone(name: str) -> str:
    if not is_zone(name):
        raise ValueError(zone_error(name))
    return name


# A zone ZoneInfo can load: not a folder of the zone database ("America"), a path or a typo.
Timezone = Annotated[
    str,
    Field(max_length=MAX_ZONE_NAME, description="IANA time zone, e.g. Europe/Berlin", examples=["Europe/Berlin"]),
    AfterValidator(_zone),
]


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
    timezone: Timezone = "UTC"
    manager: Email | None = Field(None, description="The manager's email (in this batch or stored)")
    role: Annotated[Role, Strict(False)] = Role.member  # from its text: JSON has no enums


class PeopleImport(In):
    people: list[PersonIn] = Field(min_length=1, max_length=10_000)


class ImportOut(Out):
    created: int
    updated: int


class PersonSummary(Out):
    """A person as embedded in lists (instead of a bare id)."""

    id: int
    name: str
    email: str
    timezone: str
