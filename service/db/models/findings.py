from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db.models.base import Base, IdMixin
from service.db.types import UTCDateTime


class Finding(IdMixin, Base):
    """Something wrong with a pair's 1:1s. `key` is stable across recomputation,
    so re-detecting is idempotent and a finding that stops being true is resolved."""

    __tablename__ = "findings"
    __table_args__ = (Index("ix_findings_pair_id_type", "pair_id", "type"),)

    pair_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("pairs.id", ondelete="CASCADE"))
    meeting_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("meetings.id", ondelete="SET NULL"))
    type: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(300), unique=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("people.id", ondelete="SET NULL"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
