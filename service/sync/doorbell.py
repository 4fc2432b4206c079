"""Waking sync workers the moment a webhook requests a sync.

Workers idle between empty rounds; a notification committed meanwhile rings the
doorbell so that they look at once. The idle timeout stays as the safety net: a
lost ring costs latency, never work.

- In-process (SQLite `serve`, whose worker runs inside the server): a session
  that requested a sync rings the process's doorbell after its commit.
- Across processes (PostgreSQL): the same transaction sends `NOTIFY
  oneonone_sync`, which PostgreSQL delivers on commit only; each worker LISTENs
  on a connection of its own (`listen`) and rings its doorbell."""

from __future__ import annotations

import asyncio
from contextlib import suppress

import asyncpg
import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from service.db import dialect

log = structlog.get_logger(__name__)

CHANNEL = "oneonone_sync"
_RING = "oneonone.ring_doorbell"


class Doorbell:
    """An event a worker waits on between rounds; `ring` is safe from any thread."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def ring(self) -> None:
        loop, rung = self._loop, self._event
        if loop is None or rung is None:
            return  # nobody waits in this process
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            rung.set()
            return
        with suppress(RuntimeError):  # that loop is closed: nobody waits any more
            loop.call_soon_threadsafe(rung.set)

    async def wait(self, stop: asyncio.Event, timeout: float) -> None:
        """Until a ring (or one since the last wait), `stop`, or `timeout` seconds."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._event is None:
            self._loop, self._event = loop, asyncio.Event()
        rung, stopped = asyncio.ensure_future(self._event.wait()), asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({rung, stopped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            rung.cancel()
            stopped.cancel()
        # Cleared before the round that follows: a ring from now on is for a later commit.
        self._event.clear()


BELL = Doorbell()  # the process's


async def announce(session: AsyncSession) -> None:
    """Called in a transaction that requests syncs: workers hear of it when
    (and only if) it commits."""
    session.sync_session.info[_RING] = True
    await dialect.notify(session, CHANNEL)


@event.listens_for(Session, "after_commit")
def _ring_after_commit(session: Session) -> None:
    if session.info.pop(_RING, False):
        BELL.ring()


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    session.info.pop(_RING, None)


async def listen(dsn: str, stop: asyncio.Event, bell: Doorbell = BELL, retry_seconds: float = 5.0) -> None:
    """LISTEN for workers' doorbell notifications until `stop` on a connection of its
    own (`dsn`: dialect.listen_dsn); a lost connection is opened again (and rings
    once: something may have been missed meanwhile)."""
    while not stop.is_set():
        lost = asyncio.Event()
        try:
            conn = await asyncpg.connect(dsn)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("doorbell_connect_failed", error=type(exc).__name__)
        else:
            try:
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, lambda *_args: bell.ring())
                bell.ring()
                waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lost.wait())]
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waits:
                        w.cancel()
            finally:
                if not conn.is_closed():
                    await conn.close()
            if stop.is_set():
                return
            log.warning("doorbell_connection_lost")
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), retry_seconds)
