"""aiosqlite with one thread hop per statement.

aiosqlite runs every call on the connection's own thread, and SQLAlchemy's
adapter makes four calls per statement (open a cursor, execute, fetch the rows,
close). Each is a hop to that thread and back through the event loop (~75 µs
here, more under load): most of a small statement's cost, and a sync round or a
webhook runs dozens of statements. This connection's cursors execute, read the
rows and close in one hop. A statement with many rows (a stream) keeps its
cursor open and reads the rest in chunks, a hop each.

Transactions cost no hops of their own either: `begin_immediate()` (the
engine's `begin` event) only notes that the next statement opens one, and
BEGIN IMMEDIATE runs in that statement's hop; a commit or rollback with no
transaction open (nothing ran since the begin; the pool's rollback when a
connection is checked in after a commit) is answered without a hop. Whether one
is open is read from sqlite3 after every hop, never guessed.

SQLAlchemy's aiosqlite dialect stays as it is: this is an `aiosqlite.Connection`
whose `cursor()` returns such a cursor, handed to the engine as its
`async_creator`."""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import aiosqlite
from sqlalchemy.engine import make_url

CHUNK = 500  # rows read in the statement's own hop; a stream reads on in chunks this size


class OneHopCursor:
    """The part of aiosqlite's Cursor that SQLAlchemy's adapter uses."""

    arraysize = 1

    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self._cursor: sqlite3.Cursor | None = None  # open while rows remain unread
        self._rows: deque[Any] = deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> OneHopCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Any = ()) -> OneHopCursor:
        await self._connection._execute(self._run, sql, parameters, False)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> OneHopCursor:
        await self._connection._execute(self._run, sql, parameters, True)
        return self

    async def fetchall(self) -> list[Any]:
        if self._cursor is not None:
            await self._connection._execute(self._read, None)
        rows, self._rows = list(self._rows), deque()
        return rows

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size or self.arraysize
        while len(self._rows) < size and self._cursor is not None:
            await self._connection._execute(self._read, max(size, CHUNK))
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    async def fetchone(self) -> Any:
        rows = await self.fetchmany(1)
        return rows[0] if rows else None

    async def close(self) -> None:
        self._rows.clear()
        if self._cursor is not None:
            await self._connection._execute(self._close)

    def __aiter__(self) -> OneHopCursor:
        return self

    async def __anext__(self) -> Any:
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    # -- on the connection's thread ------------------------------------------------
    def _run(self, sql: str, parameters: Any, many: bool) -> None:
        self._close()
        cursor = self._connection._conn.cursor()
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        self._cursor, self._rows = cursor, deque()
        self.description = cursor.description
        self._read(CHUNK)

    def _read(self, size: int | None) -> None:
        cursor = self._cursor
        assert cursor is not None
        rows = cursor.fetchall() if size is None else cursor.fetchmany(size)
        self._rows.extend(rows)
        # Known once the statement has run (for DML ... RETURNING: once its rows are read).
        self.rowcount, self.lastrowid = cursor.rowcount, cursor.lastrowid
        if size is None or len(rows) < size:
            self._close()

    def _close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None


class OneHopConnection(aiosqlite.Connection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._begin_pending = False  # BEGIN IMMEDIATE runs before the next call's own work
        self._in_transaction = False  # sqlite3's in_transaction, as of the last hop

    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)

    def begin_immediate(self) -> None:
        """Open a write transaction with the next statement (no hop now)."""
        self._begin_pending = True

    async def commit(self) -> None:
        self._begin_pending = False
        if self._in_transaction:
            await self._execute(self._conn.commit)

    async def rollback(self) -> None:
        self._begin_pending = False
        if self._in_transaction:
            await self._execute(self._conn.rollback)

    async def close(self) -> None:
        self._begin_pending = False
        await super().close()

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        begin, self._begin_pending = self._begin_pending, False
        return await super()._execute(self._on_thread, begin, fn, *args, **kwargs)

    def _on_thread(self, begin: bool, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        conn = self._conn
        try:
            if begin:
                conn.execute("BEGIN IMMEDIATE")
            return fn(*args, **kwargs)
        finally:
            self._in_transaction = _in_transaction(conn)


def _in_transaction(conn: sqlite3.Connection) -> bool:
    try:
        return conn.in_transaction
    except sqlite3.ProgrammingError:  # closed
        return False


def async_creator(url: str, **connect_args: Any) -> Callable[[], OneHopConnection]:
    """The engine's `async_creator` for `url`: sqlite3.connect with the arguments
    SQLAlchemy's dialect derives from the URL, plus `connect_args`."""
    parsed = make_url(url)
    args, kwargs = parsed.get_dialect()().create_connect_args(parsed)
    kwargs.update(connect_args)
    # iter_chunk_size: aiosqlite's own default (its `async for` over a cursor; ours reads in CHUNKs).
    return lambda: OneHopConnection(lambda: sqlite3.connect(*args, **kwargs), iter_chunk_size=64)
