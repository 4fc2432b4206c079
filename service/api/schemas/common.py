"""Shared pydantic pieces for API schemas (kept apart from ORM classes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from annotated_types import Interval, MaxLen
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

# Ids are BIGINT: larger numbers cannot name a row (and would overflow the driver).
MAX_ID = 2**63 - 1

# A row id as the API accepts it (path, query or body): out-of-range numbers are a 422,
# never a database overflow. The one definition every router and schema uses.
Id = Annotated[int, Interval(ge=1, le=MAX_ID)]


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp needs a time zone offset (e.g. Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 is past the last representable instant
        raise ValueError("timestamp is out of range once converted to UTC") from None


# Every timestamp the API accepts must carry an offset; it is stored as UTC.
UTCTimestamp = Annotated[datetime, AfterValidator(_aware_utc)]


class Out(BaseModel):
    """Base for response models: built from ORM rows by attribute."""

    model_config = ConfigDict(from_attributes=True)


# PostgreSQL text cannot hold U+0000 (the driver fails on it): it is invalid input on
# both databases, in bodies and in query strings.
_NUL = "text must not contain NUL (U+0000) characters"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


def _no_nul(value: str) -> str:
    if _has_nul(value):
        raise ValueError(_NUL)
    return value


# Free text searched for in a query string (`q`).
SearchText = Annotated[str, MaxLen(200), AfterValidator(_no_nul)]


class In(BaseModel):
    """Base for request bodies: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_text(cls, value: Any) -> Any:
        """Every text field (and list of texts) of every body refuses U+0000."""
        if _has_nul(value):
            raise ValueError(_NUL)
        return value


def _email(value: str) -> str:
    value = value.strip().lower()
    local, _, domain = value.partition("@")
    # Deliberately permissive (no special-use domain checks: orgs use .test/.internal).
    if not local or "." not in domain or any(c.isspace() for c in value) or "@" in domain:
        raise ValueError("not an email address")
    return value


Email = Annotated[str, Field(max_length=320, examples=["maya@acme.test"]), AfterValidator(_email)]
