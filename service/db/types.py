"""Column types that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

from service.db.dialect import BigIntPK, utc_datetime_impl

__all__ = ["BigIntPK", "UTCDateTime"]


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC in and out. PostgreSQL stores timestamptz; SQLite stores
    naive UTC text, which this type re-labels as UTC on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        return utc_datetime_impl(dialect) or super().load_dialect_impl(dialect)

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; store UTC-aware values only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
