"""A session and the current time for one command."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from service.clock import SystemClock
from service.db.engine import session_scope
from service.settings import get_settings


@asynccontextmanager
async def command_session() -> AsyncIterator[tuple[AsyncSession, datetime]]:
    """A session on the configured database and the current time, for one command."""
    async with session_scope(get_settings().database_url) as session:
        yield session, SystemClock().now()
