"""Apply Alembic migrations programmatically (CLI `oneonone migrate`, `serve`, tests),
and tell whether a database is at this code's head revision (`/readyz`).

The migrations live at the top of the source tree (`migrations/`) and ship inside the
package as `service.migrations` (setup.py), so they are found from any working
directory, installed or not; no alembic.ini is read: the Config is built here.

Every upgrade runs under a database-wide lock (dialect.migration_lock: a PostgreSQL
advisory lock; SQLite's single writer already serializes), so N replicas running
`oneonone migrate` at once all succeed: the first migrates, the others wait, then find
the schema at head and do nothing."""

from __future__ import annotations

import asyncio
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from service.db.dialect import migration_lock

ROOT = Path(__file__).resolve().parents[2]
VERSION_TABLE = "alembic_version"  # alembic's default; env.py does not change it
# Any fixed 64-bit number, the same in every process of every version.
MIGRATION_LOCK_KEY = 0x6F6E656F6E6F6E65  # "oneonone"


def migrations_dir() -> Path:
    """The folder holding env.py and versions/: the installed `service.migrations`
    (a wheel, or an editable install's mapping), else a source tree's `migrations/`."""
    spec = importlib.util.find_spec("service.migrations")
    candidates = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    for folder in [*candidates, ROOT / "migrations"]:
        if (folder / "env.py").is_file():
            return folder
    raise FileNotFoundError("the migrations are missing: neither service.migrations nor migrations/ holds env.py")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` (from outside any event loop)."""
    asyncio.run(upgrade_async(url, revision))


async def upgrade_async(url: str, revision: str = "head") -> None:
    """`upgrade` for callers already inside an event loop (replay, tests, serve)."""
    from service.db.engine import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_upgrade_locked, url, revision)
    finally:
        await engine.dispose()


def _upgrade_locked(sync_conn: Connection, url: str, revision: str) -> None:
    with migration_lock(sync_conn, MIGRATION_LOCK_KEY):
        # Alembic reads the current revision only now, under the lock: a process that
        # waited sees what the one before it committed.
        cfg = alembic_config(url)
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, revision)
        sync_conn.commit()


# -- readiness -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SchemaStatus:
    current: tuple[str, ...]  # the database's revision(s); () when never migrated
    head: tuple[str, ...]  # this code's head revision(s)
    ready: bool

    def describe(self) -> str:
        current = ", ".join(self.current) or "none (never migrated)"
        head = ", ".join(self.head)
        return f"database schema at revision {current}; this version needs {head}: run `oneonone migrate`"


@lru_cache(maxsize=1)
def _script_revisions() -> tuple[tuple[str, ...], frozenset[str]]:
    """(head revisions, every known revision) of this code: parsed once per process,
    as the revision files do not change under a running process."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("path_separator", "os")
    script = ScriptDirectory.from_config(cfg)
    return tuple(script.get_heads()), frozenset(rev.revision for rev in script.walk_revisions())


def schema_status(connection: Connection) -> SchemaStatus:
    """Where the database's schema stands against this code's head (one or two small
    queries). Ready when at the head, or past it: a revision this code does not know
    was written by a newer release, whose migrations (expand, then contract) keep the
    release before it working while a rolling deploy replaces it. Not ready when never
    migrated, or at a known revision older than the head."""
    head, known = _script_revisions()
    current = _current_revisions(connection)
    ready = bool(current) and (set(head) <= set(current) or not set(current) <= known)
    return SchemaStatus(current=current, head=head, ready=ready)


def _current_revisions(connection: Connection) -> tuple[str, ...]:
    # What MigrationContext.get_current_heads() reads, without its two INFO log lines
    # per call (a readiness probe runs every few seconds).
    if not inspect(connection).has_table(VERSION_TABLE):
        return ()
    return tuple(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def at_head(connection: Connection) -> bool:
    """True when the database is migrated far enough for this code (schema_status)."""
    return schema_status(connection).ready
