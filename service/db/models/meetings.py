from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db.models.base import Base, IdMixin, TimestampMixin
from service.db.types import UTCDateTime


class MeetingStatus(str, enum.Enum):
    scheduled = "scheduled"
    held = "held"
    cancelled = "cancelled"
    declined = "declined"


class Meeting(IdMixin, TimestampMixin, Base):
    """One 1:1 occurrence of a pair. Sync-created meetings carry their calendar
    source (iCalendar UID + original start) and are updated in place."""

    __tablename__ = "meetings"
    __table_args__ = (
        UniqueConstraint("pair_id", "source_uid", "original_start"),
        Index("ix_meetings_pair_id_start", "pair_id", "start"),
    )

    pair_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("pairs.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300), default="1:1")
    original_start: Mapped[datetime] = mapped_column(UTCDateTime)
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=MeetingStatus.scheduled.value)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Calendar source; both null for meetings created through the API.
    source_uid: Mapped[str | None] = mapped_column(String(1024))
    source_series_id: Mapped[str | None] = mapped_column(String(1024))
    template_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("templates.id", ondelete="SET NULL"))
    created_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("people.id", ondelete="SET NULL"))
    # The start a `meeting.upcoming` event was sent for (service.domain.outbox): once per
    # meeting, again only if it is moved.
    upcoming_notified_start: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Template(IdMixin, TimestampMixin, Base):
    __tablename__ = "templates"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # [{"title": str, "minutes": int, "prompts": [str]}]
    sections: Mapped[list] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("people.id", ondelete="SET NULL"))
    # Shipped with the service (seeded by a migration): nobody edits or deletes it; copy it instead.
    builtin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AgendaItem(IdMixin, TimestampMixin, Base):
    """A talking point. `private` ones are visible to their author only."""

    __tablename__ = "agenda_items"
    __table_args__ = (Index("ix_agenda_items_meeting_id_position", "meeting_id", "position"),)

    meeting_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("meetings.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("people.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    minutes: Mapped[int | None] = mapped_column(SmallInteger)
    carried_from_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("agenda_items.id", ondelete="SET NULL"))


class SharedNote(Base):
    """One shared note per meeting; `version` backs the ETag (optimistic concurrency)."""

    __tablename__ = "shared_notes"

    meeting_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True)
    body: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("people.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PrivateNote(TimestampMixin, Base):
    __tablename__ = "private_notes"

    meeting_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True)
    author_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    body: Mapped[str] = mapped_column(Text, default="")


class ActionItem(IdMixin, TimestampMixin, Base):
    """Raised in a meeting, shown on every later meeting of the pair until done."""

    __tablename__ = "action_items"
    __table_args__ = (Index("ix_action_items_pair_id_done_at", "pair_id", "done_at"),)

    pair_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("pairs.id", ondelete="CASCADE"))
    meeting_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("meetings.id", ondelete="SET NULL"))
    owner_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("people.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("people.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    due_date: Mapped[date | None] = mapped_column(Date)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Feedback(IdMixin, TimestampMixin, Base):
    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("meeting_id", "person_id"),)

    meeting_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("meetings.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("people.id", ondelete="CASCADE"))
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(Text, default="")
