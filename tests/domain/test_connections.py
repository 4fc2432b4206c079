"""connect_org with the provider's directory (`resolve`): calendars stored under the
account's current address and immutable id, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from service.db.models import Calendar
from service.domain.connections import connect_org
from service.security.crypto import Vault, generate_key
from tests.conftest import T0


async def test_calendars_take_the_directorys_address_and_id(factory, sessions) -> None:
    ana = await factory.person(email="ana@acme.test")
    ben = await factory.person(email="ben@acme.test")
    also_ben = await factory.person(email="b.jones@acme.test")  # imported twice: an alias of Ben's
    nora = await factory.person(email="nora@acme.test")
    directory = {
        "ana@acme.test": ("ana@acme.test", "101"),
        "ben@acme.test": ("benjamin@acme.test", "102"),
        "b.jones@acme.test": ("benjamin@acme.test", "102"),
    }
    asked: list[list[str]] = []

    async def resolve(emails: list[str]) -> dict[str, tuple[str, str]]:
        asked.append(emails)
        return {e: directory[e] for e in emails if e in directory}

    vault = Vault(generate_key())
    async with sessions() as s:
        result = await connect_org(s, vault, provider="google", secret="{}", now=T0, resolve=resolve)
        await s.commit()
        rows = (await s.execute(select(Calendar.person_id, Calendar.external_id, Calendar.provider_user_id))).all()
    assert asked == [["ana@acme.test", "ben@acme.test", "b.jones@acme.test", "nora@acme.test"]]
    assert sorted(rows) == sorted(
        [(ana.id, "ana@acme.test", "101"), (ben.id, "benjamin@acme.test", "102"), (nora.id, "nora@acme.test", None)]
    )
    assert (result.created, result.already, result.updated) == (3, 0, 0)
    assert result.duplicates == ["b.jones@acme.test"] and result.unresolved == ["nora@acme.test"]
    assert also_ben.id not in {r.person_id for r in rows}

    # Ana is renamed: a second run moves her calendar, without taking anyone's address.
    directory["ana@acme.test"] = ("ana.lopez@acme.test", "101")
    directory["nora@acme.test"] = ("benjamin@acme.test", "102")  # a directory mix-up: Ben's address
    async with sessions() as s:
        again = await connect_org(s, vault, provider="google", secret="{}", now=T0, resolve=resolve)
        await s.commit()
        rows = (await s.execute(select(Calendar.person_id, Calendar.external_id, Calendar.provider_user_id))).all()
    assert (again.created, again.updated) == (0, 1)
    assert sorted(rows) == sorted(
        [
            (ana.id, "ana.lopez@acme.test", "101"),
            (ben.id, "benjamin@acme.test", "102"),
            (nora.id, "nora@acme.test", None),
        ]
    )
