"""Frozen monthly rating aggregates; pairs.ended_at

Ratings leave the service only as aggregates of whole, frozen calendar months
(service.domain.ratings), copied once into frozen_ratings. pairs.ended_at
records when a reporting line ended: the former manager keeps read access to
the meetings before it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rating_months",
        sa.Column("month", service.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("frozen_at", service.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_rating_months")),
    )
    op.create_table(
        "frozen_ratings",
        sa.Column("month", service.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("pair_id", sa.BigInteger(), nullable=False),
        sa.Column("rater_id", sa.BigInteger(), nullable=False),
        sa.Column("manager_id", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["month"],
            ["rating_months.month"],
            name=op.f("fk_frozen_ratings_month_rating_months"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("month", "pair_id", "rater_id", name=op.f("pk_frozen_ratings")),
    )
    with op.batch_alter_table("frozen_ratings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_frozen_ratings_manager_id"), ["manager_id"], unique=False)
    with op.batch_alter_table("pairs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ended_at", service.db.types.UTCDateTime(timezone=True), nullable=True))
    # Lines that had already ended: from their last change (the best record there is).
    op.execute("UPDATE pairs SET ended_at = updated_at WHERE NOT active")


def downgrade() -> None:
    with op.batch_alter_table("pairs", schema=None) as batch_op:
        batch_op.drop_column("ended_at")
    with op.batch_alter_table("frozen_ratings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_frozen_ratings_manager_id"))
    op.drop_table("frozen_ratings")
    op.drop_table("rating_months")
