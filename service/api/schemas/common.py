"""Shared pydantic pieces for API schemas (kept apart from ORM classes)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp needs a time zone offset (e.g. Z)")
    return value.astimezone(timezone.utc)


# Every timestamp the API accepts must carry an offset; it is stored as UTC.
UTCTimestamp = Annotated[datetime, AfterValidator(_aware_utc)]


class Out(BaseModel):
    """Base for response models: built from ORM rows by attribute."""

    model_config = ConfigDict(from_attributes=True)


class In(BaseModel):
    """Base for request bodies: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _email(value: str) -> str:
    value = value.strip().lower()
    local, _, domain = value.partition("@")
    # Deliberately permissive (no special-use domain checks: orgs use .test/.internal).
    if not local or "." not in domain or any(c.isspace() for c in value) or "@" in domain:
        raise ValueError("not an email address")
    return value


Email = Annotated[str, Field(max_length=320, examples=["maya@acme.test"]), AfterValidator(_email)]
