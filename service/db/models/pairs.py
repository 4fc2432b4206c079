from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db.models.base import Base, IdMixin, TimestampMixin
from service.db.types import UTCDateTime

# `next_check_at` of a pair the detector has not looked at yet: due at once.
DUE_NOW = datetime(1970, 1, 1, tzinfo=UTC)


class Pair(IdMixin, TimestampMixin, Base):
    """A (manager, report) reporting line. Kept (inactive) when the line changes,
    so history, notes and action items survive reorganisations."""

    __tablename__ = "pairs"
    __table_args__ = (UniqueConstraint("manager_id", "report_id"),)

    manager_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("people.id", ondelete="CASCADE"), index=True)
    report_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("people.id", ondelete="CASCADE"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # When the line last ended (set when the pair becomes inactive, cleared when it is
    # active again): the former manager reads the meetings before it, changes none.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Intended cadence set by people; the rest is derived by the detector.
    cadence_days: Mapped[int | None] = mapped_column(Integer)
    cadence: Mapped[str] = mapped_column(String(16), default="none")
    interval_days: Mapped[float | None] = mapped_column(Float)
    last_held: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_scheduled: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the detector must look again although no calendar changed (a meeting
    # ends, a gap grows too long…; `schedule.recompute_due`). Null: only a calendar
    # change can change what it concludes.
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True, default=DUE_NOW)
