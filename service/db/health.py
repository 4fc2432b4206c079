"""Is the database ready to serve? Reachable, and its schema migrated far enough for
this code (service.db.migrate.schema_status). One check for every probe: the API's
`/readyz` and `oneonone worker`'s."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.migrate import schema_status


async def not_ready(engine: AsyncEngine) -> str | None:
    """None when the database answers and is at (or past) this code's head; else why
    not, in a few words with no connection details (a probe's answer may be shown to
    anyone)."""
    try:
        async with engine.connect() as conn:
            status = await conn.run_sync(schema_status)
    except Exception as exc:  # any driver error means "not ready"
        return f"database unreachable: {exc.__class__.__name__}"
    return None if status.ready else status.describe()
