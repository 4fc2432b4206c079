from __future__ import annotations

from datetime import datetime

from pydantic import Field

from service.api.schemas.common import Out


class TokenOut(Out):
    """An API token as its owner sees it later: never the token itself (shown once, at creation)."""

    id: int
    name: str
    prefix: str = Field(description="The token's first characters, to tell tokens apart")
    created_at: datetime
    revoked_at: datetime | None
