"""HotQuery returns what `session.execute` returns, whichever way it runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import bindparam, event, select, true

from service.db.engine import read_session_factory, session_factory
from service.db.hot import HotQuery
from service.db.models import AgendaItem, Meeting
from tests.conftest import T0

_meetings = Meeting.__table__
_agenda = AgendaItem.__table__

# Typed columns on purpose: timestamps (UTCDateTime), enums, booleans, nullable ints,
# a label, a literal bind (`true()` renders as a bound value on some dialects), a
# bind used twice and a datetime bind that the type must process.
_AGENDA = HotQuery(
    select(_agenda, _meetings.c.status, _meetings.c.start.label("meeting_start"))
    .join(_meetings, _meetings.c.id == _agenda.c.meeting_id)
    .where(
        _agenda.c.meeting_id == bindparam("meeting_id"),
        _meetings.c.start >= bindparam("since"),
        (_agenda.c.author_id == bindparam("author_id")) | (_agenda.c.author_id != bindparam("author_id")),
        _meetings.c.title.isnot(None) == true(),
    )
    .order_by(_agenda.c.position, _agenda.c.id)
)


async def _seed(factory):
    manager = await factory.person()
    report = await factory.person(manager=manager)
    pair = await factory.pair(manager, report)
    meeting = await factory.meeting(pair, start=T0 + timedelta(days=1))
    await factory.agenda_item(meeting, report, body="first", position=0)
    await factory.agenda_item(meeting, manager, body="second", position=1, private=True, done=True, minutes=10)
    return meeting, report


class _StatementCounter:
    def __init__(self, engine) -> None:
        self.count = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)
        self._engine = engine

    def _seen(self, *_args) -> None:
        self.count += 1

    def close(self) -> None:
        event.remove(self._engine.sync_engine, "before_cursor_execute", self._seen)


async def test_rows_equal_session_execute_in_read_and_write_sessions(engine, sessions, factory):
    meeting, report = await _seed(factory)
    params = {"meeting_id": meeting.id, "since": T0, "author_id": report.id}
    async with sessions() as session:
        expected = [tuple(r) for r in (await session.execute(_AGENDA.stmt, params)).all()]
    assert [r[_AGENDA.stmt.selected_columns.keys().index("body")] for r in expected] == ["first", "second"]

    for factory_ in (read_session_factory(engine), session_factory(engine)):
        async with factory_() as session:
            rows = await _AGENDA.all(session, **params)
            first = await _AGENDA.first(session, **params)
        assert [tuple(r) for r in rows] == expected
        assert tuple(first) == expected[0]
        assert rows[1].private is True and rows[1].minutes == 10 and rows[0].minutes is None
        assert rows[0].meeting_start == T0 + timedelta(days=1)
        assert rows[0].meeting_start.utcoffset() == timedelta(0)
        assert rows[0].updated_at.tzinfo is not None


async def test_first_is_none_without_rows(engine, factory):
    meeting, report = await _seed(factory)
    async with read_session_factory(engine)() as session:
        assert (
            await _AGENDA.first(session, meeting_id=meeting.id, since=T0 + timedelta(days=30), author_id=report.id)
            is None
        )
        assert await _AGENDA.all(session, meeting_id=meeting.id + 1, since=T0, author_id=report.id) == []


async def _statements(engine, make_session, run) -> int:
    counter = _StatementCounter(engine)
    try:
        async with make_session() as session:
            await run(session)
    finally:
        counter.close()
    return counter.count


async def test_postgres_reads_bypass_sqlalchemy_execution_but_writes_do_not(engine, factory):
    meeting, report = await _seed(factory)
    params = {"meeting_id": meeting.id, "since": T0, "author_id": report.id}

    async def hot(session):
        await _AGENDA.all(session, **params)

    async def plain(session):
        await session.execute(_AGENDA.stmt, params)

    for make_session, reads_only in ((read_session_factory(engine), True), (session_factory(engine), False)):
        baseline = await _statements(engine, make_session, plain)
        assert baseline >= 1
        bypass = reads_only and engine.dialect.name == "postgresql"
        # The driver path only where no transaction is open: PostgreSQL read sessions.
        assert await _statements(engine, make_session, hot) == (0 if bypass else baseline)


def test_expanding_parameters_are_refused_up_front():
    with pytest.raises(TypeError, match="expanding"):
        HotQuery(select(_agenda).where(_agenda.c.id.in_(bindparam("ids", expanding=True))))


async def test_a_session_reused_after_close_or_commit_looks_up_its_connection_again(engine, factory):
    meeting, report = await _seed(factory)
    params = {"meeting_id": meeting.id, "since": T0, "author_id": report.id}
    for make_session in (read_session_factory(engine), session_factory(engine)):
        async with make_session() as session:
            before = [tuple(r) for r in await _AGENDA.all(session, **params)]
            await session.commit()
            after_commit = [tuple(r) for r in await _AGENDA.all(session, **params)]
            await session.close()
            after_close = [tuple(r) for r in await _AGENDA.all(session, **params)]
        assert before == after_commit == after_close and len(before) == 2
