"""Cursor pagination: opaque cursors over a stable (sort key, id) ordering."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Generic, TypeVar

from annotated_types import Interval
from fastapi import Query
from pydantic import BaseModel, BeforeValidator

from service.api.schemas.common import MAX_ID, integer_text
from service.errors import BadRequest

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list[Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, RecursionError):  # bad base64, UTF-8 or JSON; absurdly nested JSON
        raise BadRequest("invalid cursor") from None
    if not isinstance(values, list):
        raise BadRequest("invalid cursor")
    return values


def decode_int_cursor(cursor: str | None) -> int | None:
    """The number an `[n]` cursor continues after: an id, or an agenda position (None
    for the first page). 400 unless n is a JSON integer (not a bool, string or float)
    that fits a BIGINT, so a forged cursor never reaches the database as a 500."""
    values = decode_cursor(cursor)
    if values is None:
        return None
    if len(values) != 1 or type(values[0]) is not int or not 0 <= values[0] <= MAX_ID:
        raise BadRequest("invalid cursor")
    return values[0]


Limit = Annotated[int, Interval(ge=1, le=200), BeforeValidator(integer_text), Query(description="Page size.")]
Cursor = Annotated[str | None, Query(description="`next_cursor` from the previous page.")]
