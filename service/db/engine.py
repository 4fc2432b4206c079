"""Engines and sessions. Sessions are owned at the edge (a request, a job, a CLI
command): domain code flushes, the owner commits. What differs between
PostgreSQL and SQLite is in service.db.dialect."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.db import dialect
from service.db.dialect import create_engine, is_sqlite

__all__ = ["create_engine", "is_sqlite", "read_session_factory", "session_factory", "session_scope"]


def session_factory(engine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def read_session_factory(engine) -> async_sessionmaker[AsyncSession]:
    """Sessions for read-only requests (see dialect.read_only)."""
    return session_factory(dialect.read_only(engine))


class session_scope:
    """`async with session_scope(url) as session`: an engine of its own and one
    session on it, for a one-off command; both closed on the way out."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    async def __aenter__(self) -> AsyncSession:
        self.engine = create_engine(self.database_url)
        self.session = session_factory(self.engine)()
        return self.session

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()
        await self.engine.dispose()
