"""Shared notes (one per meeting, optimistic concurrency) and private notes
(one per author per meeting, visible to their author only).

Shared note versions back the HTTP ETag. A meeting without a stored note reads
as an empty note at version 0. Writes are checked atomically in the database:
an update only applies `WHERE version = <the version the caller saw>`, and the
first creation relies on the primary key, so two concurrent editors can never
both win."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import PrivateNote, SharedNote
from service.domain.access import Principal
from service.domain.content import load_meeting_for_participant
from service.errors import PreconditionFailed, PreconditionRequired

ANY: Literal["*"] = "*"
# An If-Match / If-None-Match condition: absent (None), `*`, or the versions listed.
Condition = frozenset[int] | Literal["*"] | None

_CHANGED = "someone else changed the shared note; reload it and apply your edit again"


async def get_shared_note(session: AsyncSession, meeting_id: int, principal: Principal) -> SharedNote:
    """The meeting's shared note; an unsaved empty note at version 0 if none was written."""
    await load_meeting_for_participant(session, meeting_id, principal)
    note = await session.get(SharedNote, meeting_id)
    if note is None:
        return SharedNote(meeting_id=meeting_id, body="", version=0, updated_by=None, updated_at=None)
    return note


def check_preconditions(stored: int | None, if_match: Condition, if_none_match: Condition) -> None:
    """RFC 9110 preconditions over the stored version (None: no note stored yet).

    - No note yet: creation needs no precondition; `If-Match: "0"` (the ETag of the
      empty note) and `If-None-Match: *` also allow it.
    - A note exists: `If-Match` with its current ETag is required (428 without;
      `If-Match: *` does not prove the caller saw the current text, so also 428),
      and a stale ETag fails (412)."""
    current = stored or 0
    if if_none_match == ANY:
        if stored is not None:
            raise PreconditionFailed(
                "a shared note already exists for this meeting; someone else created it — reload it and send If-Match"
            )
    elif if_none_match is not None and current in if_none_match:
        raise PreconditionFailed("the shared note is still at a version listed in If-None-Match")
    if if_match == ANY:
        if stored is None:
            raise PreconditionFailed("no shared note exists yet, so `If-Match: *` cannot match")
        raise PreconditionRequired('send `If-Match` with the note\'s current ETag (e.g. "3"), not `*`')
    if if_match is not None:
        if current not in if_match:
            raise PreconditionFailed(_CHANGED)
    elif stored is not None:
        raise PreconditionRequired(
            "the shared note exists: send `If-Match` with its current ETag (from GET) so concurrent edits are not lost"
        )


async def put_shared_note(
    session: AsyncSession,
    meeting_id: int,
    principal: Principal,
    body: str,
    now: datetime,
    *,
    if_match: Condition = None,
    if_none_match: Condition = None,
) -> SharedNote:
    """Create or replace the shared note; each write bumps the version."""
    await load_meeting_for_participant(session, meeting_id, principal, change=True)
    stored = await session.scalar(select(SharedNote.version).where(SharedNote.meeting_id == meeting_id))
    check_preconditions(stored, if_match, if_none_match)
    if stored is None:
        note = SharedNote(meeting_id=meeting_id, body=body, version=1, updated_by=principal.person_id, updated_at=now)
        try:
            async with session.begin_nested():
                session.add(note)
        except IntegrityError:
            # Another editor created it between our read and our insert.
            raise PreconditionFailed(_CHANGED) from None
        return note
    result = await session.execute(
        update(SharedNote)
        .where(SharedNote.meeting_id == meeting_id, SharedNote.version == stored)
        .values(body=body, version=stored + 1, updated_by=principal.person_id, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        # Another editor wrote after our read: the conditional update matched nothing.
        raise PreconditionFailed(_CHANGED)
    return SharedNote(
        meeting_id=meeting_id, body=body, version=stored + 1, updated_by=principal.person_id, updated_at=now
    )


async def get_private_note(session: AsyncSession, meeting_id: int, principal: Principal) -> PrivateNote:
    """The caller's own private note; an unsaved empty one if they have not written any
    (with no timestamps: it was never written)."""
    await load_meeting_for_participant(session, meeting_id, principal)
    note = await session.get(PrivateNote, (meeting_id, principal.person_id))
    if note is None:
        return PrivateNote(
            meeting_id=meeting_id, author_id=principal.person_id, body="", created_at=None, updated_at=None
        )
    return note


async def put_private_note(
    session: AsyncSession, meeting_id: int, principal: Principal, body: str, now: datetime
) -> PrivateNote:
    """Create or replace the caller's private note (last write wins: one author)."""
    await load_meeting_for_participant(session, meeting_id, principal, change=True)
    if not await _update_private(session, meeting_id, principal.person_id, body, now):
        try:
            async with session.begin_nested():
                session.add(
                    PrivateNote(
                        meeting_id=meeting_id, author_id=principal.person_id, body=body, created_at=now, updated_at=now
                    )
                )
        except IntegrityError:
            # The same author saved from two places at once: apply this write over the other.
            await _update_private(session, meeting_id, principal.person_id, body, now)
    return await session.get(PrivateNote, (meeting_id, principal.person_id), populate_existing=True)


async def _update_private(session: AsyncSession, meeting_id: int, author_id: int, body: str, now: datetime) -> bool:
    result = await session.execute(
        update(PrivateNote)
        .where(PrivateNote.meeting_id == meeting_id, PrivateNote.author_id == author_id)
        .values(body=body, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
