"""Shared notes (ETag / If-Match optimistic concurrency) and private notes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from service.api.deps import Caller, Now, Session
from service.api.problems import responses
from service.api.schemas.common import Id
from service.api.schemas.meetings import PrivateNoteOut, SharedNoteOut
from service.api.schemas.notes import NoteIn
from service.domain import notes as notes_domain
from service.domain.notes import ANY, Condition

router = APIRouter(tags=["notes"])

_ETAG = {
    "ETag": {
        "description": 'The shared note\'s version as a strong entity tag, e.g. `"3"` (`"0"`: nothing written yet)',
        "schema": {"type": "string"},
    }
}
IfMatch = Annotated[
    str | None,
    Header(
        description='The ETag from your last read (e.g. `"3"`). Required once the note exists: '
        "428 without it, 412 when someone else changed the note since."
    ),
]
IfNoneMatch = Annotated[str | None, Header(description="`*`: create the note only if none exists yet (412 otherwise).")]


_MAX_VERSION_DIGITS = 19


def etag(version: int) -> str:
    return f'"{version}"'


def parse_etags(header: str | None, *, weak: bool) -> Condition:
    """`*`, or the versions named by a list of entity tags. Weak tags count only
    where RFC 9110 compares weakly (If-None-Match); tags we never issue match nothing."""
    if header is None:
        return None
    if header.strip() == "*":
        return ANY
    versions: set[int] = set()
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            if not weak:
                continue
            tag = tag[2:]
        inner = tag[1:-1]
        # Versions we issue are small: a long digit string names none (and would exceed
        # Python's int-parsing limit).
        if (
            len(tag) >= 2
            and tag[0] == tag[-1] == '"'
            and inner.isascii()
            and inner.isdigit()
            and len(inner) <= _MAX_VERSION_DIGITS
        ):
            versions.add(int(inner))
    return frozenset(versions)


@router.get(
    "/meetings/{meeting_id}/notes/shared",
    summary="Get a meeting's shared note",
    description="Participants only. A meeting without a note answers 200 with an empty body "
    'at version 0 (`ETag: "0"`).',
    response_model=SharedNoteOut,
    responses={200: {"headers": _ETAG}, **responses(401, 404, 422)},
)
async def get_shared_note(meeting_id: Id, session: Session, caller: Caller, response: Response):
    note = await notes_domain.get_shared_note(session, meeting_id, caller)
    response.headers["ETag"] = etag(note.version)
    return note


@router.put(
    "/meetings/{meeting_id}/notes/shared",
    summary="Replace a meeting's shared note",
    description="Participants only. Creating the first note needs no precondition (or send "
    '`If-None-Match: *`, or `If-Match: "0"`). Once a note exists, send `If-Match` '
    "with its current ETag: 428 without it, 412 when someone else changed it since "
    "(reload, merge, retry). Each write bumps the version.",
    response_model=SharedNoteOut,
    responses={200: {"headers": _ETAG}, **responses(401, 404, 412, 422, 428)},
)
async def put_shared_note(
    meeting_id: Id,
    body: NoteIn,
    session: Session,
    caller: Caller,
    now: Now,
    response: Response,
    if_match: IfMatch = None,
    if_none_match: IfNoneMatch = None,
):
    note = await notes_domain.put_shared_note(
        session,
        meeting_id,
        caller,
        body.body,
        now,
        if_match=parse_etags(if_match, weak=False),
        if_none_match=parse_etags(if_none_match, weak=True),
    )
    response.headers["ETag"] = etag(note.version)
    return note


@router.get(
    "/meetings/{meeting_id}/notes/private",
    summary="Get your own private note on a meeting",
    description="Participants only; always the caller's own note, never anyone else's. "
    "Not written yet: an empty body and `updated_at` null.",
    response_model=PrivateNoteOut,
    responses=responses(401, 404, 422),
)
async def get_private_note(meeting_id: Id, session: Session, caller: Caller):
    return await notes_domain.get_private_note(session, meeting_id, caller)


@router.put(
    "/meetings/{meeting_id}/notes/private",
    summary="Replace your own private note on a meeting",
    description="Participants only. Visible to its author only, always (admins included).",
    response_model=PrivateNoteOut,
    responses=responses(401, 404, 422),
)
async def put_private_note(meeting_id: Id, body: NoteIn, session: Session, caller: Caller, now: Now):
    return await notes_domain.put_private_note(session, meeting_id, caller, body.body, now)
