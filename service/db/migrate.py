"""Apply Alembic migrations programmatically (CLI `oneonone migrate`, `serve`, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parents[2]


def _migrations_dir() -> Path:
    # A source checkout (editable install) has them beside `service/`; the Docker
    # image copies them into its working directory.
    for base in (ROOT, Path.cwd()):
        if (base / "migrations" / "env.py").exists():
            return base / "migrations"
    raise FileNotFoundError("migrations/ not found beside the package or in the working directory")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_migrations_dir()))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """`upgrade` for callers already inside an event loop (replay, tests, serve)."""
    from service.db.engine import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:

            def run(sync_conn):
                cfg = alembic_config(url)
                cfg.attributes["connection"] = sync_conn
                command.upgrade(cfg, revision)

            await conn.run_sync(run)
            await conn.commit()
    finally:
        await engine.dispose()
