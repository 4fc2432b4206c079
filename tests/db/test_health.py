"""service.db.health, the one readiness check of the database (the API's `/readyz`,
`oneonone worker`'s): reachable, and the schema at the head revision (the revision
states: tests/api/test_readiness.py, tests/db/test_migrate.py)."""

from __future__ import annotations

from service.db.engine import create_engine
from service.db.health import not_ready


async def test_not_ready_names_no_connection_details(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'secret-name.db'}")
    try:
        reason = await not_ready(engine)
    finally:
        await engine.dispose()
    assert reason is not None and reason.startswith("database unreachable") and "secret-name" not in reason
