from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from service.db.models.base import Base
from service.db.types import UTCDateTime


class RatingMonth(Base):
    """A calendar month (UTC) whose ratings are frozen (service.domain.ratings):
    its aggregates are read from `frozen_ratings` and never change again."""

    __tablename__ = "rating_months"

    month: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)  # its first instant
    frozen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FrozenRating(Base):
    """One rater's ratings on one pair's held meetings of a frozen month: a sum and a
    count, copied once. No foreign keys to pairs or people on purpose: a later
    deletion or reorganisation must not move a published aggregate."""

    __tablename__ = "frozen_ratings"

    month: Mapped[datetime] = mapped_column(
        UTCDateTime, ForeignKey("rating_months.month", ondelete="CASCADE"), primary_key=True
    )
    pair_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rater_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    manager_id: Mapped[int] = mapped_column(BigInteger, index=True)  # the pair's, for team aggregates
    total: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
