"""Request bodies for shared and private notes (responses: `SharedNoteOut`, `PrivateNoteOut`)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from service.api.schemas.common import In

NOTE_MAX_CHARS = 100_000


class NoteIn(In):
    # A note is stored exactly as written: leading indentation and trailing
    # newlines matter in Markdown, so no whitespace stripping here.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    body: str = Field(max_length=NOTE_MAX_CHARS, description="The whole note (Markdown), replacing the old text")
