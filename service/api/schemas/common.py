"""Shared pydantic pieces for API schemas (kept apart from ORM classes)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from annotated_types import Interval, MaxLen
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    field_validator,
)

# Ids are BIGINT: larger numbers cannot name a row (and would overflow the driver).
MAX_ID = 2**63 - 1

_INTEGER_TEXT = re.compile(r"-?[0-9]+")


def integer_text(value: Any) -> Any:
    """In a path or query string, an integer is written in decimal digits: not "1.0",
    "1_0", "+1" or " 1", which int() would read (bodies are strict: numbers only)."""
    if isinstance(value, str) and not _INTEGER_TEXT.fullmatch(value):
        raise ValueError("expected an integer in decimal digits")
    return value


# A row id as the API accepts it (path, query or body): out-of-range numbers are a 422,
# never a database overflow. The one definition every router and schema uses.
Id = Annotated[int, Interval(ge=1, le=MAX_ID), BeforeValidator(integer_text)]
# An outbox event's id (`evt_` and a ULID: service.domain.outbox.new_event_id), the `webhook-id` header.
EventId = Annotated[str, StringConstraints(pattern=r"^evt_[0-9A-Z]{26}$")]


# Timestamps and dates the API accepts fall in these years (as written): a year 1 or 9999
# is a typo or an attack, PostgreSQL stores the extremes as ±infinity, and arithmetic on
# them (a meeting's end, an insights range) overflows.
MIN_YEAR, MAX_YEAR = 1900, 2200
_YEARS = f"must be in the years {MIN_YEAR} to {MAX_YEAR}"
# JSON has no date type: dates and timestamps come as text, never as numbers (pydantic
# would read 0 as 1970-01-01) and never as bare Unix times in a string.
_TIMESTAMP_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")


def _timestamp_text(value: Any) -> Any:
    if isinstance(value, datetime):  # Python callers
        return value
    if not isinstance(value, str) or not _TIMESTAMP_TEXT.match(value):
        raise ValueError("expected an RFC 3339 timestamp with an offset, e.g. 2026-03-02T09:00:00Z")
    return value


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp needs a time zone offset (e.g. Z)")
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"timestamp {_YEARS}")
    return value.astimezone(UTC)  # within a day of the years above: never overflows


# Every timestamp the API accepts is RFC 3339 text with an offset, in the years above; it
# is stored as UTC. Naive timestamps are refused (not read as UTC): a client that forgot
# the offset gets told instead of being off by hours. Strict(False): the text is parsed
# even in the strict request models (`In`).
UTCTimestamp = Annotated[datetime, Strict(False), BeforeValidator(_timestamp_text), AfterValidator(_aware_utc)]


def _date_text(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):  # Python callers
        return value
    if not isinstance(value, str) or not _DATE_TEXT.fullmatch(value):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


def _date_in_range(value: date) -> date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"date {_YEARS}")
    return value


# A calendar date (YYYY-MM-DD text) in the years above.
Day = Annotated[date, Strict(False), BeforeValidator(_date_text), AfterValidator(_date_in_range)]


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
    """Base for request bodies: unknown fields are errors, not silently dropped, and
    values are not coerced (strict): `true` is no integer, `1` no string, `0` no date.
    JSON has no date or enum type: `UTCTimestamp`, `Day` and enum fields (annotated
    `Strict(False)`) still parse their text."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)

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
