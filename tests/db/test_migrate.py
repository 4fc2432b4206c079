"""Deploy-time migrations: N `oneonone migrate` at once all succeed (an advisory lock on
PostgreSQL), they run from any working directory (they ship inside the package), and
`schema_status` tells an unmigrated, behind, current or newer database apart."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from service.db.dialect import throwaway_database
from service.db.engine import create_engine
from service.db.migrate import alembic_config, at_head, migrations_dir, schema_status, upgrade_async
from tests.conftest import BACKENDS, PG_URL

ONEONONE = str(Path(sys.executable).with_name("oneonone"))


def _env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("ONEONONE_")}, **extra}


async def _status(url: str):
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(schema_status)
    finally:
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
async def fresh_url(request):
    url, drop = await throwaway_database(None if request.param == "sqlite" else PG_URL)
    try:
        yield url
    finally:
        await drop()


# `oneonone migrate`, held at a barrier once imported, so that the processes reach the
# database within milliseconds of each other, not a second apart (as their imports on a
# busy machine would have them), and the race is certain rather than likely.
AT_THE_BARRIER = """
import os, sys, time
import service.cli, service.db.migrate, service.db.models, alembic.command, asyncpg
print("ready", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.002)
sys.exit(service.cli.main(["migrate"]))
"""


@pytest.mark.postgres
@pytest.mark.skipif("postgres" not in BACKENDS, reason="PostgreSQL not among ONEONONE_TEST_DATABASES")
async def test_concurrent_migrations_on_a_fresh_postgres_database_all_succeed(tmp_path):
    """Four replicas migrating one empty database at once: without the lock, each creates
    alembic_version and the tables, and all but one fail (UniqueViolation)."""
    url, drop = await throwaway_database(PG_URL)
    go = tmp_path / "go"
    try:
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                AT_THE_BARRIER,
                str(go),
                cwd=tmp_path,  # no migrations/ and no alembic.ini here
                env=_env(ONEONONE_DATABASE_URL=url),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(4)
        ]
        for p in procs:
            assert await asyncio.wait_for(p.stdout.readline(), 60) == b"ready\n"
        go.touch()
        results = [(await p.communicate(), p.returncode) for p in procs]
        for (_out, err), rc in results:
            assert rc == 0, err.decode()[-2000:]
        status = await _status(url)
        assert status.ready and status.current == status.head
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT count(*) FROM alembic_version"))).scalar() == 1
                # pg_locks is the whole server's: other tests' databases hold locks of their own.
                locks = (
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
                assert (await conn.execute(text(locks))).scalar() == 0  # every lock released
        finally:
            await engine.dispose()
    finally:
        await drop()


def test_migrate_runs_from_any_directory(tmp_path):
    """A working directory with neither migrations/ nor alembic.ini: the migrations are
    found through the package."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    run = subprocess.run(
        [ONEONONE, "migrate"], cwd=tmp_path, env=_env(ONEONONE_DATABASE_URL=url), capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "database at head" in run.stderr
    assert asyncio.run(_status(url)).ready


def test_the_migrations_are_the_packaged_ones():
    """An editable install maps service.migrations onto the top-level migrations/
    folder (setup.py); a wheel carries them as service/migrations (test_image.py)."""
    assert (migrations_dir() / "env.py").is_file()
    assert sorted(p.name for p in (migrations_dir() / "versions").glob("0001_*.py")) == ["0001_initial_schema.py"]


async def test_schema_status_from_empty_to_head_and_beyond(fresh_url):
    status = await _status(fresh_url)
    assert not status.ready and status.current == ()
    assert "never migrated" in status.describe() and "oneonone migrate" in status.describe()

    await upgrade_async(fresh_url, "0012")
    status = await _status(fresh_url)
    assert not status.ready and status.current == ("0012",)
    assert status.head != ("0012",) and status.head[0] in status.describe()

    await upgrade_async(fresh_url)
    status = await _status(fresh_url)
    assert status.ready and status.current == status.head

    # A newer release migrated past this code's head (a rolling deploy): still ready,
    # since its migrations keep the schema working for the release before it.
    engine = create_engine(fresh_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
        async with engine.connect() as conn:
            assert await conn.run_sync(at_head)
    finally:
        await engine.dispose()


async def test_a_failed_migration_releases_the_lock(fresh_url):
    """A migration that fails leaves no lock behind: the next `migrate` proceeds."""
    await upgrade_async(fresh_url, "0012")
    engine = create_engine(fresh_url)
    try:
        async with engine.begin() as conn:  # make 0013's CREATE TABLE fail
            await conn.execute(text("CREATE TABLE orphan_subscriptions (x INTEGER)"))
    finally:
        await engine.dispose()
    with pytest.raises(Exception, match="orphan_subscriptions"):
        await upgrade_async(fresh_url)
    engine = create_engine(fresh_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE orphan_subscriptions"))
    finally:
        await engine.dispose()
    await asyncio.wait_for(upgrade_async(fresh_url), 30)
    assert (await _status(fresh_url)).ready


def test_downgrade_still_works_through_the_built_config(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    asyncio.run(upgrade_async(url))
    command.downgrade(alembic_config(url), "0012")
    assert asyncio.run(_status(url)).current == ("0012",)
