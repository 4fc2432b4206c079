"""Migration 0002 seeds the built-in "30-minute 1:1" template (checked on a freshly
migrated database of each kind: the shared test database loses rows between tests)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import select

from service.db.dialect import throwaway_database
from service.db.engine import create_engine, session_factory
from service.db.migrate import alembic_config, upgrade_async
from service.db.models import Template
from tests.conftest import BACKENDS, PG_URL

EXPECTED = [
    {"title": "Opening", "minutes": 5, "prompts": ["How are you, really?", "Anything on your mind before we start?"]},
    {"title": "Progress", "minutes": 10, "prompts": ["What went well since last time?", "Where are you blocked?"]},
    {
        "title": "Development",
        "minutes": 10,
        "prompts": ["What do you want to learn next?", "What feedback do you have for me?"],
    },
    {
        "title": "Forward planning",
        "minutes": 5,
        "prompts": ["What are the priorities until next time?", "Which action items do we agree on?"],
    },
]


@pytest.fixture(params=BACKENDS)
async def fresh_url(request, tmp_path):
    url, drop = await throwaway_database(None if request.param == "sqlite" else PG_URL)
    try:
        yield url
    finally:
        await drop()


async def templates_in(url: str, *columns) -> list:
    """The templates' rows, with the columns every revision has (and those asked for)."""
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s:
            t = Template
            query = select(t.name, t.created_by, t.sections, t.created_at, t.updated_at, *columns)
            return list((await s.execute(query)).all())
    finally:
        await engine.dispose()


async def test_fresh_database_has_the_30_minute_template(fresh_url):
    await upgrade_async(fresh_url, "0001")
    assert await templates_in(fresh_url) == []
    await upgrade_async(fresh_url)
    [t] = await templates_in(fresh_url)
    assert (t.name, t.created_by, t.sections) == ("30-minute 1:1", None, EXPECTED)
    [(builtin,)] = [tuple(row)[-1:] for row in await templates_in(fresh_url, Template.builtin)]
    assert builtin is True  # 0015: protected from edits and deletion
    assert t.created_at == t.updated_at == datetime(2026, 3, 1, tzinfo=UTC)
    assert sum(s["minutes"] for s in t.sections) == 30


async def test_downgrade_removes_only_the_seeded_template(fresh_url):
    await upgrade_async(fresh_url)
    engine = create_engine(fresh_url)
    try:
        async with session_factory(engine)() as s:
            s.add(
                Template(
                    name="Ours",
                    sections=[],
                    created_at=datetime(2026, 3, 2, tzinfo=UTC),
                    updated_at=datetime(2026, 3, 2, tzinfo=UTC),
                )
            )
            await s.commit()
    finally:
        await engine.dispose()
    # Alembic's env runs its own event loop outside a handed-in connection: use a thread.
    await asyncio.to_thread(command.downgrade, alembic_config(fresh_url), "0001")
    assert [t.name for t in await templates_in(fresh_url)] == ["Ours"]
