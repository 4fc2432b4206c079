from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db.models.base import Base, IdMixin, TimestampMixin
from service.db.types import UTCDateTime


class Role(str, enum.Enum):
    member = "member"
    hr = "hr"
    admin = "admin"


class Person(IdMixin, TimestampMixin, Base):
    __tablename__ = "people"

    # Stored lower-cased: uniqueness is case-insensitive on both dialects.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    manager_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("people.id", ondelete="SET NULL"), index=True)
    role: Mapped[str] = mapped_column(String(16), default=Role.member.value)


class ApiToken(IdMixin, Base):
    __tablename__ = "api_tokens"

    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("people.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    # SHA-256 of the token: the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
