"""Hot read queries: SQLAlchemy builds and types them, the driver runs them.

Per statement, SQLAlchemy's execution path (execution context, event dispatch,
result proxy, a greenlet switch) costs about twice what asyncpg itself spends on
a small query, which dominates the busiest GET endpoints. A `HotQuery` is an
ordinary Core SELECT, compiled once per dialect; on a PostgreSQL read session
(AUTOCOMMIT, so there is no transaction to take part in) it runs directly on the
session's pooled asyncpg connection with SQLAlchemy's own bind and result
processors applied, so values come back exactly as `session.execute` returns them.
Anywhere else (SQLite, or inside a write transaction) it is `session.execute`."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.dialect import raw_reader

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    compiled: Any
    binds: tuple[tuple[str, Processor], ...]  # positional order
    results: tuple[Processor, ...]  # per selected column; all None when nothing to convert


def _compile(stmt: Select, dialect: Dialect) -> _Compiled:
    compiled = stmt.compile(dialect=dialect)
    binds = tuple(
        (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in compiled.positiontup
    )
    results = tuple(col.type.dialect_impl(dialect).result_processor(dialect, None) for col in stmt.selected_columns)
    return _Compiled(str(compiled), compiled, binds, results if any(results) else ())


class HotQuery:
    """`await q.all(session, **params)` / `await q.first(session, **params)`: rows with
    attribute access by column key, as `Result.all()` / `Result.first()` give."""

    def __init__(self, stmt: Select) -> None:
        if any(bind.expanding for bind in stmt.compile().binds.values()):
            raise TypeError("HotQuery: expanding (IN) parameters render per call; use session.execute")
        self.stmt = stmt
        self.row = namedtuple("Row", stmt.selected_columns.keys())  # type: ignore[misc]
        self._by_dialect: dict[str, _Compiled] = {}

    async def all(self, session: AsyncSession, **params: Any) -> Sequence[Any]:
        driver = await _driver(session)
        if driver is None:
            return (await session.execute(self.stmt, params)).all()
        compiled, args = self._prepare(session, params)
        return [self._row(compiled, r) for r in await driver.fetch(compiled.sql, *args)]

    async def first(self, session: AsyncSession, **params: Any) -> Any | None:
        driver = await _driver(session)
        if driver is None:
            return (await session.execute(self.stmt, params)).first()
        compiled, args = self._prepare(session, params)
        record = await driver.fetchrow(compiled.sql, *args)
        return None if record is None else self._row(compiled, record)

    def _prepare(self, session: AsyncSession, params: dict[str, Any]) -> tuple[_Compiled, list[Any]]:
        dialect = session.bind.dialect
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = _compile(self.stmt, dialect)
        values = compiled.compiled.construct_params(params)  # adds the statement's literal binds
        return compiled, [proc(values[name]) if proc else values[name] for name, proc in compiled.binds]

    def _row(self, compiled: _Compiled, record: Any) -> Any:
        if not compiled.results:
            return self.row._make(record)
        return self.row._make(proc(v) if proc else v for proc, v in zip(compiled.results, record))


async def _driver(session: AsyncSession) -> Any | None:
    """The session's asyncpg connection when queries may bypass SQLAlchemy, else None.
    Remembered per session transaction: a request's hot queries share one lookup, and
    a commit or close (a new transaction, maybe a new connection) looks again."""
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_INFO_KEY)
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cached[1]
    driver = await raw_reader(await session.connection())
    session.info[_INFO_KEY] = (session.sync_session.get_transaction(), driver)
    return driver


_INFO_KEY = "service.db.hot.driver"
